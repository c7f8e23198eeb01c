// Bindings end when people leave, against the running server: Slack's events, the internal
// application's 410, the offboarding API and the CLI, each with its audit rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from './support/http-client.ts';
import { ROOT, startServer, tempDir, CONFIRM_ONLY, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { eventEnvelope, linkFrom, newEventId, sendEvent, slashCommand } from './support/slack.ts';
import { confirm, formFields, linkAs, openLink } from './support/browser.ts';
import { APP_TOKEN, startInternalApp, type TestHttpServer } from './support/internal-app.ts';

const ADMIN_TOKEN = 'admin-api-token-0123456789abcdef0123456789';
let slack: SlackStub;
let app: TestHttpServer;
let server: RunningServer;
let databasePath: string;
const env = () => ({
  ...CONFIRM_ONLY,
  ADMIN_API_TOKEN: ADMIN_TOKEN,
  INTERNAL_APP_URL: `${app.url}cmd`,
  INTERNAL_APP_TOKEN: APP_TOKEN,
  LINK_RATE_LIMIT_PER_MINUTE: '0',
});

before(async () => {
  [slack, app] = await Promise.all([startSlackStub(), startInternalApp()]);
  databasePath = join(tempDir(), 'lifecycle.db');
  server = await startServer({ slackApiUrl: slack.url, databasePath, env: env() });
});
after(async () => {
  await server.stop();
  await Promise.all([slack.close(), app.close()]);
});

function query<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(databasePath, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
const boundTo = (user: string, org = 'T0001') =>
  query<{ internal_user: string }>('SELECT internal_user FROM bindings WHERE slack_org = ? AND slack_user_id = ?', org, user)[0]?.internal_user;
const auditRows = () => query<{ action: string; reason: string | null; slack_user_id: string | null; internal_user: string | null; actor: string }>('SELECT * FROM audit_events ORDER BY seq');
const bind = async (user: string, internalUser: string, o: { team?: string; enterprise?: string } = {}) =>
  linkAs(server.url, linkFrom(await slashCommand(server.url, { user, text: 'link', ...o })), internalUser);

test('url_verification answers the challenge, once the signature is checked', async () => {
  const ok = await sendEvent(server.url, { type: 'url_verification', token: 'x', challenge: 'c-123' });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { challenge: 'c-123' });
  const unsigned = await sendEvent(server.url, { type: 'url_verification', challenge: 'c-123' }, { secret: 'wrong' });
  assert.equal(unsigned.status, 401);
  assert.doesNotMatch(unsigned.body, /c-123/);
});

test('unsigned, stale or garbage events are 401/400 and change nothing', async () => {
  await bind('UKEEP', 'kept');
  const before = auditRows().length;
  const deactivate = eventEnvelope({ type: 'user_change', user: { id: 'UKEEP', team_id: 'T0001', deleted: true } });
  assert.equal((await sendEvent(server.url, deactivate, { secret: 'wrong' })).status, 401);
  assert.equal((await sendEvent(server.url, deactivate, { timestamp: Math.floor(Date.now() / 1000) - 400 })).status, 401);
  assert.equal((await sendEvent(server.url, null, { raw: '{"type":' })).status, 400);
  assert.equal((await sendEvent(server.url, null, { raw: '[1,2]' })).status, 400);
  assert.equal((await sendEvent(server.url, { type: 'event_callback', event: { type: 'user_change' } })).status, 400, 'no event_id');
  assert.equal((await sendEvent(server.url, deactivate, { headers: { 'content-type': 'text/plain' } })).status, 400);
  const big = 'x'.repeat(1024 * 1024 + 1);
  assert.equal((await sendEvent(server.url, null, { raw: big })).status, 413);
  assert.equal(boundTo('UKEEP'), 'kept');
  assert.equal(auditRows().length, before);
});

test('user_change with deleted: true revokes that Slack identity (binding, open link, pending), audited, no DM', async () => {
  await bind('UGONE', 'gina');
  await bind('USTAY', 'sam');
  linkFrom(await slashCommand(server.url, { user: 'UHALF', text: 'link' }));
  const dmsBefore = slack.calls.filter((c) => c.method === 'chat.postMessage').length;
  const res = await sendEvent(server.url, eventEnvelope({ type: 'user_change', user: { id: 'UGONE', team_id: 'T0001', deleted: true } }));
  assert.equal(res.status, 200);
  assert.equal(boundTo('UGONE'), undefined);
  assert.equal(boundTo('USTAY'), 'sam', 'nobody else');
  await sendEvent(server.url, eventEnvelope({ type: 'user_change', user: { id: 'UHALF', team_id: 'T0001', deleted: true } }));
  assert.equal(query('SELECT 1 FROM link_nonces WHERE slack_user_id = ?', 'UHALF').length, 0, 'the open link is gone too');
  const revoked = auditRows().filter((a) => a.slack_user_id === 'UGONE').at(-1)!;
  assert.deepEqual([revoked.action, revoked.reason, revoked.internal_user, revoked.actor], ['revoked', 'slack_user_deactivated', 'gina', 'slack_event']);
  const [warn] = await server.waitForLog((l) => l.event === 'binding_revoked' && l.slack_user === 'UGONE');
  assert.equal(warn!.level, 'warn');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(slack.calls.filter((c) => c.method === 'chat.postMessage').length, dmsBefore, 'no DM to a deactivated user');
  // Not deleted: nothing happens.
  await bind('UALIVE', 'al');
  await sendEvent(server.url, eventEnvelope({ type: 'user_change', user: { id: 'UALIVE', team_id: 'T0001', deleted: false } }));
  assert.equal(boundTo('UALIVE'), 'al');
});

test('Enterprise Grid: user_change keys by the enterprise, as commands do', async () => {
  await bind('WGRIDX', 'gus', { team: 'T0GA', enterprise: 'E0GRID' });
  await sendEvent(server.url, eventEnvelope({ type: 'user_change', user: { id: 'WGRIDX', team_id: 'T0GB', deleted: true, enterprise_user: { enterprise_id: 'E0GRID' } } }, { team: 'T0GB' }));
  assert.equal(boundTo('WGRIDX', 'E0GRID'), undefined);
});

test('app_uninstalled, tokens_revoked (bot) and team_access_revoked revoke everything of that workspace', async () => {
  await bind('UA1', 'a1', { team: 'T0UNI' });
  await bind('UA2', 'a2', { team: 'T0UNI' });
  await bind('UB1', 'b1', { team: 'T0TOK' });
  await bind('UC1', 'c1', { team: 'T0ACC' });
  await bind('UD1', 'd1', { team: 'T0ORG1', enterprise: 'E0ORG' });
  await bind('UE1', 'e1', { team: 'T0OTHER' });
  await sendEvent(server.url, eventEnvelope({ type: 'app_uninstalled' }, { team: 'T0UNI' }));
  assert.equal(boundTo('UA1', 'T0UNI'), undefined);
  assert.equal(boundTo('UA2', 'T0UNI'), undefined);
  await sendEvent(server.url, eventEnvelope({ type: 'tokens_revoked', tokens: { oauth: ['UB1'] } }, { team: 'T0TOK' }));
  assert.equal(boundTo('UB1', 'T0TOK'), 'b1', 'a user token revoked leaves the bot working');
  await sendEvent(server.url, eventEnvelope({ type: 'tokens_revoked', tokens: { bot: ['UBOT'] } }, { team: 'T0TOK' }));
  assert.equal(boundTo('UB1', 'T0TOK'), undefined);
  await sendEvent(server.url, eventEnvelope({ type: 'team_access_revoked', team_ids: ['T0ACC'] }, { enterprise: 'E0ORG' }));
  assert.equal(boundTo('UC1', 'T0ACC'), undefined);
  await sendEvent(server.url, eventEnvelope({ type: 'app_uninstalled' }, { team: 'T0ORG1', enterprise: 'E0ORG', enterpriseInstall: true }));
  assert.equal(boundTo('UD1', 'E0ORG'), undefined, 'an org-wide install: the enterprise');
  assert.equal(boundTo('UE1', 'T0OTHER'), 'e1');
  const reasons = auditRows().filter((a) => a.action === 'revoked').map((a) => a.reason);
  for (const r of ['app_uninstalled', 'tokens_revoked', 'team_access_revoked']) assert.ok(reasons.includes(r), r);
});

test('unknown event types are acknowledged, ignored and counted', async () => {
  const res = await sendEvent(server.url, eventEnvelope({ type: 'reaction_added', user: 'U1' }));
  assert.equal(res.status, 200);
  const metrics = (await request(`${server.url}/metrics`)).body;
  assert.match(metrics, /^slack_events_total\{outcome="ignored"\} [1-9]/m);
});

test('a retry and a duplicate are processed once, also across a restart', async () => {
  await bind('UDUP', 'dora');
  const eventId = newEventId();
  const event = eventEnvelope({ type: 'user_change', user: { id: 'UDUP', team_id: 'T0001', deleted: true } }, { eventId });
  assert.equal((await sendEvent(server.url, event)).status, 200);
  assert.equal(boundTo('UDUP'), undefined);
  // The user links again; Slack retries the old delivery: it must not undo the new binding.
  await bind('UDUP', 'dora');
  // A retry is signed anew (its own timestamp): the same signature twice is a replay, refused.
  const later = (s: number) => Math.floor(Date.now() / 1000) + s;
  assert.equal((await sendEvent(server.url, event, { timestamp: later(1), headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } })).status, 200);
  assert.equal(boundTo('UDUP'), 'dora');
  await server.stop();
  server = await startServer({ slackApiUrl: slack.url, databasePath, env: env() });
  assert.equal((await sendEvent(server.url, event, { timestamp: later(2), headers: { 'x-slack-retry-num': '2' } })).status, 200);
  assert.equal(boundTo('UDUP'), 'dora', 'still once after a restart');
  await server.waitForLog((l) => l.event === 'http' && l.path === '/slack/events' && l.outcome === 'duplicate');
});

test('a 410 from the internal application ends the binding, tells the user, and is audited', async () => {
  await bind('U410', 'gone-user');
  const res = await slashCommand(server.url, { user: 'U410', text: 'gone' });
  assert.equal(res.status, 200);
  assert.equal(res.json.response_type, 'ephemeral');
  assert.match(res.json.text, /no longer exists, so this Slack user is no longer linked/);
  assert.equal(boundTo('U410'), undefined);
  const row = auditRows().filter((a) => a.slack_user_id === 'U410').at(-1)!;
  assert.deepEqual([row.action, row.reason, row.actor], ['revoked', 'internal_user_inactive', 'internal_app']);
  assert.match((await slashCommand(server.url, { user: 'U410', text: 'whoami' })).json.text, /not linked/);
});

test('a 401 from the internal application is our misconfiguration, not the user\'s permission', async () => {
  await bind('U401', 'ok-user');
  const res = await slashCommand(server.url, { user: 'U401', text: 'badtoken' });
  assert.match(res.json.text, /misconfigured.*tell your administrator.*request/);
  assert.doesNotMatch(res.json.text, /not allowed/);
  await server.waitForLog((l) => l.event === 'internal_app_token_rejected' && l.level === 'error');
  assert.equal(boundTo('U401'), 'ok-user');
});

test('the offboarding API: 404 when off, 403 by address, 401 by token; GET lists, DELETE revokes and DMs', async () => {
  await bind('UOFF1', 'olive', { team: 'T0A' });
  await bind('UOFF2', 'olive', { team: 'T0B' });
  const url = `${server.url}/admin/bindings?internal_user=olive`;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  assert.equal((await request(url)).status, 401);
  assert.equal((await request(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } })).status, 401);
  assert.equal((await request(url, { headers: auth, localAddress: '127.0.0.2' })).status, 403);
  assert.equal((await request(`${server.url}/admin/bindings`, { headers: auth })).status, 400);
  const listed = await request(url, { headers: auth });
  assert.equal(listed.status, 200);
  const body = JSON.parse(listed.body);
  assert.deepEqual(body.bindings.map((b: any) => b.slack_user_id).sort(), ['UOFF1', 'UOFF2']);
  assert.equal(body.bindings[0].verified_by, 'confirm');
  const removed = await request(url, { method: 'DELETE', headers: auth });
  assert.equal(removed.status, 200);
  assert.equal(JSON.parse(removed.body).revoked, 2);
  assert.equal(boundTo('UOFF1', 'T0A'), undefined);
  assert.equal(JSON.parse((await request(url, { method: 'DELETE', headers: auth })).body).revoked, 0);
  const rows = auditRows().filter((a) => a.internal_user === 'olive' && a.action === 'revoked');
  assert.deepEqual(rows.map((r) => [r.reason, r.actor]), [['admin_api', 'admin_api'], ['admin_api', 'admin_api']]);
  // The two DMs of the revocation (each user also had one when they linked: not those).
  const dms = await slack.waitFor('chat.postMessage', 2, (c) => (c.args.channel === 'UOFF1' || c.args.channel === 'UOFF2') && /no longer linked/.test(String(c.args.text)));
  assert.deepEqual(dms.map((c) => c.args.channel).sort(), ['UOFF1', 'UOFF2']);
  assert.match(String(dms.at(-1)!.args.text), /no longer linked to olive/);

  const off = await startServer({ slackApiUrl: slack.url, env: CONFIRM_ONLY });
  try {
    assert.equal((await request(`${off.url}/admin/bindings?internal_user=olive`, { headers: auth })).status, 404, 'no ADMIN_API_TOKEN: no API');
  } finally {
    await off.stop();
  }
});

test('the CLI offboards through the same revoke, audited as admin_cli; `admin audit` shows the trail', async () => {
  await bind('UCLI', 'carl');
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, DATABASE_PATH: databasePath } });
  assert.equal(cli('unlink', '--internal-user', 'carl').status, 0);
  assert.equal(boundTo('UCLI'), undefined);
  const lines = cli('audit', '--internal-user', 'carl', '--format', 'jsonl').stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => [l.action, l.reason]), [['linked', 'confirm'], ['revoked', 'admin_cli']]);
  for (const key of ['time', 'action', 'reason', 'org', 'team_id', 'slack_user', 'internal_user', 'actor', 'request_id']) assert.ok(key in lines[0], key);
  assert.match(lines[1].actor, /^admin_cli:/);
  const table = cli('audit', '--slack-user', 'UCLI');
  assert.match(table.stdout, /^TIME \(UTC\)\s+ACTION\s+REASON/);
  assert.match(table.stdout, /link_created[\s\S]*linked\s+confirm[\s\S]*revoked\s+admin_cli/);
  assert.equal(cli('audit', '--since', 'yesterday').status, 2);
  const future = cli('audit', '--since', '2999-01-01', '--format', 'jsonl');
  assert.equal(future.stdout.trim(), '');
  const all = cli('audit', '--format', 'jsonl').stdout;
  assert.doesNotMatch(all, /nonce|csrf|xoxb-/i, 'no secret in the trail');
});

test('every path that changes a binding or a link writes exactly one audit row', async () => {
  const count = () => auditRows().length;
  const table: Array<[string, () => Promise<unknown>, string]> = [];
  let link = '';
  let fields = { nonce: '', csrf: '' };
  table.push(['a new link', async () => (link = linkFrom(await slashCommand(server.url, { user: 'UROW', text: 'link' }))), 'link_created']);
  table.push(['cancel', async () => confirm(server.url, { ...formFields((await openLink(server.url, link, 'rita')).body), decision: 'cancel' }, 'rita'), 'link_cancelled']);
  table.push(['another link', async () => (link = linkFrom(await slashCommand(server.url, { user: 'UROW', text: 'link' }))), 'link_created']);
  table.push(['open the page (changes nothing)', async () => (fields = formFields((await openLink(server.url, link, 'rita')).body)), '']);
  table.push(['confirm', async () => confirm(server.url, fields, 'rita'), 'linked']);
  table.push(['whoami (changes nothing)', async () => slashCommand(server.url, { user: 'UROW', text: 'whoami' }), '']);
  table.push(['unlink', async () => slashCommand(server.url, { user: 'UROW', text: 'unlink' }), 'unlinked']);
  for (const [what, act, action] of table) {
    const before = count();
    await act();
    const rows = auditRows().slice(before);
    assert.deepEqual(rows.map((r) => r.action), action ? [action] : [], what);
  }
});

test('a failed audit write leaves the binding as it was (the change is one transaction with its row)', async () => {
  await bind('UFAIL', 'fay');
  const db = new Database(databasePath);
  db.exec("CREATE TRIGGER test_no_audit BEFORE INSERT ON audit_events WHEN NEW.slack_user_id = 'UFAIL' BEGIN SELECT RAISE(ABORT, 'audit refused'); END");
  db.close();
  try {
    const res = await slashCommand(server.url, { user: 'UFAIL', text: 'unlink' });
    assert.match(res.json.text, /Sorry, something went wrong/);
    assert.equal(boundTo('UFAIL'), 'fay');
    const admin = await request(`${server.url}/admin/bindings?internal_user=fay`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(admin.status, 500);
    assert.equal(boundTo('UFAIL'), 'fay');
  } finally {
    const cleanup = new Database(databasePath);
    cleanup.exec('DROP TRIGGER test_no_audit');
    cleanup.close();
  }
});

test("a revocation that fails (the database refuses) is answered 500 and done by Slack's retry", async () => {
  await bind('URETRY', 'rhea');
  const db = new Database(databasePath);
  db.exec("CREATE TRIGGER test_no_delete BEFORE DELETE ON bindings WHEN OLD.slack_user_id = 'URETRY' BEGIN SELECT RAISE(ABORT, 'disk full'); END");
  db.close();
  const event = eventEnvelope({ type: 'user_change', user: { id: 'URETRY', team_id: 'T0001', deleted: true } });
  try {
    const failed = await sendEvent(server.url, event);
    assert.equal(failed.status, 500);
    assert.equal(boundTo('URETRY'), 'rhea');
    await server.waitForLog((l) => l.event === 'slack_event_failed' && l.level === 'error');
  } finally {
    const cleanup = new Database(databasePath);
    cleanup.exec('DROP TRIGGER test_no_delete');
    cleanup.close();
  }
  // Slack signs its retry anew (a new timestamp).
  const retried = await sendEvent(server.url, event, { timestamp: Math.floor(Date.now() / 1000) + 1, headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_error' } });
  assert.equal(retried.status, 200);
  assert.equal(boundTo('URETRY'), undefined, 'the retry did the work');
});
