// The linking domain in-process: every operation's outcomes, on a real SQLite store, with the real
// Slack client talking to the Slack stand-in and the internal application's stand-in. No HTTP into
// the service.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { hashNonce } from '../src/domain/secrets.ts';
import type { LinkVerification, SlackUser } from '../src/model.ts';
import { parts, type Parts, type PartsOptions } from './support/app.ts';

const by = { actor: 'test', requestId: 'req-1', clientAddress: '10.0.0.9' };
const request = { command: '/acct', pendingText: null, channelId: 'C1', responseUrl: null };
const user = (userId: string, org = 'T1', enterpriseId: string | null = null): SlackUser => ({
  org,
  userId,
  teamId: enterpriseId ? `T-${userId}` : org,
  enterpriseId,
  userName: userId.toLowerCase(),
  teamDomain: 'acme',
});

const opened: Parts[] = [];
after(() => Promise.all(opened.map((p) => p.close())));

async function setup(linkVerification: LinkVerification = 'confirm', perMinute = 5, o: PartsOptions = {}) {
  const p = await parts({ LINK_VERIFICATION: linkVerification, LINK_RATE_LIMIT_PER_MINUTE: String(perMinute), BINDING_MAX_IDLE_DAYS: '30', PUBLIC_BASE_URL: 'https://link.example' }, o);
  opened.push(p);
  const { linking } = p.domain;
  /** A fresh link for `u`; its nonce's hash. */
  const start = async (u: SlackUser, pendingText: string | null = null) => {
    const started = await linking.start(u, { ...request, pendingText }, by);
    assert.equal(started.outcome, 'link_created');
    return hashNonce(new URL(started.outcome === 'link_created' ? started.url : '').searchParams.get('nonce'))!;
  };
  const actions = async () => (await p.store.listAudit()).map((a) => `${a.action}${a.reason ? `:${a.reason}` : ''}`);
  /** The DMs Slack was asked to deliver, once `count` have arrived. */
  const dms = async (count = 1) => (await p.slack.waitFor('chat.postMessage', count)).map((c) => String(c.args.text));
  return { ...p, linking, start, actions, dms };
}

test('start: a link URL under PUBLIC_BASE_URL, one live link per user, and the rate limit from the audit trail', async () => {
  const { linking, store, start, actions } = await setup('confirm', 2);
  const first = await start(user('U1'));
  const second = await start(user('U1'));
  assert.equal(await store.getLiveLink(first, Date.now()), undefined, 'the first link is replaced');
  assert.ok(await store.getLiveLink(second, Date.now()));
  assert.deepEqual(await linking.start(user('U1'), request, by), { outcome: 'link_rate_limited' });
  assert.equal((await linking.start(user('U2'), request, by)).outcome, 'link_created', 'other users are unaffected');
  assert.deepEqual(await actions(), ['link_created', 'link_created', 'link_created']);
});

test('show: confirm_shown, link_gone, already_bound; nothing changes', async () => {
  const { linking, store, start } = await setup();
  const nonceHash = await start(user('U1'));
  assert.equal((await linking.show(nonceHash)).outcome, 'confirm_shown');
  assert.equal((await linking.show(hashNonce('x'.repeat(43)))).outcome, 'link_gone');
  assert.equal((await linking.show(undefined)).outcome, 'link_gone');
  const other = await start(user('U2'));
  await store.completeLink(await start(user('U3')), 'x', 'confirm', Date.now(), by);
  assert.equal((await linking.show(other)).outcome, 'confirm_shown');
  assert.ok(await store.getLiveLink(nonceHash, Date.now()), 'showing does not consume');
});

test('confirm (confirm mode): bound once, then link_gone; a DM follows; the audit trail says how', async () => {
  const { linking, start, actions, background, dms } = await setup('confirm');
  const nonceHash = await start(user('U1'));
  const bound = await linking.confirm(nonceHash, { user: 'alice', email: null }, false, by);
  assert.equal(bound.outcome, 'bound');
  assert.equal((await linking.confirm(nonceHash, { user: 'alice', email: null }, false, by)).outcome, 'link_gone');
  await background.drain(1000);
  const sent = await dms();
  assert.equal(sent.length, 1);
  assert.match(sent[0]!, /linked to alice/);
  assert.deepEqual(await actions(), ['link_created', 'linked:confirm']);
});

test('confirm: already_bound when the identity was bound meanwhile', async () => {
  const { linking, store, start } = await setup('confirm');
  const first = await start(user('U1'));
  const page = await linking.show(first);
  assert.equal(page.outcome, 'confirm_shown');
  // Another link of the same identity is confirmed first (the first was replaced: make a new one after).
  await store.completeLink(first, 'bob', 'confirm', Date.now(), by);
  const again = await start(user('U1'));
  const result = await linking.confirm(again, { user: 'alice', email: null }, false, by);
  assert.equal(result.outcome, 'already_bound');
  assert.equal(result.outcome === 'already_bound' && result.binding.internalUser, 'bob');
});

test('confirm (email mode): bound on a match; email_mismatch, slack_email_hidden and no_email bind nothing', async () => {
  const { linking, slack, store, start, actions } = await setup('email');
  slack.emails.set('U1', 'Alice@Corp.example');
  assert.equal((await linking.confirm(await start(user('U1')), { user: 'alice', email: 'alice@corp.example' }, false, by)).outcome, 'bound');

  slack.emails.set('U2', 'mallory@corp.example');
  const forwarded = await start(user('U2'));
  assert.equal((await linking.confirm(forwarded, { user: 'victim', email: 'victim@corp.example' }, false, by)).outcome, 'email_mismatch');
  assert.equal(await store.getLiveLink(forwarded, Date.now()), undefined, 'a mismatch voids the link');

  const hidden = await start(user('U3'));
  assert.equal((await linking.confirm(hidden, { user: 'carol', email: 'carol@corp.example' }, false, by)).outcome, 'slack_email_hidden');

  const noEmail = await start(user('U4'));
  assert.equal((await linking.confirm(noEmail, { user: 'dan', email: null }, false, by)).outcome, 'no_email');
  assert.ok(await store.getLiveLink(noEmail, Date.now()), 'no email from the proxy leaves the link live');

  for (const id of ['U2', 'U3', 'U4']) assert.equal(await store.getBinding(user(id)), undefined);
  assert.deepEqual((await actions()).filter((a) => !a.startsWith('link_created')), [
    'linked:email',
    'verification_failed:email_mismatch',
    'verification_failed:slack_email_hidden',
  ]);
});

test('confirm (email mode): Slack unavailable fails closed and keeps the link', async () => {
  const { linking, slack, store, start } = await setup('email');
  slack.on('users.info', () => ({ body: { ok: false, error: 'fatal_error' } }));
  const nonceHash = await start(user('U1'));
  assert.equal((await linking.confirm(nonceHash, { user: 'alice', email: 'alice@corp.example' }, false, by)).outcome, 'slack_unavailable');
  assert.ok(await store.getLiveLink(nonceHash, Date.now()));
});

test('confirm (code mode) then confirmCode: code_shown, code_wrong, code_bound, and the other outcomes', async () => {
  const { linking, store, start, actions } = await setup('code');
  const shown = await linking.confirm(await start(user('U1')), { user: 'alice', email: null }, false, by);
  assert.equal(shown.outcome, 'code_shown');
  const code = shown.outcome === 'code_shown' ? shown.code : '';
  assert.match(code, /^\d{6}$/);
  const wrong = code === '000000' ? '111111' : '000000';
  assert.deepEqual(await linking.confirmCode(user('U1'), wrong, by), { outcome: 'code_wrong', attemptsLeft: 4 });
  assert.equal((await linking.confirmCode(user('U1'), code, by)).outcome, 'code_bound');
  assert.equal((await linking.confirmCode(user('U1'), code, by)).outcome, 'code_none');
  assert.equal((await store.getBinding(user('U1')))?.internalUser, 'alice');

  // Five wrong codes void it.
  const again = await linking.confirm(await start(user('U2')), { user: 'bob', email: null }, false, by);
  assert.equal(again.outcome, 'code_shown');
  for (let i = 0; i < 4; i++) assert.equal((await linking.confirmCode(user('U2'), wrong, by)).outcome, 'code_wrong');
  assert.equal((await linking.confirmCode(user('U2'), wrong, by)).outcome, 'code_void');

  // Expired.
  const late = await linking.confirm(await start(user('U3')), { user: 'cat', email: null }, false, by);
  store.db.prepare("UPDATE pending_confirmations SET expires_at = 0 WHERE slack_user_id = 'U3'").run();
  assert.equal((await linking.confirmCode(user('U3'), late.outcome === 'code_shown' ? late.code : '', by)).outcome, 'code_expired');
  assert.ok((await actions()).includes('verification_failed:attempts_exhausted'));
  assert.ok((await actions()).includes('linked:code'));
});

test('a completed binding voids the identity\'s other open link (code mode: a newer link made meanwhile)', async () => {
  const { linking, store, start } = await setup('code');
  const shown = await linking.confirm(await start(user('U1')), { user: 'alice', email: null }, false, by);
  const newer = await start(user('U1'));
  assert.equal((await linking.confirmCode(user('U1'), shown.outcome === 'code_shown' ? shown.code : '', by)).outcome, 'code_bound');
  assert.equal(await store.getLiveLink(newer, Date.now()), undefined, 'the newer link no longer works');
});

test('cancel: cancelled once, then link_gone; audited', async () => {
  const { linking, start, actions } = await setup();
  const nonceHash = await start(user('U1'));
  assert.equal((await linking.cancel(nonceHash, by)).outcome, 'cancelled');
  assert.equal((await linking.cancel(nonceHash, by)).outcome, 'link_gone');
  assert.deepEqual(await actions(), ['link_created', 'link_cancelled']);
});

test('unlink: unlinked, then not_linked; audited with its actor', async () => {
  const { linking, store, start } = await setup();
  await linking.confirm(await start(user('U1')), { user: 'alice', email: null }, false, by);
  assert.equal((await linking.unlink(user('U1'), { ...by, actor: 'slack:U1' })).outcome, 'unlinked');
  assert.equal((await linking.unlink(user('U1'), by)).outcome, 'not_linked');
  const last = (await store.listAudit()).at(-1)!;
  assert.deepEqual([last.action, last.actor, last.internalUser, last.slackUser, last.requestId], ['unlinked', 'slack:U1', 'alice', 'U1', 'req-1']);
});

test('revoke: one identity, a team, an enterprise, or every binding of a person, with their links and pending codes', async () => {
  const { linking, domain, store, start, actions } = await setup('confirm');
  const bind = async (u: SlackUser, internalUser: string) => linking.confirm(await start(u), { user: internalUser, email: null }, false, by);
  await bind(user('U1', 'T1'), 'alice');
  await bind(user('U2', 'T1'), 'bob');
  await bind(user('U3', 'T2'), 'alice');
  await bind(user('U4', 'E1', 'E1'), 'carol');
  await bind(user('U5', 'E1', 'E1'), 'dan');
  await start(user('U6', 'T1')); // an open link in T1

  assert.deepEqual((await domain.revocation.revoke({ identity: user('U2', 'T1') }, 'slack_user_deactivated', by)).bindings.map((b) => b.userId), ['U2']);
  const team = await domain.revocation.revoke({ teamId: 'T1' }, 'app_uninstalled', by);
  assert.deepEqual([team.bindings.map((b) => b.userId), team.links], [['U1'], 1]);
  assert.deepEqual((await domain.revocation.revoke({ enterpriseId: 'E1' }, 'team_access_revoked', by)).bindings.map((b) => b.userId).sort(), ['U4', 'U5']);
  assert.deepEqual((await domain.revocation.revoke({ internalUser: 'alice' }, 'admin_api', by)).bindings.map((b) => b.userId), ['U3']);
  assert.deepEqual(await store.listBindings(), []);
  assert.deepEqual((await actions()).filter((a) => a.startsWith('revoked') || a.startsWith('link_cancelled')), [
    'revoked:slack_user_deactivated',
    'revoked:app_uninstalled',
    'link_cancelled:app_uninstalled',
    'revoked:team_access_revoked',
    'revoked:team_access_revoked',
    'revoked:admin_api',
  ]);
});

test('a failed audit write leaves the change undone', async () => {
  const { linking, domain, store, start } = await setup();
  await linking.confirm(await start(user('U1')), { user: 'alice', email: null }, false, by);
  store.db.exec("CREATE TEMP TRIGGER no_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit is full'); END");
  await assert.rejects(linking.unlink(user('U1'), by), /audit is full/);
  await assert.rejects(domain.revocation.revoke({ internalUser: 'alice' }, 'admin_api', by), /audit is full/);
  assert.equal((await store.getBinding(user('U1')))?.internalUser, 'alice', 'the binding is still there');
});

test('with no room for background work, nobody is told that an answer or a command is on its way', async () => {
  const { domain, responseUrl } = await setup('confirm', 5, { maxBackground: 0 });
  const binding = { ...user('U1'), internalUser: 'alice', createdAt: Date.now(), verifiedBy: null, lastUsedAt: null };
  // The internal application's stand-in takes 5 s for "slow 5000": longer than Slack waits.
  const cmd = { command: '/acct', text: 'slow 5000', channelId: 'C1', responseUrl: responseUrl() };
  const answer = await domain.runAsUser.answer(binding, cmd, 'req-2');
  assert.equal(answer.outcome, 'command_undeliverable');
  assert.match(answer.message?.text ?? '', /too busy right now to deliver its answer later/);
  assert.doesNotMatch(answer.message?.text ?? '', /will appear here/);
  const link = { ...user('U1'), ...request, responseUrl: responseUrl(), pendingText: 'report', createdAt: Date.now(), expiresAt: Date.now() + 1000 };
  assert.deepEqual(domain.runAsUser.runPending(binding, link, 'req-3'), { again: '/acct report' }, 'the DM says to run it again');
});

test('BINDING_MAX_IDLE_DAYS: the purge revokes bindings unused that long (reason idle), DMs them, republishes their Home', async () => {
  const { linking, domain, store, start, slack, background, actions, dms } = await setup('confirm');
  await linking.confirm(await start(user('UIDLE')), { user: 'ida', email: null }, false, by);
  await linking.confirm(await start(user('UBUSY')), { user: 'bo', email: null }, false, by);
  const day = 86_400_000;
  store.db.prepare("UPDATE bindings SET created_at = ?, last_used_at = ? WHERE slack_user_id = 'UIDLE'").run(Date.now() - 90 * day, Date.now() - 31 * day);
  store.db.prepare("UPDATE bindings SET created_at = ?, last_used_at = ? WHERE slack_user_id = 'UBUSY'").run(Date.now() - 90 * day, Date.now() - 29 * day);
  await background.drain(1000);
  const homesBefore = slack.calls.filter((c) => c.method === 'views.publish').length;
  const purged = await domain.revocation.purge(Date.now());
  assert.deepEqual(purged.idle.map((b) => b.userId), ['UIDLE']);
  assert.equal(await store.getBinding(user('UIDLE')), undefined);
  assert.ok(await store.getBinding(user('UBUSY')));
  assert.ok((await actions()).includes('revoked:idle'));
  await background.drain(1000);
  assert.match((await dms(3)).at(-1)!, /no longer linked to ida/);
  const homes = slack.calls.filter((c) => c.method === 'views.publish').slice(homesBefore);
  assert.deepEqual(homes.map((c) => c.args.user_id), ['UIDLE'], 'only the revoked user\'s Home tab is republished');
});

/** linking started on the web, in-process: "Link a Slack account" → the stand-in signs in as `who` → back to the domain. */
async function webSignIn(p: Awaited<ReturnType<typeof setup>>, internalUser: string, who: { userId: string; teamId: string; enterpriseId?: string }) {
  const authorize = await p.linking.webAuthorizeUrl(internalUser);
  assert.ok(authorize);
  p.slack.oidc.signedInAs = who;
  const res = await fetch(authorize, { redirect: 'manual' });
  const back = new URL(res.headers.get('location')!);
  const identity = { user: internalUser, email: null };
  const result = await p.linking.slackReturned({ code: back.searchParams.get('code'), state: back.searchParams.get('state'), error: null }, identity, by);
  return { authorize: new URL(authorize), result, identity };
}

test('linking started on the web, Enterprise Grid (org-wide install): any workspace of the organisation, keyed by the enterprise; another enterprise refused', async () => {
  const grid = { teamId: 'T0GA', enterpriseId: 'E0GRID', domain: 'grid-a' };
  const p = await setup('email', 0, { workspace: grid, signIn: true });
  const { authorize, result } = await webSignIn(p, 'alice', { userId: 'WGRID1', teamId: 'T0GB', enterpriseId: 'E0GRID' });
  assert.equal(authorize.searchParams.get('team'), 'T0GA', "the install's workspace as the hint");
  assert.equal(result.outcome, 'slack_signed_in');
  if (result.outcome !== 'slack_signed_in') return;
  assert.deepEqual([result.link.org, result.link.enterpriseId, result.link.teamId, result.link.teamDomain], ['E0GRID', 'E0GRID', 'T0GB', 'T0GB']);
  const page = await p.linking.webConfirmation(result.ticket, { user: 'alice', email: null }, null);
  assert.equal(page.outcome, 'confirm_shown');
  if (page.outcome !== 'confirm_shown') return;
  const bound = await p.linking.confirm(Buffer.from(page.linkHash, 'base64url'), { user: 'alice', email: null }, false, by, page.proof);
  assert.equal(bound.outcome, 'bound');
  assert.deepEqual(await p.store.getBinding({ org: 'E0GRID', userId: 'WGRID1' }).then((b) => [b?.internalUser, b?.verifiedBy]), ['alice', 'slack']);
  // The install's own workspace without an enterprise claim: the same organisation.
  const own = await webSignIn(p, 'bob', { userId: 'WGRID2', teamId: 'T0GA' });
  assert.equal(own.result.outcome === 'slack_signed_in' && own.result.link.org, 'E0GRID');
  assert.equal(own.result.outcome === 'slack_signed_in' && own.result.link.teamDomain, 'grid-a');
  // Another enterprise, or a workspace outside any: refused, nothing made.
  assert.equal((await webSignIn(p, 'carol', { userId: 'WGRID3', teamId: 'T0GB', enterpriseId: 'E0OTHER' })).result.outcome, 'slack_workspace_refused');
  assert.equal((await webSignIn(p, 'carol', { userId: 'WGRID3', teamId: 'T0LONE' })).result.outcome, 'slack_workspace_refused');
  assert.equal((await p.store.listAudit({ slackUser: 'WGRID3' })).length, 0);
});
