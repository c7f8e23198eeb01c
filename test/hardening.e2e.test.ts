// Findings of the hostile review (README: "Threats and the tests that cover them"), each tried
// against the running server: what failed before the fix and must keep failing to get through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from './support/http-client.ts';
import { ROOT, SIGNING_SECRET, startServer, runToExit, tempDir, CONFIRM_ONLY, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { blockActions, commandBody, eventEnvelope, linkFrom, sendEvent, signedHeaders, slashCommand } from './support/slack.ts';
import { PUBLIC_ORIGIN, confirm, formFields, openLink } from './support/browser.ts';
import { boundTo } from './support/db.ts';
import { deriveKeys } from '../src/domain/secrets.ts';

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

const mode = (path: string) => statSync(path).mode & 0o777;
/** A header value as a proxy would put UTF-8 bytes on the wire (Node sends each char as one byte). */
const wire = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

test('the database, its WAL and SHM, and a backup are readable by their owner only (0600)', async () => {
  await slashCommand(server.url, { user: 'UMODE', text: 'link' });
  for (const suffix of ['', '-wal', '-shm']) assert.equal(mode(`${server.databasePath}${suffix}`).toString(8), '600', `db${suffix}`);
  const copy = join(tempDir(), 'backup.db');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', 'backup', copy], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, DATABASE_PATH: server.databasePath } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(mode(copy).toString(8), '600');
});

test('a copy of the database does not yield a pending code: the key of its HMAC is not in the file', async () => {
  const coded = await startServer({ slackApiUrl: slack.url, env: { LINK_VERIFICATION: 'code' } });
  try {
    const link = linkFrom(await slashCommand(coded.url, { user: 'UCOPY', text: 'link' }));
    const page = await openLink(coded.url, link, 'bob');
    const res = await confirm(coded.url, formFields(page.body), 'bob');
    const code = /\/acct confirm (\d{6})/.exec(res.body)![1]!;
    const copy = join(tempDir(), 'stolen.db');
    copyFileSync(coded.databasePath, copy);
    for (const suffix of ['-wal']) copyFileSync(`${coded.databasePath}${suffix}`, `${copy}${suffix}`);
    const db = new Database(copy, { readonly: true });
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((t) => t.name);
    const mac = (db.prepare("SELECT code_mac FROM pending_confirmations WHERE slack_user_id = 'UCOPY'").get() as { code_mac: Buffer }).code_mac;
    // Every blob the file holds is a candidate key for the attacker.
    const candidates: Buffer[] = [];
    for (const table of tables) {
      for (const row of db.prepare(`SELECT * FROM "${table}"`).all() as Array<Record<string, unknown>>) {
        for (const v of Object.values(row)) if (Buffer.isBuffer(v) && !v.equals(mac)) candidates.push(v);
      }
    }
    db.close();
    assert.equal(tables.includes('server_keys'), false);
    const bruteForce = (key: Buffer): string | undefined => {
      for (let n = 0; n < 1_000_000; n++) {
        const guess = String(n).padStart(6, '0');
        if (createHmac('sha256', key).update(`T0001\0UCOPY\0${guess}`).digest().equals(mac)) return guess;
      }
      return undefined;
    };
    for (const key of candidates.filter((k) => k.length === 32).slice(0, 5)) assert.equal(bruteForce(key), undefined);
    // With the key (derived from the signing secret, which the file does not hold) it takes a second.
    assert.equal(bruteForce(deriveKeys(SIGNING_SECRET).code), code, 'the attack itself works when the key is known');
  } finally {
    await coded.stop();
  }
});

test('a replayed signed request is refused and changes nothing', async () => {
  const body = commandBody({ user: 'UREPLAY', text: 'link' });
  const headers = signedHeaders(body);
  const first = await request(`${server.url}/slack/commands`, { method: 'POST', headers, body });
  assert.equal(first.status, 200);
  linkFrom({ json: JSON.parse(first.body) });
  const again = await request(`${server.url}/slack/commands`, { method: 'POST', headers, body });
  assert.equal(again.status, 401);
  assert.doesNotMatch(again.body, /associate/);
  const [line] = await server.waitForLog((l) => l.event === 'slack_request_replayed');
  assert.equal(line!.level, 'warn');
  const audit = new Database(server.databasePath, { readonly: true });
  const created = (audit.prepare("SELECT count(*) AS n FROM audit_events WHERE slack_user_id = 'UREPLAY' AND action = 'link_created'").get() as { n: number }).n;
  audit.close();
  assert.equal(created, 1, 'one link, not two');
});

test('a replay is refused across a restart on SQLite: a request signed before the process started is refused', async () => {
  const restarted = await startServer({ slackApiUrl: slack.url, env: CONFIRM_ONLY });
  let again: RunningServer | undefined;
  try {
    const body = commandBody({ user: 'URESTART', text: 'link' });
    const headers = signedHeaders(body);
    assert.equal((await request(`${restarted.url}/slack/commands`, { method: 'POST', headers, body })).status, 200);
    await restarted.stop();
    // The next process starts in a later second than the one the request was signed in.
    while (Math.floor(Date.now() / 1000) <= Number(headers['x-slack-request-timestamp'])) await new Promise((r) => setTimeout(r, 50));
    again = await startServer({ slackApiUrl: slack.url, env: CONFIRM_ONLY, databasePath: restarted.databasePath });
    const replayed = await request(`${again.url}/slack/commands`, { method: 'POST', headers, body });
    assert.equal(replayed.status, 401, replayed.body);
    await again.waitForLog((l) => l.event === 'slack_request_replayed' && /before the replay claims began/.test(String(l.reason)));
    // A request signed now is served.
    assert.equal((await slashCommand(again.url, { user: 'URESTART', text: 'help' })).status, 200);
    const db = new Database(restarted.databasePath, { readonly: true });
    const created = (db.prepare("SELECT count(*) AS n FROM audit_events WHERE slack_user_id = 'URESTART' AND action = 'link_created'").get() as { n: number }).n;
    db.close();
    assert.equal(created, 1, 'one link, not two');
  } finally {
    await again?.stop();
  }
});

test('a signed event is not a command or a click: its bytes are claimed once, and a JSON body is not a form', async () => {
  await slashCommand(server.url, { user: 'UCROSS', text: 'link' });
  // The attacker chooses their own profile title; Slack signs the user_change event that carries it.
  const click = encodeURIComponent(JSON.stringify(blockActions({ user: 'UCROSS', actionId: 'unlink' })));
  const title = `&payload=${click}&team_id=T0001&user_id=UCROSS&command=/acct&text=unlink&`;
  const body = JSON.stringify(eventEnvelope({ type: 'user_change', user: { id: 'UATTACK', team_id: 'T0001', profile: { title } } }));
  const headers = { ...signedHeaders(body), 'content-type': 'application/json' };
  const event = await request(`${server.url}/slack/events`, { method: 'POST', headers, body });
  assert.equal(event.status, 200, event.body);
  const asForm = { ...headers, 'content-type': 'application/x-www-form-urlencoded' };
  let later = Number(headers['x-slack-request-timestamp']);
  for (const path of ['/slack/commands', '/slack/interactions']) {
    // The same bytes, timestamp and signature: already claimed.
    const replayed = await request(`${server.url}${path}`, { method: 'POST', headers: asForm, body });
    assert.equal(replayed.status, 401, `${path}: ${replayed.body}`);
    // Signed afresh (a second event with the same bytes would be): still not a form.
    const fresh = await request(`${server.url}${path}`, { method: 'POST', headers: signedHeaders(body, { timestamp: ++later }), body });
    assert.equal(fresh.status, 400, `${path}: ${fresh.body}`);
    assert.match(fresh.body, /well-formed form/);
  }
  // A form that is well formed but carries the other path's field.
  const withPayload = commandBody({ user: 'UCROSS', text: 'unlink', extra: { payload: click } });
  assert.equal((await request(`${server.url}/slack/commands`, { method: 'POST', headers: signedHeaders(withPayload), body: withPayload })).status, 400);
  const withCommand = `payload=${click}&command=%2Facct`;
  assert.equal((await request(`${server.url}/slack/interactions`, { method: 'POST', headers: signedHeaders(withCommand), body: withCommand })).status, 400);
  // The event itself, replayed, is refused too.
  assert.equal((await sendEvent(server.url, undefined, { raw: body, timestamp: Number(headers['x-slack-request-timestamp']), signature: headers['x-slack-signature'] })).status, 401);
  const db = new Database(server.databasePath, { readonly: true });
  const actions = (db.prepare("SELECT action FROM audit_events WHERE slack_user_id = 'UCROSS' ORDER BY id").all() as Array<{ action: string }>).map((r) => r.action);
  db.close();
  assert.deepEqual(actions, ['link_created'], 'nothing ran as UCROSS');
});

test('identity headers are UTF-8: josé is josé; broken UTF-8, invisible characters and a trailing NBSP are refused', async () => {
  const link = linkFrom(await slashCommand(server.url, { user: 'UUTF8', text: 'link' }));
  const ok = await openLink(server.url, link, wire('josé'));
  assert.equal(ok.status, 200);
  assert.match(ok.body, /to your account <strong>josé<\/strong>/);
  for (const [what, value] of [
    ['invalid UTF-8', '\xff\xfebob'],
    ['a trailing no-break space', wire('bob\u00a0')],
    ['a zero-width space', wire('b\u200bob')],
    ['a right-to-left override', wire('\u202eboj')],
  ] as const) {
    const res = await openLink(server.url, link, value);
    assert.equal(res.status, 400, what);
    assert.match(res.body, /cannot accept/, what);
  }
  const trimmed = await openLink(server.url, link, ' \tcarol\t ');
  assert.match(trimmed.body, /to your account <strong>carol<\/strong>/, 'spaces and tabs around a name are trimmed');
});

test('a comma-joined identity header (a proxy that appends) is refused with a page that says so', async () => {
  const link = linkFrom(await slashCommand(server.url, { user: 'UJOIN', text: 'link' }));
  const page = await openLink(server.url, link, 'bob');
  const res = await openLink(server.url, link, 'bob, alice');
  assert.equal(res.status, 400);
  assert.match(res.body, /joined with a comma/);
  assert.match(res.body, /must set \(overwrite\) the header, not append/);
  const post = await confirm(server.url, formFields(page.body), 'bob, alice');
  assert.equal(post.status, 400);
  assert.equal(boundTo(server.databasePath, 'UJOIN'), undefined);
  await server.waitForLog((l) => l.event === 'sso_refused' && l.reason === 'header_joined');
});

test('every refused /associate is a warning with the address and the reason; startup prints what it trusts', async () => {
  const link = linkFrom(await slashCommand(server.url, { user: 'UWHY', text: 'link' }));
  await openLink(server.url, link, 'x', { localAddress: '127.0.0.2' });
  await openLink(server.url, link, null);
  const refused = await server.waitForLog((l) => l.event === 'sso_refused' && (l.reason === 'untrusted_address' || l.reason === 'no_user'), 2);
  for (const l of refused) {
    assert.equal(l.level, 'warn');
    assert.match(String(l.remote_address), /127\.0\.0\./);
  }
  const [listening] = await server.waitForLog((l) => l.event === 'listening');
  assert.equal(listening!.trusted_proxies, '127.0.0.1,::1');
  assert.equal(listening!.metrics_allow, '127.0.0.1,::1');
  assert.equal(listening!.proxy_header_required, false);
});

test('PUBLIC_BASE_URL with a path: links, the form and the routes all live under it, prefix forwarded or stripped', async () => {
  const prefixed = await startServer({ slackApiUrl: slack.url, env: { ...CONFIRM_ONLY, PUBLIC_BASE_URL: 'https://slack-link.corp.example/tools/slack-link/' } });
  try {
    const link = linkFrom(await slashCommand(prefixed.url, { user: 'UPREFIX', text: 'link' }));
    assert.match(link, /^https:\/\/slack-link\.corp\.example\/tools\/slack-link\/associate\?nonce=/);
    const search = new URL(link).search;
    // An ingress that forwards the whole path, and one that strips the prefix, reach the same page.
    const forwarded = await request(`${prefixed.url}/tools/slack-link/associate${search}`, { headers: { 'x-forwarded-user': 'pat' } });
    const stripped = await request(`${prefixed.url}/associate${search}`, { headers: { 'x-forwarded-user': 'pat' } });
    assert.equal(forwarded.status, 200);
    assert.equal(stripped.status, 200);
    assert.match(forwarded.body, /<form method="post" action="\/tools\/slack-link\/associate">/);
    const fields = formFields(forwarded.body);
    const done = await request(`${prefixed.url}/tools/slack-link/associate`, {
      method: 'POST',
      headers: { 'x-forwarded-user': 'pat', 'content-type': 'application/x-www-form-urlencoded', origin: 'https://slack-link.corp.example' },
      body: new URLSearchParams({ ...fields, decision: 'link' }).toString(),
    });
    assert.equal(done.status, 200, done.body);
    assert.equal(boundTo(prefixed.databasePath, 'UPREFIX'), 'pat');
    assert.equal((await request(`${prefixed.url}/tools/slack-link-other/associate${search}`)).status, 404, 'only whole segments match');
  } finally {
    await prefixed.stop();
  }
});

test('startup refuses credentials in URLs and never prints them', async () => {
  const { code, output } = await runToExit({
    SLACK_SIGNING_SECRET: 's',
    SLACK_BOT_TOKEN: 'xoxb-1',
    PUBLIC_BASE_URL: 'https://x.example',
    INTERNAL_APP_URL: 'https://svc:hunter2-secret@app.internal/cmd',
    INTERNAL_APP_TOKEN: 't',
  });
  assert.equal(code, 2);
  assert.match(output, /INTERNAL_APP_URL must not hold a user name or password/);
  assert.doesNotMatch(output, /hunter2/);
});

test('startup refuses a TRUSTED_PROXIES range that trusts everyone unless a proxy secret or JWT vouches', async () => {
  const base = { SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'xoxb-1', PUBLIC_BASE_URL: 'https://x.example' };
  for (const range of ['::/0', '0.0.0.0/0', '10.0.0.0/4']) {
    const { code, output } = await runToExit({ ...base, TRUSTED_PROXIES: range });
    assert.equal(code, 2, range);
    assert.match(output, /TRUSTED_PROXY_SECRET or TRUSTED_JWT_HEADER/, range);
  }
  const { output } = await runToExit({ ...base, TRUSTED_PROXIES: '10.0.0.0/8,::/0', PORT: 'x' });
  assert.match(output, /::\/0 also matches every IPv4 address/);
});

test('/metrics and /admin/… refuse a request a proxy forwarded, though it arrives from loopback: the refusal says what to do', async () => {
  const token = 'admin-api-token-0123456789abcdef0123456789';
  const operated = await startServer({ slackApiUrl: slack.url, env: { ...CONFIRM_ONLY, ADMIN_API_TOKEN: token, TRUSTED_USER_HEADER: 'X-Auth-User' } });
  try {
    const metrics = `${operated.url}/metrics`;
    const admin = `${operated.url}/admin/bindings?internal_user=olive`;
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await request(metrics)).status, 200, 'directly from loopback: served');
    assert.equal((await request(admin, { headers: auth })).status, 200, 'directly from loopback, with the token: served');
    // What a same-host proxy forwarding every path adds: forwarding headers, or the SSO's identity
    // (here the configured TRUSTED_USER_HEADER, not the default name).
    const forwarded: Array<Record<string, string>> = [
      { 'x-forwarded-for': '203.0.113.9' },
      { forwarded: 'for=203.0.113.9' },
      { 'x-real-ip': '203.0.113.9' },
      { 'x-forwarded-proto': 'https' },
      { 'cf-connecting-ip': '203.0.113.9' },
      { 'x-proxy-secret': 'anything' },
      { 'x-auth-user': 'mallory' },
      { 'x-forwarded-for': '' },
    ];
    for (const headers of forwarded) {
      const m = await request(metrics, { headers });
      assert.equal(m.status, 403, JSON.stringify(headers));
      assert.match(m.body, /never served through a proxy .*Scrape the server's own address from a METRICS_ALLOW host, and let the proxy forward only Slack's paths and the pages \(docs\/sso\.md\)/);
      assert.doesNotMatch(m.body, /slack_requests_total|# TYPE/, 'no metric leaks');
      for (const method of ['GET', 'DELETE']) {
        const a = await request(admin, { method, headers: { ...auth, ...headers } });
        assert.equal(a.status, 403, `${method} ${JSON.stringify(headers)}`);
        assert.match(JSON.parse(a.body).error, /offboarding API is never served through a proxy .*Call the server's own address from an ADMIN_ALLOW host/);
      }
    }
    const [warning] = await operated.waitForLog((l) => l.event === 'admin_api_refused' && String(l.reason).startsWith('through a proxy'));
    assert.equal(warning!.level, 'warn');
    assert.equal(warning!.reason, 'through a proxy (x-forwarded-for)');
    assert.equal((await request(`${operated.url}/metrics`)).status, 200, 'still served directly');
  } finally {
    await operated.stop();
  }
});

test("the audit's client address is the browser's, from X-Forwarded-For behind the trusted proxy, not the proxy's", async () => {
  const addressOf = (action: string, slackUser: string) => {
    const db = new Database(server.databasePath, { readonly: true });
    try {
      return (db.prepare('SELECT client_address FROM audit_events WHERE action = ? AND slack_user_id = ? ORDER BY seq DESC').get(action, slackUser) as { client_address: string | null } | undefined)?.client_address;
    } finally {
      db.close();
    }
  };
  // The test's proxy is 127.0.0.1 (TRUSTED_PROXIES); what it appends is the right-most entry. The
  // left-most was written by the client and is not believed.
  const headers = { 'x-forwarded-for': '203.0.113.66, 198.51.100.7' };
  const link = linkFrom(await slashCommand(server.url, { user: 'UADDR', text: 'link' }));
  const page = await openLink(server.url, link, 'addr', { headers });
  assert.equal((await confirm(server.url, formFields(page.body), 'addr', { headers })).status, 200);
  assert.equal(addressOf('linked', 'UADDR'), '198.51.100.7');
  // My Slack links: the unlink's audit row too.
  const list = await request(`${server.url}/links`, { headers: { 'x-forwarded-user': 'addr', ...headers } });
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(list.body)?.[1] ?? '';
  const unlink = await request(`${server.url}/links`, {
    method: 'POST',
    // ::1 is trusted too (a second proxy): the address before it is the client.
    headers: { 'x-forwarded-user': 'addr', 'x-forwarded-for': '2001:db8::7, ::1', 'content-type': 'application/x-www-form-urlencoded', origin: PUBLIC_ORIGIN, 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ org: field('org'), slack_user: field('slack_user'), csrf: field('csrf'), decision: 'unlink' }).toString(),
  });
  assert.equal(unlink.status, 200, unlink.body);
  assert.equal(addressOf('unlinked', 'UADDR'), '2001:db8::7');
  // No header: the peer, as before.
  const again = linkFrom(await slashCommand(server.url, { user: 'UADDR', text: 'link' }));
  const plain = await openLink(server.url, again, 'addr');
  assert.equal((await confirm(server.url, formFields(plain.body), 'addr')).status, 200);
  assert.equal(addressOf('linked', 'UADDR'), '127.0.0.1');
});

test('the shipped nginx config and README use the hardened settings', () => {
  const nginx = readFileSync(join(ROOT, 'deploy/nginx-sso-proxy.conf'), 'utf8');
  assert.match(nginx, /log_format account_binding [^;]*\$uri/);
  assert.doesNotMatch(nginx.split('log_format')[1]!.split(';')[0]!, /\$request\b|\$request_uri|\$args/);
  assert.match(nginx, /include \/etc\/nginx\/account-binding-proxy-secret\.conf;/);
  assert.match(nginx.split('location ~ ^/(associate|associate/slack|links)$')[1]!, /proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/, "the pages get the browser's address for the audit");
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.match(readme, /-p 127\.0\.0\.1:3000:3000/);
  assert.doesNotMatch(readme, /-p 3000:3000/);
});

test("docs/sso.md: every recipe forwards the pages and Slack's paths only, never /metrics or /admin/…", () => {
  const sso = readFileSync(join(ROOT, 'docs/sso.md'), 'utf8');
  const pages = 'associate|associate/slack|links';
  // oauth2-proxy: one upstream per path, none for the server's root.
  const upstreams = [...sso.matchAll(/--upstream=(\S+)/g)].map((m) => m[1]);
  assert.deepEqual(upstreams, ['http://127.0.0.1:3000/associate', 'http://127.0.0.1:3000/links', 'http://127.0.0.1:3000/slack/']);
  // cloudflared's ingress and each Pomerium route: a path rule on every rule that reaches the server.
  assert.match(sso, new RegExp(`- hostname: slack-link\\.example\\.com\\n {4}path: \\^/\\(${pages}\\|slack/\\(commands\\|events\\|interactions\\)\\)\\$\\n {4}service: http://127\\.0\\.0\\.1:3000\\n {2}- service: http_status:404`));
  const pomerium = /\nroutes:\n([\s\S]*?)```/.exec(sso)![1]!;
  const routes = `\n${pomerium}`.split(/\n {2}- from: /).slice(1);
  assert.equal(routes.length, 2);
  for (const route of routes) assert.match(route, /\n {4}regex: '\^\/\(?[a-z|/()]+\)?\$'/, route);
  assert.match(routes[1]!, new RegExp(`regex: '\\^/\\(${pages}\\)\\$'`), 'the signed-in route: the pages only');
});

test('the documents say what the code does: CSRF keys derived, never stored; the internal app example compares in constant time', () => {
  const security = readFileSync(join(ROOT, 'docs/security.md'), 'utf8');
  assert.doesNotMatch(security, /key kept in\s+the database/);
  assert.match(security, /CSRF token bound to the link and the signed-in user \(an HMAC under a key derived\s+from the signing secret, never stored\)/);
  const example = /```js\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, 'docs/internal-app.md'), 'utf8'))![1]!;
  assert.doesNotMatch(example, /authorization\s*!==?/);
  assert.match(example, /timingSafeEqual\(digest\(req\.headers\.authorization\), expected\)/);
});
