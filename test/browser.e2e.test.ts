// A real browser (Debian's Chromium, driven by playwright-core) through the real nginx: what a
// person sees and clicks, a stale second tab, and a cross-site page that tries to bind.
// Screenshots go to test-artifacts/ (git-ignored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { BrowserContext } from 'playwright-core';
import { boundTo as boundToIn } from './support/db.ts';
import { request } from './support/http-client.ts';
import type { RunningServer } from './support/server.ts';
import type { SlackStub } from './support/slack-stand-in.ts';
import { formFields } from './support/browser.ts';
import { commandBody, linkFrom, signedHeaders } from './support/slack.ts';
import type { RunningNginx } from './support/nginx.ts';
import { ARTIFACTS, skipBrowser as skip, startBrowserStack, type BrowserStack } from './support/chromium.ts';

let stack: BrowserStack;
let slack: SlackStub;
let server: RunningServer;
let nginx: RunningNginx;
let context: BrowserContext;

before(async () => {
  if (skip) return;
  stack = await startBrowserStack({ users: { alice: 'alice-password', bob: 'bob-password' } });
  ({ slack, server, nginx, context } = stack);
});
after(async () => {
  if (skip) return;
  await stack?.stop();
});

async function newLink(user: string): Promise<string> {
  slack.emails.set(user, 'alice@corp.example');
  return stack.newLink(user);
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

  const page = await submitFromAnotherSite('/associate', { nonce: nonce!, csrf: csrf!, decision: 'link' });
  try {
    const text = await page.locator('main').innerText();
    assert.match(text, /sent from another site and was refused/);
    assert.equal(boundTo('UCSRFB'), undefined);
    await page.screenshot({ path: join(ARTIFACTS, 'cross-site-refused.png') });
    const refused = await server.waitForLog((l) => l.event === 'associate_cross_site_refused');
    assert.deepEqual(refused.map((l) => l.sec_fetch_site), ['cross-site'], 'refused for the browser\'s own word, once');
  } finally {
    await page.close();
  }
});

/**
 * A page on another site (127.0.0.2) that auto-submits a form with `fields` to `path` behind
 * nginx, opened in Chromium; the tab once it landed there.
 */
async function submitFromAnotherSite(path: string, fields: Record<string, string>) {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
    .join('');
  const evil: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><form id="f" method="post" action="${nginx.url}${path}">${inputs}</form><script>document.getElementById('f').submit()</script>`);
  });
  evil.listen(0, '127.0.0.2');
  await once(evil, 'listening');
  try {
    const page = await context.newPage();
    const landed = page.waitForURL(`${nginx.url}${path}`);
    await page.goto(`http://127.0.0.2:${(evil.address() as AddressInfo).port}/`);
    await landed;
    return page;
  } finally {
    evil.close();
  }
}

/** Binds `slackUser` to the nginx user who signs in, through nginx, as a browser would (HTTP only). */
async function bindThroughNginx(slackUser: string, who: 'alice' | 'bob'): Promise<void> {
  slack.emails.set(slackUser, `${who}@corp.example`);
  const body = commandBody({ user: slackUser, userName: `slack-${slackUser.toLowerCase()}`, text: 'link' });
  const link = linkFrom({ json: JSON.parse((await request(`${nginx.url}/slack/commands`, { method: 'POST', headers: signedHeaders(body), body })).body) });
  const auth = { authorization: `Basic ${Buffer.from(`${who}:${who}-password`).toString('base64')}` };
  const page = await request(link, { headers: auth });
  const res = await request(`${nginx.url}/associate`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded', origin: nginx.url, 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ ...formFields(page.body), decision: 'link' }).toString(),
  });
  assert.equal(res.status, 200, res.body);
}

test('"My Slack links" in Chromium through nginx: my links listed, one unlinked by its button; nobody else\'s shown', { skip }, async () => {
  await bindThroughNginx('ULINKS1', 'alice');
  await bindThroughNginx('ULINKS2', 'alice');
  await bindThroughNginx('ULINKSB', 'bob');
  for (const [name, width] of [['mobile', 375], ['desktop', 1280]] as const) {
    const tab = await context.newPage();
    await tab.setViewportSize({ width, height: 800 });
    await tab.goto(`${nginx.url}/links`);
    const text = await tab.locator('main').innerText();
    assert.match(text, /slack-ulinks1/);
    assert.match(text, /slack-ulinks2/);
    assert.doesNotMatch(text, /ULINKSB|slack-ulinksb/, "bob's link is not on alice's page");
    await tab.screenshot({ path: join(ARTIFACTS, `my-links-${name}.png`), fullPage: true });
    await tab.close();
  }
  const tab = await context.newPage();
  await tab.goto(`${nginx.url}/links`);
  const row = tab.locator('form', { hasText: 'ULINKS1' });
  const [response] = await Promise.all([tab.waitForNavigation(), row.getByRole('button', { name: 'Unlink' }).click()]);
  assert.equal(response?.status(), 200);
  const after = await tab.locator('main').innerText();
  assert.match(after, /Unlinked slack-ulinks1/);
  assert.doesNotMatch(after.replace(/Unlinked slack-ulinks1[^\n]*/, ''), /slack-ulinks1/);
  await tab.screenshot({ path: join(ARTIFACTS, 'my-links-unlinked.png') });
  assert.equal(boundTo('ULINKS1'), undefined);
  assert.equal(boundTo('ULINKS2'), 'alice');
  await tab.close();
});

test('"My Slack links": a cross-site form, another user\'s token, or someone else\'s binding changes nothing', { skip }, async () => {
  await bindThroughNginx('ULINKS3', 'alice');
  await bindThroughNginx('ULINKSC', 'bob');
  const alice = { authorization: `Basic ${Buffer.from('alice:alice-password').toString('base64')}` };
  const bob = { authorization: `Basic ${Buffer.from('bob:bob-password').toString('base64')}` };
  const csrfOf = async (auth: Record<string, string>) => /name="csrf" value="([^"]+)"/.exec((await request(`${nginx.url}/links`, { headers: auth })).body)![1]!;
  const post = (auth: Record<string, string>, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    request(`${nginx.url}/links`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded', origin: nginx.url, 'sec-fetch-site': 'same-origin', ...headers },
      body: new URLSearchParams({ decision: 'unlink', ...fields }).toString(),
    });
  const aliceCsrf = await csrfOf(alice);
  const bobCsrf = await csrfOf(bob);
  assert.equal((await post(alice, { org: 'T0001', slack_user: 'ULINKS3', csrf: bobCsrf })).status, 403, "bob's token is not alice's");
  const notYours = await post(alice, { org: 'T0001', slack_user: 'ULINKSC', csrf: aliceCsrf });
  assert.equal(notYours.status, 404);
  assert.doesNotMatch(notYours.body, /ULINKSC|bob/);
  assert.equal((await post(alice, { org: 'T0001', slack_user: 'ULINKS3', csrf: aliceCsrf }, { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' })).status, 403);
  assert.equal(boundTo('ULINKS3'), 'alice');
  assert.equal(boundTo('ULINKSC'), 'bob');

  // A real cross-site page in Chromium, holding alice's valid token, auto-submits the form.
  const page = await submitFromAnotherSite('/links', { org: 'T0001', slack_user: 'ULINKS3', csrf: aliceCsrf, decision: 'unlink' });
  assert.match(await page.locator('main').innerText(), /sent from another site and was refused/);
  assert.equal(boundTo('ULINKS3'), 'alice');
  await page.close();
  assert.equal((await request(`${nginx.url}/links`)).status, 401, 'behind the sign-in');
});

test('every page fits a 375 px phone and a desktop: named for the product, nothing wider than the screen, controls with contrast', { skip }, async () => {
  // A link made with a pending command, so the confirmation page shows all three buttons.
  slack.emails.set('UWIDTH', 'alice@corp.example');
  const body = commandBody({ user: 'UWIDTH', userName: 'a-rather-long-slack-display-name', text: 'report q3 for the whole team' });
  const link = linkFrom({ json: JSON.parse((await request(`${nginx.url}/slack/commands`, { method: 'POST', headers: signedHeaders(body), body })).body) });
  for (const [name, width] of [['375px', 375], ['desktop', 1280]] as const) {
    const tab = await context.newPage();
    await tab.setViewportSize({ width, height: 800 });
    for (const [page, url] of [['confirm', link], ['links', `${nginx.url}/links`], ['gone', `${nginx.url}/associate?nonce=${'x'.repeat(43)}`]] as const) {
      await tab.goto(url);
      assert.match(await tab.locator('main').innerText(), /^Account Binding\n/, `${page}: the product is named first`);
      const overflow: number = await tab.evaluate('document.documentElement.scrollWidth - window.innerWidth');
      assert.ok(overflow <= 0, `${page} at ${name}: ${overflow} px wider than the screen`);
      await tab.screenshot({ path: join(ARTIFACTS, `${page}-${name}.png`), fullPage: true });
    }
    await tab.goto(link);
    // WCAG's 3:1 for the boundary of every control against the page.
    // As a string: tsx would wrap named functions in a helper the page does not have.
    const ratios: number[] = await tab.evaluate(`(() => {
      const lum = (css) => {
        const [r, g, b] = (css.match(/\\d+/g) || ['0', '0', '0']).slice(0, 3).map((v) => {
          const c = Number(v) / 255;
          return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const ratio = (a, b) => {
        const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
        return (hi + 0.05) / (lo + 0.05);
      };
      return [...document.querySelectorAll('button')].map((el) => ratio(getComputedStyle(el).borderTopColor, 'rgb(255, 255, 255)'));
    })()`);
    assert.equal(ratios.length, 3, 'Link, Link and run, Cancel');
    for (const r of ratios) assert.ok(r >= 3, `a control's border has ${r.toFixed(2)}:1 contrast`);
    await tab.close();
  }
});
