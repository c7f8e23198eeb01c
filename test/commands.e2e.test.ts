// POST /slack/commands against the real server: signatures, limits, payloads, subcommands.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { request } from './support/http-client.ts';
import { startServer, runToExit, type RunningServer, CONFIRM_ONLY } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { commandBody, linkFrom, signedHeaders, slashCommand } from './support/slack.ts';
import { linkAs } from './support/browser.ts';

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

const linkCount = (): number => {
  const db = new Database(server.databasePath, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM link_nonces').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

const post = (body: string | Buffer, headers: Record<string, string | undefined>) =>
  request(`${server.url}/slack/commands`, { method: 'POST', headers, body });

test('every signature failure is a 401 and changes nothing', async () => {
  const before = linkCount();
  const body = commandBody({ user: 'USIG', text: 'link' });
  const now = Math.floor(Date.now() / 1000);
  const cases: Array<[string, Record<string, string | undefined>]> = [
    ['no signature', { ...signedHeaders(body), 'x-slack-signature': undefined }],
    ['no timestamp', { ...signedHeaders(body), 'x-slack-request-timestamp': undefined }],
    ['wrong secret', signedHeaders(body, { secret: 'not-the-secret' })],
    ['garbage signature', signedHeaders(body, { signature: 'v0=zzz' })],
    ['signature of another body', signedHeaders(commandBody({ user: 'UOTHER', text: 'link' }))],
    ['stale timestamp (6 minutes old)', signedHeaders(body, { timestamp: now - 360 })],
    ['future timestamp (6 minutes ahead)', signedHeaders(body, { timestamp: now + 360 })],
  ];
  for (const [name, headers] of cases) {
    const res = await post(body, headers);
    assert.equal(res.status, 401, name);
    assert.doesNotMatch(res.body, /associate/, name);
  }
  assert.equal(linkCount(), before, 'no link was created by any refused request');
  const rejected = await server.waitForLog((l) => l.event === 'slack_signature_rejected', cases.length);
  assert.ok(rejected.some((l) => /5 minutes old/.test(String(l.reason))));
  assert.ok(rejected.every((l) => String(l.check).startsWith('SLACK_SIGNING_SECRET')), 'each rejection names the setting to check');
});

test('ssl_check=1 answers 200 with an empty body', async () => {
  const body = 'ssl_check=1&token=x';
  const res = await post(body, signedHeaders(body));
  assert.equal(res.status, 200);
  assert.equal(res.body, '');
});

test('a body over 64 KiB is refused with 413, by Content-Length or by streaming', async () => {
  const big = `text=${'a'.repeat(65 * 1024)}`;
  const declared = await post(big, signedHeaders(big));
  assert.equal(declared.status, 413);

  // Chunked, so the server only finds out while reading.
  const chunked = await new Promise<number>((resolve, reject) => {
    import('node:http').then(({ request: httpRequest }) => {
      const req = httpRequest(`${server.url}/slack/commands`, { method: 'POST', headers: signedHeaders(big), agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      for (let i = 0; i < 70; i++) req.write('a'.repeat(1024));
      req.end();
    }, reject);
  });
  assert.equal(chunked, 413);
});

test('signed but malformed payloads are 400, never 5xx', async () => {
  const cases: Array<[string, string | Buffer]> = [
    ['no user_id', commandBody({ extra: { user_id: '' } })],
    ['no team_id', commandBody({ extra: { team_id: '' } })],
    ['lower-case user id', commandBody({ user: 'u123' })],
    ['user id with markup', commandBody({ user: 'U1<script>' })],
    ['no command', commandBody({ extra: { command: '' } })],
    ['broken %-escape', `${commandBody()}&text=%E0%A4`],
    ['lone % sign', `${commandBody()}&x=%`],
    ['raw invalid UTF-8', Buffer.concat([Buffer.from(commandBody()), Buffer.from([0x26, 0x78, 0x3d, 0xff, 0xfe])])],
  ];
  for (const [name, body] of cases) {
    const res = await post(body, signedHeaders(body));
    assert.equal(res.status, 400, `${name}: ${res.body}`);
  }
  const body = commandBody();
  const json = await post(body, { ...signedHeaders(body), 'content-type': 'application/json' });
  assert.equal(json.status, 415);
});

test('help lists the subcommands, including unlink, and creates no link', async () => {
  const before = linkCount();
  for (const text of ['help', '', 'HELP']) {
    const res = await slashCommand(server.url, { user: 'UHELP', text });
    assert.equal(res.status, 200);
    assert.equal(res.json.response_type, 'ephemeral');
    const all = JSON.stringify(res.json.blocks);
    for (const sub of ['help', 'whoami', 'link', 'unlink']) assert.match(all, new RegExp(`/acct ${sub}`), sub);
    assert.match(all, /not linked/);
  }
  assert.equal(linkCount(), before);
});

test('an unbound user: every subcommand but help starts linking, and says why', async () => {
  const reasons: Record<string, RegExp> = {
    link: /Link your Slack user/,
    whoami: /not linked to an account yet/,
    unlink: /nothing to unlink/,
    'report q3': /To run `\/acct report` as yourself, link your account first/,
  };
  for (const [text, reason] of Object.entries(reasons)) {
    const res = await slashCommand(server.url, { user: 'UNEW', text });
    assert.equal(res.status, 200);
    assert.equal(res.json.response_type, 'ephemeral', 'the link is for the user only');
    assert.match(res.json.text, reason);
    const link = linkFrom(res);
    assert.match(link, /^https:\/\/slack-link\.corp\.example\/associate\?nonce=[A-Za-z0-9_-]{43}$/);
    const button = res.json.blocks.flatMap((b: any) => b.elements ?? []).find((e: any) => e.type === 'button');
    assert.equal(button.url, link, 'the same URL is a Block Kit button');
  }
});

test('a bound user: whoami, link, a command, unlink', async () => {
  const user = 'UBOUND';
  await linkAs(server.url, linkFrom(await slashCommand(server.url, { user, text: 'link' })), 'carol');

  const who = await slashCommand(server.url, { user, text: 'whoami' });
  assert.match(who.json.text, /linked to carol/);
  assert.match(JSON.stringify(who.json.blocks), /<!date\^\d+\^/);

  const again = await slashCommand(server.url, { user, text: 'link' });
  assert.match(again.json.text, /already linked to carol/);
  assert.match(JSON.stringify(again.json.blocks), /\/acct unlink/);
  assert.doesNotMatch(again.json.text, /associate\?nonce/, 'never silently replaces a binding');

  // No INTERNAL_APP_URL here: the built-in handler answers, as carol.
  const echo = await slashCommand(server.url, { user, text: 'echo hello <world>' });
  assert.equal(echo.json.response_type, 'ephemeral');
  assert.match(echo.json.text, /^hello &lt;world&gt;\n_\(echoed for carol\)_$/);
  const unknown = await slashCommand(server.url, { user, text: 'report q3' });
  assert.match(unknown.json.text, /`report` is not a command here/);
  assert.match(unknown.json.text, /`\/acct echo &lt;text&gt;`/);
  const help = await slashCommand(server.url, { user, text: 'help' });
  assert.match(JSON.stringify(help.json.blocks), /Built-in commands/);

  const unlink = await slashCommand(server.url, { user, text: 'unlink' });
  assert.match(unlink.json.text, /Unlinked from carol/);
  const after = await slashCommand(server.url, { user, text: 'whoami' });
  assert.match(after.json.text, /not linked/);
  linkFrom(after);
});

test('Enterprise Grid: the enterprise id is the key, so one user is one identity across workspaces', async () => {
  const res = await slashCommand(server.url, { user: 'WGRID', team: 'T0AAA', enterprise: 'E0ORG', text: 'link' });
  await linkAs(server.url, linkFrom(res), 'dave');
  const otherWorkspace = await slashCommand(server.url, { user: 'WGRID', team: 'T0BBB', enterprise: 'E0ORG', text: 'whoami' });
  assert.match(otherWorkspace.json.text, /linked to dave/);
  // Without Grid the same user id in another team is another person.
  const plain = await slashCommand(server.url, { user: 'WGRID', team: 'T0CCC', text: 'whoami' });
  assert.match(plain.json.text, /not linked/);

  const db = new Database(server.databasePath, { readonly: true });
  const row = db.prepare("SELECT * FROM bindings WHERE slack_user_id = 'WGRID'").get() as Record<string, unknown>;
  db.close();
  assert.equal(row.slack_org, 'E0ORG');
  assert.equal(row.slack_enterprise_id, 'E0ORG');
  assert.equal(row.slack_team_id, 'T0AAA');
});

test('one internal user may be bound from several workspaces', async () => {
  await linkAs(server.url, linkFrom(await slashCommand(server.url, { user: 'UMULTI', team: 'T0ONE', text: 'link' })), 'erin');
  await linkAs(server.url, linkFrom(await slashCommand(server.url, { user: 'UMULTI', team: 'T0TWO', text: 'link' })), 'erin');
  for (const team of ['T0ONE', 'T0TWO']) {
    assert.match((await slashCommand(server.url, { user: 'UMULTI', team, text: 'whoami' })).json.text, /linked to erin/);
  }
});

test('unknown path is 404; a known path with the wrong method is 405 with Allow', async () => {
  assert.equal((await request(`${server.url}/nope`)).status, 404);
  assert.equal((await request(`${server.url}/slack/commands/extra`)).status, 404);
  const get = await request(`${server.url}/slack/commands`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.allow, 'POST');
  const put = await request(`${server.url}/associate`, { method: 'PUT' });
  assert.equal(put.status, 405);
  assert.equal(put.headers.allow, 'GET, HEAD, POST');
  const health = await request(`${server.url}/healthz`, { method: 'DELETE' });
  assert.equal(health.status, 405);
  assert.equal(health.headers.allow, 'GET, HEAD');
});

test('GET /healthz is 200 JSON while the database answers', async () => {
  const res = await request(`${server.url}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  assert.deepEqual(JSON.parse(res.body), { status: 'ok' });
  assert.ok(res.headers['x-request-id']);
});

test('no response and no log line of the whole run was a 5xx', () => {
  const statuses = server.logs().filter((l) => l.event === 'http').map((l) => Number(l.status));
  assert.ok(statuses.length > 20);
  assert.deepEqual(statuses.filter((s) => s >= 500), []);
});

test('startup with bad configuration exits 2 with one message naming every problem', async () => {
  const { code, output } = await runToExit({ PORT: 'abc', TRUSTED_PROXIES: 'nope' });
  assert.equal(code, 2);
  for (const name of ['SLACK_SIGNING_SECRET', 'SLACK_BOT_TOKEN', 'PUBLIC_BASE_URL', 'PORT', 'TRUSTED_PROXIES']) assert.match(output, new RegExp(name));
  assert.doesNotMatch(output, /\n\s+at /, 'no stack trace');
});

test('per-user link limit: the sixth link within a minute gets a clear message, other users are unaffected', async () => {
  for (let i = 0; i < 5; i++) linkFrom(await slashCommand(server.url, { user: 'ULIMIT', text: 'link' }));
  const sixth = await slashCommand(server.url, { user: 'ULIMIT', text: 'link' });
  assert.equal(sixth.status, 200);
  assert.equal(sixth.json.response_type, 'ephemeral');
  assert.match(sixth.json.text, /You asked for 5 links within a minute/);
  assert.doesNotMatch(sixth.json.text, /associate\?nonce/);
  linkFrom(await slashCommand(server.url, { user: 'ULIMIT2', text: 'link' }));
});
