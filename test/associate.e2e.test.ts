// The association flow against the real server, its SQLite file and a Slack stand-in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from './support/http-client.ts';
import { startServer, BOT_TOKEN, tempDir, type RunningServer, CONFIRM_ONLY } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { linkFrom, slashCommand } from './support/slack.ts';
import { confirm, formFields, linkAs, localUrl, openLink, PUBLIC_ORIGIN } from './support/browser.ts';

let slack: SlackStub;
let server: RunningServer;

before(async () => {
  slack = await startSlackStub();
  server = await startServer({ slackApiUrl: slack.url, env: CONFIRM_ONLY });
});
after(async () => {
  await server.stop();
  await slack.close();
});

const newLink = async (user: string, text = 'link') => linkFrom(await slashCommand(server.url, { user, text }));
const nonceOf = (link: string) => new URL(link).searchParams.get('nonce')!;

function query<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(server.databasePath, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
const bindingOf = (user: string) =>
  query<{ internal_user: string; slack_user_name: string; created_at: number }>('SELECT * FROM bindings WHERE slack_user_id = ?', user)[0];

test('the whole flow: link → confirmation page → POST → DM → whoami knows the user', async () => {
  const res = await slashCommand(server.url, { user: 'UFLOW', userName: 'roadrunner', teamDomain: 'acme', text: 'link' });
  const link = linkFrom(res);

  const page = await openLink(server.url, link, 'alice');
  assert.equal(page.status, 200);
  assert.match(page.body, /Link Slack user <strong>roadrunner<\/strong> \(UFLOW\) in workspace\s+<strong>acme<\/strong> to your account <strong>alice<\/strong>\?/);
  assert.match(page.body, /<form method="post" action="\/associate">/);
  assert.equal(bindingOf('UFLOW'), undefined, 'GET binds nothing');

  const done = await confirm(server.url, formFields(page.body), 'alice');
  assert.equal(done.status, 200);
  assert.match(done.body, /Your Slack account is now linked to <strong>alice<\/strong>/);
  const row = bindingOf('UFLOW')!;
  assert.equal(row.internal_user, 'alice');
  assert.equal(row.slack_user_name, 'roadrunner');
  assert.ok(Math.abs(row.created_at - Date.now()) < 60_000);

  const [post] = await slack.waitFor('chat.postMessage');
  assert.equal(post!.token, BOT_TOKEN);
  assert.equal(post!.args.channel, 'UFLOW', "posted to the user's id: the app's DM with them, no conversations.open first");
  assert.equal(slack.calls.filter((c) => c.method === 'conversations.open').length, 0);
  assert.match(String(post!.args.text), /linked to alice/);
  assert.match(JSON.stringify(post!.args.blocks), /\/acct unlink/);

  const who = await slashCommand(server.url, { user: 'UFLOW', text: 'whoami' });
  assert.match(who.json.text, /linked to alice/);
});

test('pages carry the security headers and escape what they show', async () => {
  const res = await slashCommand(server.url, { user: 'UXSS', userName: '<img src=x onerror=alert(1)>', teamDomain: '"><b>dom', text: 'link' });
  const page = await openLink(server.url, linkFrom(res), `<script>alert('me')</script>`);
  assert.equal(page.status, 200);
  assert.doesNotMatch(page.body, /<img|<script>|"><b>/);
  assert.match(page.body, /&#60;img src=x onerror=alert\(1\)&#62;/);
  assert.equal(page.headers['cache-control'], 'no-store');
  assert.equal(page.headers['referrer-policy'], 'no-referrer');
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  const csp = String(page.headers['content-security-policy']);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /default-src 'none'/);
  assert.doesNotMatch(csp, /script-src|unsafe-inline/);
  assert.doesNotMatch(page.body, /<script/i);
  const gone = await openLink(server.url, `${PUBLIC_ORIGIN}/associate?nonce=${'A'.repeat(43)}`, 'alice');
  assert.equal(gone.headers['cache-control'], 'no-store');
});

test('from an address outside TRUSTED_PROXIES: 403, whatever the header says', async () => {
  const link = await newLink('UPROXY');
  const page = await openLink(server.url, link, 'alice', { localAddress: '127.0.0.2' });
  assert.equal(page.status, 403);
  assert.match(page.body, /sign-in proxy/);
  const fields = formFields((await openLink(server.url, link, 'alice')).body);
  const post = await confirm(server.url, fields, 'alice', { localAddress: '127.0.0.2' });
  assert.equal(post.status, 403);
  assert.equal(bindingOf('UPROXY'), undefined);
});

test('a missing or empty identity header is 401; a repeated one is 400', async () => {
  const link = await newLink('UNOHDR');
  assert.equal((await openLink(server.url, link, null)).status, 401);
  assert.equal((await openLink(server.url, link, '   ')).status, 401);
  assert.equal((await openLink(server.url, link, null, { headers: { 'x-forwarded-user': ['alice', 'mallory'] } })).status, 400);
  const fields = formFields((await openLink(server.url, link, 'alice')).body);
  assert.equal((await confirm(server.url, fields, null)).status, 401);
  assert.equal(bindingOf('UNOHDR'), undefined);
});

test('unknown, malformed and used nonces get the 410 page that says to run the command again', async () => {
  for (const url of [`${PUBLIC_ORIGIN}/associate?nonce=${'A'.repeat(43)}`, `${PUBLIC_ORIGIN}/associate?nonce=x`, `${PUBLIC_ORIGIN}/associate`]) {
    const res = await openLink(server.url, url, 'alice');
    assert.equal(res.status, 410, url);
    assert.match(res.body, /Run the slash command in Slack again/);
  }
  const link = await newLink('UUSED');
  await linkAs(server.url, link, 'frank');
  const again = await openLink(server.url, link, 'frank');
  assert.equal(again.status, 410);
});

test('GET does not consume the link: previews and scanners can fetch it', async () => {
  const link = await newLink('UPREVIEW');
  for (let i = 0; i < 3; i++) assert.equal((await openLink(server.url, link, 'gina')).status, 200);
  assert.equal((await request(localUrl(server.url, link), { method: 'HEAD', headers: { 'x-forwarded-user': 'gina' } })).status, 200);
  assert.equal((await linkAs(server.url, link, 'gina')).status, 200);
});

test('CSRF: missing, issued to another user, or for another link → 403 and nothing bound', async () => {
  const link = await newLink('UCSRF');
  const fields = formFields((await openLink(server.url, link, 'alice')).body);

  assert.equal((await confirm(server.url, { nonce: fields.nonce }, 'alice')).status, 403, 'no token');
  assert.equal((await confirm(server.url, { ...fields, csrf: 'x'.repeat(43) }, 'alice')).status, 403, 'forged token');
  const asMallory = await confirm(server.url, fields, 'mallory');
  assert.equal(asMallory.status, 403, "alice's form submitted by mallory");
  assert.match(asMallory.body, /not valid for the account you are signed in as/);

  const otherLink = await newLink('UCSRF2');
  assert.equal((await confirm(server.url, { ...fields, nonce: nonceOf(otherLink) }, 'alice')).status, 403, 'token of another link');
  assert.equal(bindingOf('UCSRF'), undefined);
  assert.equal(bindingOf('UCSRF2'), undefined);
  assert.equal((await confirm(server.url, fields, 'alice')).status, 200, 'the link still works for its user');
});

test('cross-site POSTs are refused: Sec-Fetch-Site cross-site / same-site, or a foreign Origin', async () => {
  const link = await newLink('UCROSS');
  const fields = formFields((await openLink(server.url, link, 'alice')).body);
  const cases: Array<Record<string, string | undefined>> = [
    { 'sec-fetch-site': 'cross-site', origin: undefined },
    { 'sec-fetch-site': 'same-site', origin: undefined },
    { 'sec-fetch-site': undefined, origin: 'https://evil.example' },
    { 'sec-fetch-site': undefined, origin: 'null' },
    { 'sec-fetch-site': 'same-origin', origin: 'http://slack-link.corp.example' },
  ];
  for (const headers of cases) {
    const res = await confirm(server.url, fields, 'alice', { headers });
    assert.equal(res.status, 403, JSON.stringify(headers));
    assert.match(res.body, /from another site/);
  }
  assert.equal(bindingOf('UCROSS'), undefined);
  // What a real browser sends for our own form, since our pages say Referrer-Policy: no-referrer.
  const link2 = await newLink('UCROSS2');
  const fields2 = formFields((await openLink(server.url, link2, 'alice')).body);
  assert.equal((await confirm(server.url, fields2, 'alice', { headers: { 'sec-fetch-site': 'same-origin', origin: 'null' } })).status, 200);
  // A client that sends neither header (curl, an old browser) still needs the CSRF token.
  const plain = await confirm(server.url, fields, 'alice', { headers: { origin: undefined, 'sec-fetch-site': undefined } });
  assert.equal(plain.status, 200);
});

test('links expire after NONCE_TTL_SECONDS, and expired rows are purged at startup', async () => {
  const dir = tempDir();
  const short = await startServer({ slackApiUrl: slack.url, databasePath: join(dir, 'ttl.db'), env: { ...CONFIRM_ONLY, NONCE_TTL_SECONDS: '1' } });
  try {
    const link = linkFrom(await slashCommand(short.url, { user: 'UTTL', text: 'link' }));
    const page = await openLink(short.url, link, 'hank');
    assert.equal(page.status, 200);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await openLink(short.url, link, 'hank')).status, 410);
    assert.equal((await confirm(short.url, formFields(page.body), 'hank')).status, 410);
  } finally {
    await short.stop();
  }
  const restarted = await startServer({ slackApiUrl: slack.url, databasePath: join(dir, 'ttl.db'), env: CONFIRM_ONLY });
  await restarted.stop();
  const db = new Database(join(dir, 'ttl.db'), { readonly: true });
  assert.equal((db.prepare('SELECT count(*) AS n FROM link_nonces').get() as { n: number }).n, 0);
  assert.equal((db.prepare('SELECT count(*) AS n FROM bindings').get() as { n: number }).n, 0);
  db.close();
  assert.ok(restarted.logs().some((l) => l.event === 'links_expired' && l.count === 1));
});

test('one live link per user: a new link invalidates the earlier one', async () => {
  const first = await newLink('UONE');
  const firstPage = await openLink(server.url, first, 'ivan');
  const second = await newLink('UONE');
  assert.notEqual(first, second);
  assert.equal((await openLink(server.url, first, 'ivan')).status, 410);
  assert.equal((await confirm(server.url, formFields(firstPage.body), 'ivan')).status, 410);
  assert.equal(query('SELECT 1 FROM link_nonces WHERE slack_user_id = ?', 'UONE').length, 1);
  assert.equal((await linkAs(server.url, second, 'ivan')).status, 200);
});

test('twenty concurrent POSTs of the same form bind exactly once; the rest get 410', async () => {
  const link = await newLink('URACE');
  const fields = formFields((await openLink(server.url, link, 'judy')).body);
  const dmsBefore = slack.calls.filter((c) => c.method === 'chat.postMessage').length;
  const results = await Promise.all(Array.from({ length: 20 }, () => confirm(server.url, fields, 'judy')));
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, ...Array(19).fill(410)]);
  assert.equal(query('SELECT 1 FROM bindings WHERE slack_user_id = ?', 'URACE').length, 1);
  await slack.waitFor('chat.postMessage', dmsBefore + 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(slack.calls.filter((c) => c.method === 'chat.postMessage').length, dmsBefore + 1, 'one DM');
});

test('Cancel consumes the link and binds nothing', async () => {
  const link = await newLink('UCANCEL');
  const fields = formFields((await openLink(server.url, link, 'kate')).body);
  const res = await confirm(server.url, { ...fields, decision: 'cancel' }, 'kate');
  assert.equal(res.status, 200);
  assert.match(res.body, /Nothing was linked/);
  assert.equal(bindingOf('UCANCEL'), undefined);
  assert.equal((await confirm(server.url, fields, 'kate')).status, 410);
});

test('a second confirmed binding for the same Slack identity is a 409 page', async () => {
  const user = 'UTWICE';
  const link = await newLink(user);
  const fields = formFields((await openLink(server.url, link, 'liam')).body);
  // A binding for the same identity appears meanwhile (another process on the same file).
  const db = new Database(server.databasePath);
  db.prepare(`INSERT INTO bindings (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain, internal_user, created_at)
              VALUES ('T0001', ?, 'T0001', NULL, 'x', 'acme', 'someone-else', ?)`).run(user, Date.now());
  db.close();
  const res = await confirm(server.url, fields, 'liam');
  assert.equal(res.status, 409);
  assert.match(res.body, /already linked to <strong>someone-else<\/strong>/);
  assert.equal(bindingOf(user)!.internal_user, 'someone-else', 'the existing binding is untouched');
});

test('a failed DM is logged, named on the success page, and never undoes the binding', async () => {
  slack.on('chat.postMessage', () => ({ body: { ok: false, error: 'restricted_action' } }));
  try {
    const res = await linkAs(server.url, await newLink('UDMRESTRICTED'), 'rita');
    assert.equal(res.status, 200);
    assert.match(res.body, /did not deliver the app's message confirming this \(your organisation does not let apps message you: <code>restricted_action<\/code>\)/);
    assert.equal(bindingOf('UDMRESTRICTED')!.internal_user, 'rita');
  } finally {
    slack.on('chat.postMessage', (args) => ({ body: { ok: true, channel: args.channel, ts: '1.1' } }));
  }
  const sent = await linkAs(server.url, await newLink('UDMSENT'), 'sam');
  assert.equal(sent.status, 200);
  assert.doesNotMatch(sent.body, /did not deliver/, 'a DM that was sent is not mentioned');
  slack.on('chat.postMessage', () => ({ body: { ok: false, error: 'channel_not_found' } }));
  try {
    const before = slack.calls.length;
    const res = await linkAs(server.url, await newLink('UNODM'), 'mona');
    assert.equal(res.status, 200);
    assert.match(res.body, /<code>channel_not_found<\/code>/);
    await slack.waitFor('chat.postMessage', slack.calls.filter((c) => c.method === 'chat.postMessage').length);
    const [failure] = await server.waitForLog((l) => l.event === 'slack_dm' && l.outcome === 'failed' && l.slack_user === 'UNODM');
    assert.ok(failure, 'DM failure logged');
    assert.match(String(failure.error), /channel_not_found/);
    assert.ok(slack.calls.length > before);
    assert.equal(bindingOf('UNODM')!.internal_user, 'mona');
  } finally {
    slack.on('chat.postMessage', (args) => ({ body: { ok: true, channel: args.channel, ts: '1.1' } }));
  }
});

test('nonces and secrets are in neither the database files nor the logs', async () => {
  const nonces = [await newLink('USECRET1'), await newLink('USECRET2')].map(nonceOf);
  await linkAs(server.url, `${PUBLIC_ORIGIN}/associate?nonce=${nonces[0]}`, 'nina');
  const dir = dirname(server.databasePath);
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)));
  assert.ok(files.length >= 1);
  const logs = server.output();
  for (const nonce of nonces) {
    for (const file of files) assert.equal(file.includes(nonce), false, 'nonce in a database file');
    assert.equal(logs.includes(nonce), false, 'nonce in the logs');
  }
  assert.equal(logs.includes(BOT_TOKEN), false);
  assert.equal(logs.includes('test-signing-secret'), false);
  await server.waitForLog((l) => l.event === 'binding_created' && l.internal_user === 'nina');
});

test('bindings survive a restart on the same file', async () => {
  const dir = tempDir();
  const databasePath = join(dir, 'restart.db');
  const first = await startServer({ slackApiUrl: slack.url, databasePath, env: CONFIRM_ONLY });
  await linkAs(first.url, linkFrom(await slashCommand(first.url, { user: 'URESTART', text: 'link' })), 'olga');
  const stopped = await first.stop('SIGTERM');
  assert.equal(stopped.code, 0);
  const second = await startServer({ slackApiUrl: slack.url, databasePath, env: CONFIRM_ONLY });
  try {
    assert.match((await slashCommand(second.url, { user: 'URESTART', text: 'whoami' })).json.text, /linked to olga/);
  } finally {
    await second.stop();
  }
});

test('every error page shows its request id, as README promises: a gone link, no identity, a cross-site post, My Slack links refused', async () => {
  const pages = [
    await openLink(server.url, `${PUBLIC_ORIGIN}/associate?nonce=${'x'.repeat(43)}`, 'alice'),
    await openLink(server.url, `${PUBLIC_ORIGIN}/associate?nonce=${'x'.repeat(43)}`, null),
    await confirm(server.url, { nonce: 'x', csrf: 'y' }, 'alice', { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } }),
    await request(`${server.url}/links`),
  ];
  for (const page of pages) {
    assert.ok(page.status >= 400, `${page.status}`);
    assert.match(String(page.headers['content-type']), /text\/html/);
    const id = String(page.headers['x-request-id']);
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.ok(page.body.includes(`Request ${id}`), page.body);
  }
});
