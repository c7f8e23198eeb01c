// A real browser (Debian's Chromium, driven by playwright-core) through the real nginx: what a
// person sees and clicks, a stale second tab, and a cross-site page that tries to bind.
// Screenshots go to test-artifacts/ (git-ignored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { boundTo as boundToIn } from './support/db.ts';
import { request } from './support/http-client.ts';
import { ROOT, startServer, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from '../src/demo/slack-stand-in.ts';
import { commandBody, linkFrom, signedHeaders } from './support/slack.ts';
import { NGINX_PROXY_SECRET, reserveNginx, startNginx, type RunningNginx } from './support/nginx.ts';
import { requires } from './support/requires.ts';

const skip = requires('/usr/sbin/nginx', 'nginx-light') || requires('/usr/bin/chromium', 'chromium');

const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

let slack: SlackStub;
let server: RunningServer;
let nginx: RunningNginx;
let browser: Browser;
let context: BrowserContext;

before(async () => {
  if (skip) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  slack = await startSlackStub();
  const reserved = await reserveNginx();
  server = await startServer({ slackApiUrl: slack.url, env: { PUBLIC_BASE_URL: reserved.url, TRUSTED_PROXY_SECRET: NGINX_PROXY_SECRET } });
  nginx = await startNginx(reserved.port, server.port, { alice: 'alice-password' });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  context = await browser.newContext({ httpCredentials: { username: 'alice', password: 'alice-password' }, viewport: { width: 900, height: 640 } });
});
after(async () => {
  if (skip) return;
  await browser?.close();
  await nginx?.stop();
  await server?.stop();
  await slack?.close();
});

async function newLink(user: string): Promise<string> {
  slack.emails.set(user, 'alice@corp.example');
  const body = commandBody({ user, userName: 'roadrunner', text: 'link' });
  const res = await request(`${nginx.url}/slack/commands`, { method: 'POST', headers: signedHeaders(body), body });
  return linkFrom({ json: JSON.parse(res.body) });
}
const boundTo = (user: string) => boundToIn(server.databasePath, user);

test('open the link, see both accounts named, click, see success; a stale tab gets the friendly "already used" page', { skip }, async () => {
  const link = await newLink('UBROWSER');
  const tab = await context.newPage();
  const stale = await context.newPage();
  const first = await tab.goto(link);
  assert.equal(first?.status(), 200);
  await stale.goto(link);

  const text = await tab.locator('main').innerText();
  assert.match(text, /Link Slack user roadrunner \(UBROWSER\) in workspace acme to your account alice\?/);
  assert.match(text, /verified by email/);
  await tab.screenshot({ path: join(ARTIFACTS, 'confirm-page.png') });

  const [response] = await Promise.all([tab.waitForNavigation(), tab.getByRole('button', { name: 'Link accounts' }).click()]);
  assert.equal(response?.status(), 200);
  assert.match(await tab.locator('main').innerText(), /Your Slack account is now linked to alice/);
  await tab.screenshot({ path: join(ARTIFACTS, 'success-page.png') });
  assert.equal(boundTo('UBROWSER'), 'alice');

  const [again] = await Promise.all([stale.waitForNavigation(), stale.getByRole('button', { name: 'Link accounts' }).click()]);
  assert.equal(again?.status(), 410);
  assert.match(await stale.locator('main').innerText(), /This link no longer works[\s\S]*already used[\s\S]*Run the slash command in Slack again/);
  await stale.screenshot({ path: join(ARTIFACTS, 'already-used-page.png') });
});

test('a page on another site that auto-submits the form cannot bind, even holding a valid token', { skip }, async () => {
  const link = await newLink('UCSRFB');
  // The attacker somehow has the victim's form fields; only the browser's Sec-Fetch-Site stops it.
  const tab = await context.newPage();
  await tab.goto(link);
  const nonce = await tab.locator('input[name=nonce]').getAttribute('value');
  const csrf = await tab.locator('input[name=csrf]').getAttribute('value');
  await tab.close();

  const evil: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><form id="f" method="post" action="${nginx.url}/associate">
<input type="hidden" name="nonce" value="${nonce}"><input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="decision" value="link"></form><script>document.getElementById('f').submit()</script>`);
  });
  evil.listen(0, '127.0.0.2');
  await once(evil, 'listening');
  try {
    const page = await context.newPage();
    const landed = page.waitForURL(`${nginx.url}/associate`);
    await page.goto(`http://127.0.0.2:${(evil.address() as AddressInfo).port}/`);
    await landed;
    const text = await page.locator('main').innerText();
    assert.match(text, /sent from another site and was refused/);
    assert.equal(boundTo('UCSRFB'), undefined);
    await page.screenshot({ path: join(ARTIFACTS, 'cross-site-refused.png') });
    const refused = await server.waitForLog((l) => l.event === 'associate_cross_site_refused');
    assert.deepEqual(refused.map((l) => l.sec_fetch_site), ['cross-site'], 'refused for the browser\'s own word, once');
  } finally {
    evil.close();
  }
});
