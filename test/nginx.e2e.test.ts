// Through a real nginx running the shipped deploy/nginx-sso-proxy.conf: basic auth stands in for
// SSO; nginx sets the identity headers and overwrites what clients send.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { boundTo as boundToIn } from './support/db.ts';
import { request } from './support/http-client.ts';
import { startServer, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { commandBody, linkFrom, signedHeaders } from './support/slack.ts';
import { formFields } from './support/browser.ts';
import { NGINX_PROXY_SECRET, reserveNginx, startNginx, type RunningNginx } from './support/nginx.ts';
import { requires } from './support/requires.ts';

const skip = requires('/usr/sbin/nginx', 'nginx-light');

let slack: SlackStub;
let server: RunningServer;
let nginx: RunningNginx;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ALICE = basic('alice', 'alice-password');

before(async () => {
  if (skip) return;
  slack = await startSlackStub();
  const reserved = await reserveNginx();
  server = await startServer({ slackApiUrl: slack.url, env: { PUBLIC_BASE_URL: reserved.url, TRUSTED_PROXY_SECRET: NGINX_PROXY_SECRET } });
  nginx = await startNginx(reserved.port, server.port, { alice: 'alice-password', bob: 'bob-password' });
});
after(async () => {
  if (skip) return;
  await nginx.stop();
  await server.stop();
  await slack.close();
});

const boundTo = (user: string) => boundToIn(server.databasePath, user);

/** A slash command as Slack sends it, through nginx. */
async function command(user: string, text: string) {
  const body = commandBody({ user, text });
  const res = await request(`${nginx.url}/slack/commands`, { method: 'POST', headers: signedHeaders(body), body });
  assert.equal(res.status, 200, res.body);
  return { ...res, json: JSON.parse(res.body) };
}

test('the whole flow through nginx: link, sign in, confirm, bound', { skip }, async () => {
  slack.emails.set('UNGINX', 'alice@corp.example');
  const link = linkFrom(await command('UNGINX', 'link'));
  assert.ok(link.startsWith(`${nginx.url}/associate?nonce=`));
  const page = await request(link, { headers: { authorization: ALICE } });
  assert.equal(page.status, 200, page.body);
  assert.match(page.body, /to your account <strong>alice<\/strong>/);
  const done = await request(`${nginx.url}/associate`, {
    method: 'POST',
    headers: { authorization: ALICE, 'content-type': 'application/x-www-form-urlencoded', origin: nginx.url },
    body: new URLSearchParams({ ...formFields(page.body), decision: 'link' }).toString(),
  });
  assert.equal(done.status, 200, done.body);
  assert.equal(boundTo('UNGINX'), 'alice');
  assert.match((await command('UNGINX', 'whoami')).json.text, /linked to alice/);
});

test('a client that sends its own X-Forwarded-User still gets the name it signed in as', { skip }, async () => {
  slack.emails.set('UFORGE', 'alice@corp.example');
  const link = linkFrom(await command('UFORGE', 'link'));
  const forged = { authorization: ALICE, 'x-forwarded-user': 'ceo', 'x-forwarded-email': 'ceo@corp.example' };
  const page = await request(link, { headers: forged });
  assert.match(page.body, /to your account <strong>alice<\/strong>/);
  assert.doesNotMatch(page.body, /ceo/);
  const done = await request(`${nginx.url}/associate`, {
    method: 'POST',
    headers: { ...forged, 'content-type': 'application/x-www-form-urlencoded', origin: nginx.url },
    body: new URLSearchParams({ ...formFields(page.body), decision: 'link' }).toString(),
  });
  assert.equal(done.status, 200);
  assert.equal(boundTo('UFORGE'), 'alice');
});

test("unauthenticated: the proxy's 401, and nothing bound", { skip }, async () => {
  const link = linkFrom(await command('UNOAUTH', 'link'));
  for (const authorization of [undefined, basic('alice', 'wrong'), basic('mallory', 'x')]) {
    const page = await request(link, { headers: { authorization, 'x-forwarded-user': 'alice' } });
    assert.equal(page.status, 401);
    assert.match(String(page.headers['www-authenticate']), /^Basic realm="Company sign-in"/);
    const post = await request(`${nginx.url}/associate`, {
      method: 'POST',
      headers: { authorization, 'x-forwarded-user': 'alice', 'content-type': 'application/x-www-form-urlencoded' },
      body: `nonce=${new URL(link).searchParams.get('nonce')}&csrf=x`,
    });
    assert.equal(post.status, 401);
  }
  assert.equal(boundTo('UNOAUTH'), undefined);
  assert.equal((await request(link, { headers: { authorization: ALICE } })).status, 200, 'the link is still unused');
});

test("the server's own port refuses the header from an address outside TRUSTED_PROXIES", { skip }, async () => {
  const link = linkFrom(await command('UOUTSIDE', 'link'));
  const direct = `${server.url}${new URL(link).pathname}${new URL(link).search}`;
  const res = await request(direct, { localAddress: '127.0.0.2', headers: { 'x-forwarded-user': 'alice' } });
  assert.equal(res.status, 403);
});

test('only the two paths are exposed', { skip }, async () => {
  assert.equal((await request(`${nginx.url}/healthz`)).status, 404);
  assert.equal((await request(`${nginx.url}/metrics`)).status, 404);
});

test('TRUSTED_PROXY_SECRET: a process that reaches the server from a trusted address but not through nginx is refused', { skip }, async () => {
  const link = linkFrom(await command('UDIRECT', 'link'));
  const direct = `${server.url}${new URL(link).pathname}${new URL(link).search}`;
  // 127.0.0.1 is in TRUSTED_PROXIES (what port forwarding makes every local process look like).
  const noSecret = await request(direct, { headers: { 'x-forwarded-user': 'ceo' } });
  assert.equal(noSecret.status, 403);
  assert.doesNotMatch(noSecret.body, /ceo/);
  const wrongSecret = await request(direct, { headers: { 'x-forwarded-user': 'ceo', 'x-proxy-secret': `${NGINX_PROXY_SECRET}x` } });
  assert.equal(wrongSecret.status, 403);
  const refused = await server.waitForLog((l) => l.event === 'sso_refused' && l.reason === 'proxy_secret_wrong', 2);
  assert.equal(refused[0]!.level, 'warn');
  assert.ok(refused[0]!.remote_address, 'the log names where the request came from');
  // Through nginx, which sends the secret, the same link works.
  assert.equal((await request(link, { headers: { authorization: ALICE } })).status, 200);
  assert.equal(boundTo('UDIRECT'), undefined);
});

test("nginx's access log holds no nonce: /associate is logged without its query string", { skip }, async () => {
  const link = linkFrom(await command('ULOGGED', 'link'));
  const nonce = new URL(link).searchParams.get('nonce')!;
  assert.equal((await request(link, { headers: { authorization: ALICE } })).status, 200);
  const deadline = Date.now() + 3000;
  while (!nginx.accessLog().includes('/associate') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const log = nginx.accessLog();
  assert.match(log, /"GET \/associate HTTP\/1\.1" 200/);
  assert.equal(log.includes(nonce), false);
});
