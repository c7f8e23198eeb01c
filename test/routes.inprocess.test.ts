// The routes in-process, over real HTTP into the app built from its real parts (test/support/app.ts):
// events, clicks, the pages behind SSO and the offboarding API, each request's outcome as the log
// line and the route's counter show it. What needs a process of its own (signals, crashes, nginx,
// Chromium) stays in the *.e2e tests.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { blockActions, eventEnvelope, linkFrom, sendEvent, sendInteraction, slashCommand } from './support/slack.ts';
import { confirm, formFields, linkAs, openLink } from './support/browser.ts';
import { form, request } from './support/http-client.ts';
import { startApp, type InProcessApp } from './support/app.ts';

const apps: InProcessApp[] = [];
after(() => Promise.all(apps.map((a) => a.close())));
const app = async (env: Record<string, string> = {}) => {
  const a = await startApp(env);
  apps.push(a);
  return a;
};

/** The request log line of the last request to `path`. */
const lastRequest = (a: InProcessApp, path: string) => a.logs.filter((l) => l.event === 'http' && l.path === path).at(-1)!;

async function bound(a: InProcessApp, user: string, internalUser: string): Promise<void> {
  const res = await linkAs(a.url, linkFrom(await slashCommand(a.url, { user, text: 'link' })), internalUser);
  assert.equal(res.status, 200, res.body);
}

test('events: a deactivated user loses their binding once; a retry is a duplicate; the counter says so', async () => {
  const a = await app();
  await bound(a, 'UGONE', 'gina');
  const envelope = eventEnvelope({ type: 'user_change', user: { id: 'UGONE', team_id: 'T0001', deleted: true } });
  const timestamp = Math.floor(Date.now() / 1000);
  assert.equal((await sendEvent(a.url, envelope, { timestamp })).status, 200);
  assert.equal(await a.store.getBinding({ org: 'T0001', userId: 'UGONE' }), undefined);
  assert.equal(lastRequest(a, '/slack/events').outcome, 'revoked');
  // A retry is signed anew; the same signature again is a replay (401).
  assert.equal((await sendEvent(a.url, envelope, { timestamp })).status, 401);
  assert.equal((await sendEvent(a.url, envelope, { timestamp: timestamp + 1 })).status, 200);
  assert.equal(lastRequest(a, '/slack/events').outcome, 'duplicate');
  assert.match(a.metrics.render(), /slack_events_total\{outcome="revoked"\} 1\n/);
  assert.match(a.metrics.render(), /bindings_revoked_total\{reason="slack_user_deactivated"\} 1/);
});

test('events: app_home_opened publishes that user\'s Home tab; url_verification answers the challenge; garbage is a 400', async () => {
  const a = await app();
  assert.equal((await sendEvent(a.url, eventEnvelope({ type: 'app_home_opened', user: 'UHOME', tab: 'home' }))).status, 200);
  const [published] = await a.slack.waitFor('views.publish');
  assert.equal(published!.args.user_id, 'UHOME');
  assert.deepEqual((await sendEvent(a.url, { type: 'url_verification', challenge: 'c-123' })).json, { challenge: 'c-123' });
  const bad = await sendEvent(a.url, { type: 'event_callback', event_id: 'Ev1' });
  assert.equal(bad.status, 400);
  assert.equal(lastRequest(a, '/slack/events').outcome, 'refused');
});

test('buttons: Unlink in the Home tab unlinks, DMs and republishes; Link my account puts a fresh link there', async () => {
  const a = await app();
  await bound(a, 'UCLICK', 'carl');
  assert.equal((await sendInteraction(a.url, blockActions({ user: 'UCLICK', actionId: 'acct.unlink', container: 'view' }))).status, 200);
  assert.equal(lastRequest(a, '/slack/interactions').outcome, 'unlink');
  await a.slack.waitFor('chat.postMessage', 1, (c) => /Unlinked from carl/.test(String(c.args.text)));
  assert.equal(await a.store.getBinding({ org: 'T0001', userId: 'UCLICK' }), undefined);
  await sendInteraction(a.url, blockActions({ user: 'UCLICK', actionId: 'acct.new_link', container: 'view' }));
  const [home] = await a.slack.waitFor('views.publish', 1, (c) => JSON.stringify(c.args.view).includes('/associate?nonce='));
  assert.equal(home!.args.user_id, 'UCLICK');
  assert.equal(lastRequest(a, '/slack/interactions').outcome, 'new_link');
});

test("buttons: the application's own button runs as the bound user; a 410 ends the binding; unbound, a link instead", async () => {
  const a = await app();
  await bound(a, 'UACT', 'ada');
  const click = (actionId: string, user = 'UACT') => sendInteraction(a.url, blockActions({ user, actionId, value: 'v9', responseUrl: a.responseUrl(`actions/${actionId}`) }));
  assert.equal((await click('approve')).status, 200);
  const [answer] = await a.hooks.waitFor(1, (r) => r.url === '/actions/approve');
  assert.match(answer!.body.text, /approve \(v9\) done by ada/);
  const [received] = await a.internalApp.waitFor(1, (r) => r.body.type === 'action');
  assert.deepEqual([received!.body.internal_user, received!.body.action.action_id, received!.body.slack.user_id], ['ada', 'approve', 'UACT']);

  await click('gone');
  await a.hooks.waitFor(1, (r) => r.url === '/actions/gone');
  assert.equal(await a.store.getBinding({ org: 'T0001', userId: 'UACT' }), undefined, 'a 410 ends the binding');
  const revoked = (await a.store.listAudit()).at(-1)!;
  assert.deepEqual([revoked.action, revoked.reason, revoked.actor], ['revoked', 'internal_user_inactive', 'internal_app']);

  await click('approve', 'UNEW');
  const prompt = (await a.hooks.waitFor(2, (r) => r.url === '/actions/approve')).at(-1);
  assert.match(prompt!.body.text, /link your account first/);
  assert.equal(a.internalApp.received.filter((r) => r.body.type === 'action').length, 2, 'nothing ran for the unbound user');
});

test('a replayed click is refused before anything runs', async () => {
  const a = await app();
  const timestamp = Math.floor(Date.now() / 1000);
  const payload = blockActions({ user: 'UREPLAY', actionId: 'acct.open_link' });
  assert.equal((await sendInteraction(a.url, payload, { timestamp })).status, 200);
  assert.equal((await sendInteraction(a.url, payload, { timestamp })).status, 401);
  assert.match(a.metrics.render(), /slack_replays_refused_total 1/);
});

test('pages: the confirmation page changes nothing; a form for another user, another site or no identity is refused with its outcome', async () => {
  const a = await app();
  const link = linkFrom(await slashCommand(a.url, { user: 'UPAGE', text: 'link' }));
  const page = await openLink(a.url, link, 'paul');
  assert.equal(page.status, 200);
  assert.equal(lastRequest(a, '/associate').outcome, 'confirm_shown');
  assert.equal(lastRequest(a, '/associate').internal_user, 'paul');
  const fields = formFields(page.body);

  assert.equal((await confirm(a.url, fields, 'mallory')).status, 403);
  assert.deepEqual([lastRequest(a, '/associate').outcome, lastRequest(a, '/associate').internal_user], ['csrf_refused', 'mallory']);
  assert.equal((await confirm(a.url, fields, 'paul', { headers: { 'sec-fetch-site': 'cross-site' } })).status, 403);
  assert.equal(lastRequest(a, '/associate').outcome, 'cross_site_refused');
  assert.equal((await confirm(a.url, fields, null)).status, 401);
  assert.equal(lastRequest(a, '/associate').outcome, 'identity_refused');
  assert.equal((await a.store.listBindings()).length, 0, 'nothing bound by any of them');

  assert.equal((await confirm(a.url, fields, 'paul')).status, 200);
  assert.equal(lastRequest(a, '/associate').outcome, 'bound');
  assert.match(a.metrics.render(), /associate_requests_total\{outcome="csrf_refused"\} 1/);
});

test('My Slack links: only the signed-in person\'s bindings, unlinked by its own form; another\'s is not_yours', async () => {
  const a = await app();
  await bound(a, 'ULISA', 'lisa');
  await bound(a, 'UMARK', 'mark');
  const page = await request(`${a.url}/links`, { headers: { 'x-forwarded-user': 'lisa' } });
  assert.match(page.body, /ULISA/);
  assert.doesNotMatch(page.body, /UMARK/);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  const post = (slackUser: string) =>
    request(`${a.url}/links`, {
      method: 'POST',
      headers: { 'x-forwarded-user': 'lisa', 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
      body: form({ org: 'T0001', slack_user: slackUser, csrf, decision: 'unlink' }),
    });
  assert.equal((await post('UMARK')).status, 404);
  assert.equal(lastRequest(a, '/links').outcome, 'not_yours');
  assert.ok(await a.store.getBinding({ org: 'T0001', userId: 'UMARK' }), "mark's binding stays");
  assert.equal((await post('ULISA')).status, 200);
  assert.deepEqual([lastRequest(a, '/links').outcome, lastRequest(a, '/links').slack_user], ['unlinked', 'ULISA']);
});

test('the offboarding API: off without a token; with one, every binding of a person revoked through the domain', async () => {
  const token = 'admin-token-0123456789abcdef0123456789abcdef';
  assert.equal((await request(`${(await app()).url}/admin/bindings?internal_user=x`)).status, 404);
  const a = await app({ ADMIN_API_TOKEN: token });
  await bound(a, 'UOLGA', 'olga');
  const url = `${a.url}/admin/bindings?internal_user=olga`;
  assert.equal((await request(url, { method: 'DELETE' })).status, 401);
  const res = await request(url, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual(JSON.parse(res.body), { internal_user: 'olga', revoked: 1, pending_confirmations_cancelled: 0 });
  assert.equal(lastRequest(a, '/admin/bindings').outcome, 'revoked');
  await a.slack.waitFor('chat.postMessage', 1, (c) => /your administrator removed it/.test(JSON.stringify(c.args.blocks)));
});
