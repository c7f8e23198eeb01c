// Users see and manage their link, against the running server: the App Home (views.publish seen
// by the Slack stand-in), buttons (/slack/interactions), forwarding the internal application's own
// buttons, and "My Slack links".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { request } from './support/http-client.ts';
import type { RunningServer } from './support/server.ts';
import type { SlackStub } from './support/slack-stand-in.ts';
import { blockActions, eventEnvelope, linkFrom, sendEvent, sendInteraction, signedHeaders, slashCommand } from './support/slack.ts';
import { form } from './support/http-client.ts';
import { linkAs, PUBLIC_ORIGIN } from './support/browser.ts';
import type { TestHttpServer } from './support/internal-app.ts';
import { startWithStandIns, type WithStandIns } from './support/stand-ins.ts';

let running: WithStandIns;
let slack: SlackStub;
let app: TestHttpServer;
let hooks: TestHttpServer;
let server: RunningServer;

before(async () => {
  running = await startWithStandIns({ APP_NAME: 'Acme Tools' });
  ({ slack, app, hooks, server } = running);
});
after(() => running?.stop());

const bind = async (user: string, internalUser: string) => linkAs(server.url, linkFrom(await slashCommand(server.url, { user, text: 'link' })), internalUser);
const homesOf = (user: string) => slack.calls.filter((c) => c.method === 'views.publish' && c.args.user_id === user);
const lastHome = async (user: string, count: number) => {
  const calls = await slack.waitFor('views.publish', count, (c) => c.args.user_id === user);
  return calls.at(-1)!.args.view as { type: string; blocks: any[] };
};
const boundTo = (user: string) => {
  const db = new Database(server.databasePath, { readonly: true });
  try {
    return (db.prepare("SELECT internal_user FROM bindings WHERE slack_org = 'T0001' AND slack_user_id = ?").get(user) as { internal_user: string } | undefined)?.internal_user;
  } finally {
    db.close();
  }
};
const opened = (user: string) => eventEnvelope({ type: 'app_home_opened', user, channel: 'D0001', tab: 'home' });

test('app_home_opened publishes the Home tab: not linked → what linking does and a Link button', async () => {
  const res = await sendEvent(server.url, opened('UHOME1'));
  assert.equal(res.status, 200);
  const view = await lastHome('UHOME1', 1);
  assert.equal(view.type, 'home');
  const all = JSON.stringify(view.blocks);
  assert.match(all, /Acme Tools/);
  assert.match(all, /not linked yet/);
  assert.match(all, /"action_id":"acct\.new_link"/);
});

test('linked → the account, since when, how verified, last used, and Unlink with a confirm dialog; republished after linking', async () => {
  await bind('UHOME2', 'hana');
  await slashCommand(server.url, { user: 'UHOME2', text: 'whoami' });
  const afterLink = await lastHome('UHOME2', 1);
  assert.match(JSON.stringify(afterLink.blocks), /hana/, 'republished after the binding, without being opened');
  await new Promise((r) => setTimeout(r, 200));
  await sendEvent(server.url, opened('UHOME2'));
  const view = await lastHome('UHOME2', 2);
  const all = JSON.stringify(view.blocks);
  assert.match(all, /\*Linked to:\* hana/);
  assert.match(all, /\*Since:\* <!date\^\d+/);
  assert.match(all, /\*Verified by:\* the confirmation page/);
  assert.match(all, /\*Last used:\* <!date\^\d+/, 'the whoami was recorded as a use');
  const unlink = view.blocks.flatMap((b: any) => b.elements ?? []).find((e: any) => e.action_id === 'acct.unlink');
  assert.ok(unlink?.confirm?.title, 'a Block Kit confirm dialog');
  assert.match(all, new RegExp(`${PUBLIC_ORIGIN}/links\\|My Slack links`));
});

test('/slack/interactions: unsigned is 401 and changes nothing', async () => {
  await bind('UINT0', 'ivo');
  const res = await sendInteraction(server.url, blockActions({ user: 'UINT0', actionId: 'acct.unlink', container: 'view' }), { secret: 'wrong' });
  assert.equal(res.status, 401);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(boundTo('UINT0'), 'ivo');
});

test('the Unlink button: unlinked, audited, a DM, and the Home republished unlinked', async () => {
  await bind('UINT1', 'ines');
  const homes = homesOf('UINT1').length;
  const res = await sendInteraction(server.url, blockActions({ user: 'UINT1', actionId: 'acct.unlink', container: 'view' }));
  assert.equal(res.status, 200);
  assert.equal(res.body, '', 'acknowledged at once, nothing to show');
  const [dm] = await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === 'UINT1' && /Unlinked from ines/.test(String(c.args.text)));
  assert.ok(dm);
  assert.equal(boundTo('UINT1'), undefined);
  const view = await lastHome('UINT1', homes + 1);
  assert.match(JSON.stringify(view.blocks), /acct\.new_link/);
  const db = new Database(server.databasePath, { readonly: true });
  const row = db.prepare("SELECT action, actor FROM audit_events WHERE slack_user_id = 'UINT1' ORDER BY seq DESC LIMIT 1").get() as { action: string; actor: string };
  db.close();
  assert.deepEqual(row, { action: 'unlinked', actor: 'slack:UINT1' });
});

test('"Link my account" in the Home republishes it with a fresh link; in a message it replaces the message', async () => {
  await sendInteraction(server.url, blockActions({ user: 'UINT2', actionId: 'acct.new_link', container: 'view' }));
  const view = await lastHome('UINT2', 1);
  const button = view.blocks.flatMap((b: any) => b.elements ?? []).find((e: any) => e.action_id === 'acct.open_link');
  assert.match(button.url, /^https:\/\/slack-link\.corp\.example\/associate\?nonce=[\w-]{43}$/);

  const url = `${hooks.url}actions/new-link`;
  await sendInteraction(server.url, blockActions({ user: 'UINT3', actionId: 'acct.new_link', container: 'message', responseUrl: url }));
  const [posted] = await hooks.waitFor(1, (r) => r.url === '/actions/new-link');
  assert.equal(posted!.body.replace_original, true);
  assert.match(posted!.body.text, /associate\?nonce=/);
  // The URL button's own click is acknowledged and nothing more.
  const before = hooks.received.length;
  assert.equal((await sendInteraction(server.url, blockActions({ user: 'UINT3', actionId: 'acct.open_link', responseUrl: url }))).status, 200);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(hooks.received.length, before);
});

test("the internal application's own buttons are forwarded as the bound user; the answer reaches the response_url", async () => {
  await bind('UFWD', 'fran');
  const url = `${hooks.url}actions/forwarded`;
  await sendInteraction(server.url, blockActions({ user: 'UFWD', actionId: 'report.approve', value: 'r-42', responseUrl: url }));
  const [call] = await app.waitFor(1, (r) => r.body.type === 'action' && r.body.slack?.user_id === 'UFWD');
  assert.deepEqual(call!.body, {
    type: 'action',
    internal_user: 'fran',
    action: { action_id: 'report.approve', block_id: 'b1', value: 'r-42', selected_option: null },
    slack: { team_id: 'T0001', enterprise_id: null, user_id: 'UFWD', channel_id: 'C0001', message_ts: '1700000000.000100' },
  });
  const [posted] = await hooks.waitFor(1, (r) => r.url === '/actions/forwarded');
  assert.equal(posted!.body.text, 'report.approve (r-42) done by fran');
  assert.equal(posted!.body.replace_original, true);
});

test('a response_url that is not allowed is never called; an unbound user clicking gets a link', async () => {
  await bind('UFWD2', 'gil');
  const before = hooks.received.length;
  await sendInteraction(server.url, blockActions({ user: 'UFWD2', actionId: 'report.approve', responseUrl: 'https://evil.example/hook' }));
  await server.waitForLog((l) => l.event === 'response_url_refused' && l.slack_user === 'UFWD2');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(hooks.received.length, before);
  // Refused before the internal application is called: nothing could carry its answer back.
  assert.equal(app.received.filter((r) => r.body.slack?.user_id === 'UFWD2').length, 0, 'the click did not run');
  await server.waitForLog((l) => l.event === 'http' && l.path === '/slack/interactions' && l.outcome === 'forward_refused');

  const url = `${hooks.url}actions/unbound`;
  await sendInteraction(server.url, blockActions({ user: 'UNOBODY', actionId: 'report.approve', responseUrl: url }));
  const [posted] = await hooks.waitFor(1, (r) => r.url === '/actions/unbound');
  assert.match(posted!.body.text, /link your account first/);
  assert.equal(app.received.filter((r) => r.body.slack?.user_id === 'UNOBODY').length, 0, 'nothing ran for someone unbound');
});

test('view submissions, shortcuts and the rest: 200, ignored, counted', async () => {
  for (const type of ['view_submission', 'shortcut', 'message_action']) {
    assert.equal((await sendInteraction(server.url, { type, user: { id: 'U1' } })).status, 200, type);
  }
  assert.equal((await sendInteraction(server.url, 'not an object')).status, 400);
  const metrics = (await request(`${server.url}/metrics`)).body;
  assert.match(metrics, /^slack_interactions_total\{outcome="ignored"\} 3$/m);
});

test('a replayed click is refused: the internal application runs the action once', async () => {
  await bind('UREPLAYB', 'rex');
  const url = `${hooks.url}actions/replayed`;
  const body = form({ payload: JSON.stringify(blockActions({ user: 'UREPLAYB', actionId: 'pay.approve', value: 'inv-42', responseUrl: url })) });
  const headers = signedHeaders(body);
  assert.equal((await request(`${server.url}/slack/interactions`, { method: 'POST', headers, body })).status, 200);
  assert.equal((await request(`${server.url}/slack/interactions`, { method: 'POST', headers, body })).status, 401);
  await hooks.waitFor(1, (r) => r.url === '/actions/replayed');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(app.received.filter((r) => r.body.type === 'action' && r.body.slack?.user_id === 'UREPLAYB').length, 1);
});

test('a 410 answer to a forwarded click ends the binding, as for commands', async () => {
  await bind('UGONEB', 'gwen');
  const url = `${hooks.url}actions/gone`;
  await sendInteraction(server.url, blockActions({ user: 'UGONEB', actionId: 'gone', responseUrl: url }));
  const [posted] = await hooks.waitFor(1, (r) => r.url === '/actions/gone');
  assert.match(posted!.body.text, /no longer exists/);
  assert.equal(boundTo('UGONEB'), undefined);
});
