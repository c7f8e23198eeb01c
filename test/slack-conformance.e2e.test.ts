// Slack's own sample payloads, as its documentation and SDKs publish them (each cited), signed and
// sent to the real server: each is answered as Slack expects (200, within its 3 seconds), and
// where it should change something (a binding, the audit trail, a Home tab, a call of the internal
// application) the change is asserted. Ids are Slack's where the sample has real-looking ones;
// where a sample has placeholders (TXXXXXXXX) our own well-formed ids stand in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from './support/http-client.ts';
import { eventEnvelope, linkFrom, sendEvent, sendInteraction, slashCommand } from './support/slack.ts';
import { linkAs } from './support/browser.ts';
import { auditTrail } from './support/audit.ts';
import { startWithStandIns, type WithStandIns } from './support/stand-ins.ts';

/** Slack's deadline for every request it sends (commands, events, interactions). */
const SLACK_WAITS_MS = 3000;

/** The server and its stand-ins: t.slack, t.app (the internal application), t.hooks (response_urls), t.server. */
let t: WithStandIns;
before(async () => {
  t = await startWithStandIns();
});
after(() => t?.stop());

/** Sends, and checks Slack's side of the exchange: a 200 within its 3 seconds. */
async function inTime<R extends { status: number }>(send: () => Promise<R>): Promise<R> {
  const started = performance.now();
  const res = await send();
  const took = performance.now() - started;
  assert.equal(res.status, 200);
  assert.ok(took < SLACK_WAITS_MS, `answered after ${Math.round(took)} ms`);
  return res;
}

/**
 * docs.slack.dev/interactivity/implementing-slash-commands, formerly api.slack.com/slash-commands ("app_command_handling": the form Slack
 * posts, with enterprise_id and enterprise_name from a Grid workspace); `is_enterprise_install` as
 * bolt-js types it (src/types/command/index.ts). trigger_id is Slack's own per command, so each
 * signed body differs.
 */
const slashSample = (text: string, more: Record<string, string> = {}) => ({
  token: 'gIkuvaNzQIHg97ATvDxqgjtO',
  team_id: 'T0001',
  team_domain: 'example',
  enterprise_id: 'E0001',
  enterprise_name: 'Globular Construct Inc',
  channel_id: 'C2147483705',
  channel_name: 'test',
  user_id: 'U2147483697',
  user_name: 'Steve',
  command: '/weather',
  text,
  response_url: `${t.hooks.url}commands/1234/5678`,
  trigger_id: `13345224609.738474920.${Date.now()}${Math.random()}`,
  api_app_id: 'A123456',
  is_enterprise_install: 'false',
  ...more,
});
const STEVE = { org: 'E0001', user: 'U2147483697' };

/** A binding made the ordinary way, for the events below to act on. */
async function bind(user: string, internalUser: string, where: { team: string; enterprise?: string }): Promise<void> {
  const done = await linkAs(t.server.url, linkFrom(await slashCommand(t.server.url, { user, text: 'link', ...where })), internalUser);
  assert.equal(done.status, 200, done.body);
}
const whoami = async (user: string, where: { team: string; enterprise?: string }) => (await slashCommand(t.server.url, { user, text: 'whoami', ...where })).json.text as string;

describe('slash commands', () => {
  test('from a Grid workspace (enterprise_id): a link, then the binding under the enterprise key', async () => {
    const prompt = await inTime(() => slashCommand(t.server.url, { extra: slashSample('link') }));
    assert.equal(prompt.json.response_type, 'ephemeral');
    assert.equal((await linkAs(t.server.url, linkFrom(prompt), 'steve')).status, 200);
    const who = await inTime(() => slashCommand(t.server.url, { extra: slashSample('whoami') }));
    assert.match(who.json.text, /linked to steve/);
    const linked = auditTrail(t.server, '--internal-user', 'steve').find((a) => a.action === 'linked')!;
    assert.deepEqual([linked.org, linked.team_id, linked.slack_user], [STEVE.org, 'T0001', STEVE.user]);
  });

  test('of an org-wide install (is_enterprise_install=true) from another workspace of the organisation: the same person', async () => {
    const who = await inTime(() => slashCommand(t.server.url, { extra: slashSample('whoami', { team_id: 'T0002', team_domain: 'other', is_enterprise_install: 'true' }) }));
    assert.match(who.json.text, /linked to steve/);
  });
});

describe('Events API', () => {
  test('url_verification (docs.slack.dev/reference/events/url_verification): the challenge, echoed', async () => {
    const sample = { token: 'Jhj5dZrVaK7ZwHHjRyZWjbDl', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P', type: 'url_verification' };
    const res = await inTime(() => sendEvent(t.server.url, sample));
    assert.equal(res.json.challenge, sample.challenge);
  });

  test('app_home_opened (api.slack.com/events/app_home_opened): the Home tab published for the bound user; the Messages tab publishes nothing', async () => {
    // The sample's event; its envelope is Slack's Events API wrapper (eventEnvelope), from a Grid workspace.
    const opened = (user: string, tab: 'home' | 'messages') => ({ type: 'app_home_opened', user, channel: 'D123ABC456', event_ts: '1515449522000016', tab });
    await inTime(() => sendEvent(t.server.url, eventEnvelope(opened(STEVE.user, 'home'), { team: 'T0001', enterprise: STEVE.org })));
    const [published] = await t.slack.waitFor('views.publish', 1, (c) => c.args.user_id === STEVE.user);
    assert.match(JSON.stringify(published!.args.view), /Linked to:\* steve/);
    await inTime(() => sendEvent(t.server.url, eventEnvelope(opened('U0MSGTAB', 'messages'), { team: 'T0001' })));
    await t.server.waitForLog((l) => l.outcome === 'ignored' && l.detail === 'app_home_opened');
    assert.equal(t.slack.calls.filter((c) => c.method === 'views.publish' && c.args.user_id === 'U0MSGTAB').length, 0);
  });

  test('user_change with deleted: true (docs.slack.dev/reference/events/user_change): the binding ends, audited', async () => {
    await bind('U0DEACT', 'dee', { team: 'T0001' });
    const user = { id: 'U0DEACT', team_id: 'T0001', name: 'dee', deleted: true, real_name: 'Dee', is_admin: false, is_bot: false, updated: 1648596421, is_email_confirmed: true };
    await inTime(() => sendEvent(t.server.url, eventEnvelope({ type: 'user_change', user, cache_ts: 1648596421, event_ts: '1648596712.000001' }, { team: 'T0001' })));
    assert.match(await whoami('U0DEACT', { team: 'T0001' }), /not linked/);
    assert.deepEqual(auditTrail(t.server, '--internal-user', 'dee').map((a) => [a.action, a.reason]).at(-1), ['revoked', 'slack_user_deactivated']);
  });

  test('tokens_revoked (docs.slack.dev/reference/events/tokens_revoked): a user token alone changes nothing; a bot token ends the workspace', async () => {
    await bind('U0TOK', 'tom', { team: 'T0TOK' });
    await inTime(() => sendEvent(t.server.url, eventEnvelope({ type: 'tokens_revoked', tokens: { oauth: ['U0TOK'] } }, { team: 'T0TOK' })));
    assert.match(await whoami('U0TOK', { team: 'T0TOK' }), /linked to \*?tom/);
    await inTime(() => sendEvent(t.server.url, eventEnvelope({ type: 'tokens_revoked', tokens: { oauth: ['U0TOK'], bot: ['U0BOT'] } }, { team: 'T0TOK' })));
    assert.match(await whoami('U0TOK', { team: 'T0TOK' }), /not linked/);
  });

  test('app_uninstalled (docs.slack.dev/reference/events/app_uninstalled): every binding of the workspace ends', async () => {
    await bind('U0UNI', 'uma', { team: 'T0UNI' });
    await inTime(() => sendEvent(t.server.url, eventEnvelope({ type: 'app_uninstalled' }, { team: 'T0UNI' })));
    assert.deepEqual(auditTrail(t.server, '--internal-user', 'uma').map((a) => [a.action, a.reason]).at(-1), ['revoked', 'app_uninstalled']);
  });

  test('team_access_revoked (docs.slack.dev/reference/events/team_access_revoked): the bindings made in the workspaces named end', async () => {
    await bind('W0TAR', 'tara', { team: 'T0TAR', enterprise: 'E0TAR' });
    await inTime(() => sendEvent(t.server.url, eventEnvelope({ type: 'team_access_revoked', team_ids: ['T0TAR', 'T0OTHER'] }, { team: 'T0KEEP', enterprise: 'E0TAR' })));
    assert.match(await whoami('W0TAR', { team: 'T0TAR', enterprise: 'E0TAR' }), /not linked/);
  });

  test('grid_migration_started, then grid_migration_finished (docs.slack.dev/reference/events/grid_migration_*): the bindings move to the enterprise', async () => {
    await bind('U0MIG', 'mig', { team: 'T0MIG' });
    await inTime(() => sendEvent(t.server.url, eventEnvelope({ type: 'grid_migration_started', enterprise_id: 'E0MIG' }, { team: 'T0MIG' })));
    assert.ok(!auditTrail(t.server, '--internal-user', 'mig').some((a) => a.action === 'rekeyed'));
    await inTime(() => sendEvent(t.server.url, eventEnvelope({ type: 'grid_migration_finished', enterprise_id: 'E0MIG' }, { team: 'T0MIG' })));
    assert.deepEqual(auditTrail(t.server, '--internal-user', 'mig').map((a) => [a.action, a.org]).at(-1), ['rekeyed', 'E0MIG']);
  });

  test('an event we do not act on (reaction_added, docs.slack.dev/reference/events/reaction_added): acknowledged, counted as ignored', async () => {
    const event = { type: 'reaction_added', user: 'U123ABC456', reaction: 'thumbsup', item_user: 'U222222222', item: { type: 'message', channel: 'C123ABC456', ts: '1360782400.498405' }, event_ts: '1360782804.083113' };
    await inTime(() => sendEvent(t.server.url, eventEnvelope(event)));
    await t.server.waitForLog((l) => l.outcome === 'ignored' && l.detail === 'reaction_added');
  });
});

describe('interactions', () => {
  /**
   * docs.slack.dev/reference/interaction-payloads/block_actions-payload (user jtorrance, action WaXA,
   * block =qXel): a button in a message (the internal application's), here from a Grid workspace
   * (`enterprise`, `is_enterprise_install`), the sample's user and team our bound user's; the
   * sample's container is a message_attachment, a Block Kit message's is `message`.
   */
  const clickSample = (container: Record<string, unknown>, action: { action_id: string; value: string }, more: Record<string, unknown> = {}) => ({
    type: 'block_actions',
    team: { id: 'T0001', domain: 'example' },
    user: { id: STEVE.user, username: 'steve', name: 'steve', team_id: 'T0001' },
    enterprise: { id: STEVE.org, name: 'Globular Construct Inc' },
    is_enterprise_install: false,
    api_app_id: 'AABA1ABCD',
    token: '9s8d9as89d8as9d8as989',
    container,
    trigger_id: `12321423423.333649436676.${Date.now()}`,
    actions: [{ ...action, block_id: '=qXel', text: { type: 'plain_text', text: 'View', emoji: true }, type: 'button', action_ts: '1548426417.840180' }],
    ...more,
  });

  test('block_actions from a message: run in the internal application as the bound user, answered at the response_url', async () => {
    const container = { type: 'message', message_ts: '1548261231.000200', channel_id: 'CBR2V3XEX', is_ephemeral: false };
    const more = { channel: { id: 'CBR2V3XEX', name: 'review-updates' }, response_url: `${t.hooks.url}actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209` };
    await inTime(() => sendInteraction(t.server.url, clickSample(container, { action_id: 'WaXA', value: 'click_me_123' }, more)));
    const [forwarded] = await t.app.waitFor(1, (r) => r.body?.type === 'action' && r.body.action.action_id === 'WaXA');
    assert.equal(forwarded!.body.internal_user, 'steve');
    const [answered] = await t.hooks.waitFor(1, (r) => r.url.startsWith('/actions/AABA1ABCD/'));
    assert.match(answered!.body.text, /WaXA \(click_me_123\) done by steve/);
  });

  test('block_actions from the App Home (a view, no response_url): our Unlink button unlinks, audited', async () => {
    const container = { type: 'view', view_id: 'V0PKB1ZFV' };
    const more = { view: { id: 'V0PKB1ZFV', team_id: 'T0001', type: 'home', blocks: [], private_metadata: '', callback_id: '', hash: '1548426417.a', app_id: 'AABA1ABCD', bot_id: 'BA13894H' } };
    await inTime(() => sendInteraction(t.server.url, clickSample(container, { action_id: 'acct.unlink', value: 'unlink' }, more)));
    await t.slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === STEVE.user && /Unlinked from steve/.test(String(c.args.text)));
    assert.deepEqual(auditTrail(t.server, '--internal-user', 'steve').map((a) => [a.action, a.org]).at(-1), ['unlinked', STEVE.org]);
  });

  test('a global shortcut (bolt-python tests/slack_bolt/request/test_internals.py): acknowledged, changes nothing', async () => {
    const shortcut = {
      type: 'shortcut',
      token: 'xxx',
      action_ts: '1606983924.521157',
      team: { id: 'T111', domain: 'ddd' },
      user: { id: 'U111', username: 'use', team_id: 'T111' },
      is_enterprise_install: false,
      enterprise: { id: 'E111', domain: 'eee' },
      callback_id: 'run-socket-mode',
      trigger_id: '111.222.xxx',
    };
    await inTime(() => sendInteraction(t.server.url, shortcut));
    await t.server.waitForLog((l) => l.outcome === 'ignored' && l.detail === 'shortcut');
    const metrics = (await request(`${t.server.url}/metrics`)).body;
    assert.match(metrics, /^slack_interactions_total\{outcome="ignored"\} 1$/m);
  });
});
