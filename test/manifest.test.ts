// The Slack app manifest asks for exactly the scopes the code needs, no more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './support/server.ts';

const manifest = JSON.parse(readFileSync(join(ROOT, 'deploy/slack-app-manifest.json'), 'utf8'));
const socketManifest = JSON.parse(readFileSync(join(ROOT, 'deploy/slack-app-manifest.socket.json'), 'utf8'));

/** Each Web API method we call, and the bot scopes it needs (Slack's method reference). */
const SCOPES_BY_METHOD: Record<string, string[]> = {
  'chat.postMessage': ['chat:write'],
  // The Home tab needs no scope, only the App Home feature (features.app_home.home_tab_enabled).
  'views.publish': [],
  // The email field of a profile needs users:read.email on top of users:read (LINK_VERIFICATION=email).
  'users.info': ['users:read', 'users:read.email'],
};

test('the manifest declares the slash command at /slack/commands', () => {
  const [command, ...more] = manifest.features.slash_commands;
  assert.equal(more.length, 0);
  assert.equal(command.command, '/acct');
  assert.equal(new URL(command.url).pathname, '/slack/commands');
  assert.ok(manifest.display_information.name);
  assert.ok(manifest.display_information.description);
  assert.equal(manifest.settings.socket_mode_enabled, false, 'we receive HTTP requests');
});

test('the bot scopes are exactly those of the Web API methods the code calls, plus commands', () => {
  const source = readFileSync(join(ROOT, 'src/slack/api.ts'), 'utf8');
  const methods = [...source.matchAll(/client\.([a-z]+)\.([a-zA-Z]+)\(/g)].map((m) => `${m[1]}.${m[2]}`);
  assert.ok(methods.length >= 2, 'found the calls');
  for (const method of methods) assert.ok(SCOPES_BY_METHOD[method], `no scope known for ${method}: add it to this test and the manifest`);
  const needed = new Set(['commands', ...methods.flatMap((m) => SCOPES_BY_METHOD[m]!)]);
  assert.deepEqual([...manifest.oauth_config.scopes.bot].sort(), [...needed].sort());
  // No user scope. Sign in with Slack asks for `openid` in its own authorization request, which is
  // all Slack's setup needs besides the redirect URL; `openid` among the app's user scopes would give
  // whoever installs the app a user token nothing here uses, and Slack refuses Sign in with Slack
  // scopes mixed with others in one OAuth flow ("scope conflict").
  const openid = readFileSync(join(ROOT, 'src/slack/openid.ts'), 'utf8');
  assert.match(openid, /scope: 'openid'/);
  for (const m of [manifest, socketManifest]) assert.equal(m.oauth_config.scopes.user, undefined);
});

test("the manifest allows Sign in with Slack's return, /associate/slack, as the only redirect URL", () => {
  const redirects: string[] = manifest.oauth_config.redirect_urls;
  assert.equal(redirects.length, 1);
  assert.equal(new URL(redirects[0]!).pathname, '/associate/slack');
  assert.equal(new URL(redirects[0]!).origin, new URL(manifest.features.slash_commands[0].url).origin, 'on PUBLIC_BASE_URL, like the rest');
});

test('the manifest subscribes to the events that end bindings, at /slack/events, with the scopes they need', () => {
  const events = manifest.settings.event_subscriptions;
  assert.equal(new URL(events.request_url).pathname, '/slack/events');
  for (const type of ['user_change', 'app_uninstalled', 'tokens_revoked', 'team_access_revoked']) assert.ok(events.bot_events.includes(type), type);
  // user_change is only delivered with users:read.
  assert.ok(manifest.oauth_config.scopes.bot.includes('users:read'));
  const handled = readFileSync(join(ROOT, 'src/slack/event-payload.ts'), 'utf8');
  for (const type of events.bot_events) assert.match(handled, new RegExp(`case '${type}'`), `src/slack/event-payload.ts handles ${type}`);
});

test('the manifest enables the Home tab and interactivity, and subscribes to app_home_opened', () => {
  assert.equal(manifest.features.app_home.home_tab_enabled, true);
  assert.equal(new URL(manifest.settings.interactivity.request_url).pathname, '/slack/interactions');
  assert.equal(manifest.settings.interactivity.is_enabled, true);
  assert.ok(manifest.settings.event_subscriptions.bot_events.includes('app_home_opened'));
});

test('the Socket Mode manifest is the same app with socket_mode_enabled and no request URL at all', () => {
  assert.equal(socketManifest.settings.socket_mode_enabled, true);
  // Slack never calls a redirect URL: it sends the user's browser there, which reaches us through
  // the SSO proxy as /associate does. Every other URL would be Slack calling us.
  const { redirect_urls: redirects, ...oauth } = socketManifest.oauth_config;
  assert.deepEqual(redirects, manifest.oauth_config.redirect_urls);
  const urls = JSON.stringify({ ...socketManifest, oauth_config: oauth }).match(/https?:\/\/[^"]+/g) ?? [];
  assert.deepEqual(urls, [], 'nothing of ours needs to be reachable by Slack');
  // Everything else equal: the same command, scopes, events and features.
  const withoutUrls = (m: any) => {
    const copy = structuredClone(m);
    delete copy.features.slash_commands[0].url;
    delete copy.settings.event_subscriptions.request_url;
    delete copy.settings.interactivity.request_url;
    copy.settings.socket_mode_enabled = true;
    return copy;
  };
  assert.deepEqual(socketManifest, withoutUrls(manifest));
});
