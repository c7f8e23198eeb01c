// Sign in with Slack in a real browser (Debian's Chromium) through the real nginx running the
// shipped deploy/nginx-sso-proxy.conf: the slash command's link, the SSO sign-in (basic auth in
// nginx), "Continue with Slack", the Slack stand-in's authorization page sending the browser back
// with a code, and the binding; then the same from "My Slack links" → "Link a Slack account".
// Screenshots go to test-artifacts/ (git-ignored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import Database from 'better-sqlite3';
import type { RunningServer } from './support/server.ts';
import type { SlackStub } from './support/slack-stand-in.ts';
import type { RunningNginx } from './support/nginx.ts';
import { ARTIFACTS, skipBrowser as skip, startBrowserStack, type BrowserStack } from './support/chromium.ts';

let stack: BrowserStack;
let slack: SlackStub;
let server: RunningServer;
let nginx: RunningNginx;
let context: BrowserContext;

before(async () => {
  if (skip) return;
  stack = await startBrowserStack({ users: { alice: 'alice-password' }, height: 700, env: (slack) => ({ LINK_VERIFICATION: 'slack', SLACK_CLIENT_ID: slack.oidc.clientId, SLACK_CLIENT_SECRET: slack.oidc.clientSecret }) });
  ({ slack, server, nginx, context } = stack);
});
after(async () => {
  if (skip) return;
  await stack?.stop();
});

/** internal user and how the binding was verified, read from the server's database. */
function binding(slackUser: string): { internal_user: string; verified_by: string } | undefined {
  const db = new Database(server.databasePath, { readonly: true });
  try {
    return db.prepare('SELECT internal_user, verified_by FROM bindings WHERE slack_user_id = ?').get(slackUser) as { internal_user: string; verified_by: string } | undefined;
  } finally {
    db.close();
  }
}

test('slash command → link → SSO → "Continue with Slack" → Slack sends the browser back with a code → bound, success page, DM', { skip }, async () => {
  const link = await stack.newLink('USIWSB');
  assert.ok(link.startsWith(`${nginx.url}/associate?nonce=`));
  slack.oidc.signedInAs = { userId: 'USIWSB', teamId: 'T0001' };

  const tab = await context.newPage();
  assert.equal((await tab.goto(link))?.status(), 200);
  const text = await tab.locator('main').innerText();
  assert.match(text, /Link Slack user roadrunner \(USIWSB\) in workspace acme to your account alice\?/, 'alice, as nginx signed her in');
  assert.match(text, /verified by Sign in with Slack/);
  assert.equal(await tab.getByRole('button', { name: 'Link accounts' }).count(), 0, 'no button binds without Slack');
  await tab.screenshot({ path: join(ARTIFACTS, 'siws-confirm-page.png') });

  const authorizations = slack.oidc.authorizations.length;
  const [landed] = await Promise.all([tab.waitForURL(`${nginx.url}/associate/slack?**`), tab.getByRole('link', { name: 'Continue with Slack' }).click()]);
  void landed;
  assert.equal(slack.oidc.authorizations.length, authorizations + 1, "the browser went through Slack's authorization endpoint");
  assert.equal(slack.oidc.authorizations.at(-1)!.get('redirect_uri'), `${nginx.url}/associate/slack`);
  assert.match(await tab.locator('main').innerText(), /Your Slack account is now linked to alice/);
  await tab.screenshot({ path: join(ARTIFACTS, 'siws-linked-page.png') });
  assert.deepEqual(binding('USIWSB'), { internal_user: 'alice', verified_by: 'slack' });
  const [dm] = await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === 'USIWSB');
  assert.match(String(dm!.args.text), /linked to alice/);

  // The page has its own address, without Slack's single-use code: a reload shows it again.
  assert.match(tab.url(), /\/associate\/slack\?linked=[\w.-]+$/);
  assert.equal((await tab.reload())?.status(), 200);
  assert.match(await tab.locator('main').innerText(), /Your Slack account is now linked to alice/);

  // nginx logs the path, never the code Slack sent back.
  const code = String(slack.calls.findLast((c) => c.method === 'openid.connect.token')!.args.code);
  assert.ok(code);
  const deadline = Date.now() + 3000;
  while (!nginx.accessLog().includes('/associate/slack') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.match(nginx.accessLog(), /"GET \/associate\/slack HTTP\/1\.1" 200/);
  assert.equal(nginx.accessLog().includes(code), false);
  await tab.close();
});

test('"My Slack links" → "Link a Slack account" → Slack → "Link Slack user … to your account alice?" → Link accounts → bound', { skip }, async () => {
  slack.oidc.signedInAs = { userId: 'UWEBB', teamId: 'T0001' };
  const tab = await context.newPage();
  await tab.goto(`${nginx.url}/links`);
  await Promise.all([tab.waitForURL(`${nginx.url}/associate/slack?**`), tab.getByRole('link', { name: 'Link a Slack account' }).click()]);
  assert.match(await tab.locator('main').innerText(), /Link Slack user slack-uwebb \(UWEBB\) in workspace acme to your account alice\?/);
  assert.equal(binding('UWEBB'), undefined, 'nothing bound before the confirmation');
  await tab.screenshot({ path: join(ARTIFACTS, 'web-link-confirm-page.png') });
  // The page has its own address (Slack's single-use code is not in it): a reload, through nginx, shows it again.
  assert.match(tab.url(), /\/associate\/slack\?signed_in=[\w.-]+$/);
  const reloaded = await tab.reload();
  assert.equal(reloaded?.status(), 200);
  assert.match(await tab.locator('main').innerText(), /Link Slack user slack-uwebb \(UWEBB\) in workspace acme to your account alice\?/);
  const [response] = await Promise.all([tab.waitForNavigation(), tab.getByRole('button', { name: 'Link accounts' }).click()]);
  assert.equal(response?.status(), 200);
  assert.match(await tab.locator('main').innerText(), /Your Slack account is now linked to alice/);
  assert.deepEqual(binding('UWEBB'), { internal_user: 'alice', verified_by: 'slack' });
  await tab.goto(`${nginx.url}/links`);
  assert.match(await tab.locator('main').innerText(), /slack-uwebb \(UWEBB\) in workspace acme[\s\S]*verified by Sign in with Slack/);
  await tab.close();
});
