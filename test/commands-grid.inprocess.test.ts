// Slash commands on Enterprise Grid, through the in-process app (real parts, real SQLite): every
// subcommand for a Grid user bound under the enterprise's key, one bound only under their
// workspace's key from before it joined the organisation (grid-migration.ts), one bound nowhere,
// and a replayed request in each of those states; code mode on and off. Each case asserts the
// outcome, the reply's gist and what the store holds afterwards: bindings, links, pending
// confirmations and the audit rows the command added.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { hashNonce, newNonce } from '../src/domain/secrets.ts';
import { commandBody, signedHeaders, slashCommand, withJson, type CommandOptions } from './support/slack.ts';
import { request } from './support/http-client.ts';
import { startApp, type InProcessApp } from './support/app.ts';
import type { SlackUser } from '../src/model.ts';

const ENTERPRISE = 'E0GRID';
/** The user's workspace, a member of the organisation; its key is theirs from before it joined. */
const WORKSPACE = 'T0GRIDWS';
const by = { actor: 'test', requestId: null, clientAddress: null };
const request0 = { command: '/acct', pendingText: null, channelId: null, responseUrl: null };

const apps: InProcessApp[] = [];
after(() => Promise.all(apps.map((a) => a.close())));

async function gridApp(codeMode: boolean): Promise<InProcessApp> {
  const app = await startApp({ LINK_VERIFICATION: codeMode ? 'code' : 'confirm', LINK_RATE_LIMIT_PER_MINUTE: '0' });
  apps.push(app);
  return app;
}

/** The Slack user under the enterprise's key (as every payload now names them), or under their workspace's (before it joined). */
const slackUser = (userId: string, key: 'enterprise' | 'workspace'): SlackUser => ({
  org: key === 'enterprise' ? ENTERPRISE : WORKSPACE,
  userId,
  teamId: WORKSPACE,
  enterpriseId: key === 'enterprise' ? ENTERPRISE : null,
  userName: userId.toLowerCase(),
  teamDomain: 'grid-ws',
});

/** A link made under `key`, its nonce's hash; completed by `internalUser` when given (a binding). */
async function linkUnder(app: InProcessApp, userId: string, key: 'enterprise' | 'workspace', internalUser?: string): Promise<Buffer> {
  const nonceHash = hashNonce(newNonce())!;
  await app.store.createLink({ user: slackUser(userId, key), request: request0, nonceHash, now: Date.now(), ttlMs: 60_000, perMinute: 0 }, by);
  if (internalUser) assert.equal((await app.store.completeLink(nonceHash, internalUser, 'confirm', Date.now(), by)).outcome, 'bound');
  return nonceHash;
}

/** What the store holds for one Slack user: each row by its key (links and pending confirmations with their workspace), audit rows as action:reason@key. */
async function held(app: InProcessApp, userId: string) {
  const rows = (table: string) =>
    app.store.db
      .prepare<[string], string>(`SELECT slack_org || '/' || slack_team_id FROM ${table} WHERE slack_user_id = ? ORDER BY 1`)
      .pluck()
      .all(userId);
  return {
    bindings: (await app.store.listBindings({ slackUser: userId })).map((b) => `${b.org}:${b.internalUser}`),
    links: rows('link_nonces'),
    pending: rows('pending_confirmations'),
    audit: (await app.store.listAudit({ slackUser: userId })).map((a) => `${a.action}${a.reason ? `:${a.reason}` : ''}@${a.org}`),
  };
}
type Held = Awaited<ReturnType<typeof held>>;

/** The outcome the request's log line names. */
const outcomeOf = (app: InProcessApp, res: { headers: Record<string, unknown> }) =>
  app.logs.find((l) => l.event === 'http' && l.request_id === res.headers['x-request-id'])?.outcome;

const grid = (user: string, text: string): CommandOptions => ({ user, text, team: WORKSPACE, enterprise: ENTERPRISE });

/** Every subcommand: help (empty and spelled out), link, whoami, unlink, confirm (with and without a code), a command to run. */
const TEXTS = ['', 'help', 'link', 'whoami', 'unlink', 'confirm 123456', 'confirm', 'report q3'] as const;

interface Expected {
  outcome: string;
  reply: RegExp;
  /** What the store holds afterwards, and the audit rows the command added. */
  after: Omit<Held, 'audit'>;
  added: string[];
}

/** A bound user (`who`, under the enterprise's key once the command ran): what each subcommand does. `moved`: the binding was under the workspace's key. */
function asBound(text: string, who: string, moved: boolean): Expected {
  const rekeyed = moved ? [`rekeyed:grid_migration@${ENTERPRISE}`] : [];
  const bound = { bindings: [`${ENTERPRISE}:${who}`], links: [], pending: [] };
  switch (text) {
    case '':
    case 'help':
      return { outcome: 'help', reply: new RegExp(`linked to \\*${who}\\*`), after: bound, added: rekeyed };
    case 'link':
      return { outcome: 'already_linked', reply: new RegExp(`already linked to ${who}`), after: bound, added: rekeyed };
    case 'whoami':
      return { outcome: 'whoami', reply: new RegExp(`linked to ${who}`), after: bound, added: rekeyed };
    case 'unlink':
      return { outcome: 'unlinked', reply: new RegExp(`Unlinked from ${who}`), after: { ...bound, bindings: [] }, added: [...rekeyed, `unlinked@${ENTERPRISE}`] };
    default:
      // A bound user's `confirm …` is the internal application's, in code mode too.
      return { outcome: 'command_ok', reply: new RegExp(`^ran ${text} as ${who}$`), after: bound, added: rekeyed };
  }
}

/** A Grid user bound nowhere: a link under the enterprise's key for what needs one, made once; nothing for help or a code. */
function asUnbound(text: string, codeMode: boolean): Expected {
  const nothing = { bindings: [], links: [], pending: [] };
  const linked = (reply: RegExp): Expected => ({
    outcome: 'link_created',
    reply,
    after: { ...nothing, links: [`${ENTERPRISE}/${WORKSPACE}`] },
    added: [`link_created@${ENTERPRISE}`],
  });
  switch (text) {
    case '':
    case 'help':
      return { outcome: 'help', reply: /not linked yet/, after: nothing, added: [] };
    case 'link':
      return linked(/Link your Slack user/);
    case 'whoami':
      return linked(/not linked to an account yet/);
    case 'unlink':
      return linked(/nothing to unlink/);
    case 'confirm 123456':
      return codeMode ? { outcome: 'code_none', reply: /no link waiting/, after: nothing, added: [] } : linked(/To run `\/acct confirm` as yourself/);
    case 'confirm':
      return codeMode ? { outcome: 'code_usage', reply: /six-digit code/, after: nothing, added: [] } : linked(/To run `\/acct confirm` as yourself/);
    default:
      return linked(/To run `\/acct report` as yourself/);
  }
}

type State = 'enterprise' | 'workspace' | 'nowhere';
const STATES: Record<State, { prefix: string; setUp(app: InProcessApp, userId: string): Promise<void>; expect(text: string, codeMode: boolean): Expected }> = {
  enterprise: {
    prefix: 'WENT',
    setUp: async (app, userId) => void (await linkUnder(app, userId, 'enterprise', 'eve')),
    expect: (text) => asBound(text, 'eve', false),
  },
  workspace: {
    prefix: 'WWS',
    setUp: async (app, userId) => void (await linkUnder(app, userId, 'workspace', 'wes')),
    expect: (text) => asBound(text, 'wes', true),
  },
  nowhere: { prefix: 'WNO', setUp: async () => {}, expect: (text, codeMode) => asUnbound(text, codeMode) },
};

for (const codeMode of [false, true]) {
  for (const [state, { prefix, setUp, expect }] of Object.entries(STATES)) {
    test(`Grid, code mode ${codeMode ? 'on' : 'off'}, a user bound ${state === 'nowhere' ? 'nowhere' : `under the ${state}'s key`}: each subcommand's outcome, reply and what the store holds after`, async () => {
      const app = await gridApp(codeMode);
      for (const [i, text] of TEXTS.entries()) {
        const userId = `${prefix}${i}`;
        await setUp(app, userId);
        const before = await held(app, userId);
        const res = await slashCommand(app.url, grid(userId, text));
        const want = expect(text, codeMode);
        const label = `${JSON.stringify(text)} (${userId})`;
        assert.equal(res.status, 200, label);
        assert.equal(outcomeOf(app, res), want.outcome, label);
        assert.match(res.json.text, want.reply, label);
        const now = await held(app, userId);
        assert.deepEqual({ ...now, audit: now.audit.slice(before.audit.length) }, { ...want.after, audit: want.added }, label);
        assert.deepEqual(now.audit.slice(0, before.audit.length), before.audit, `${label}: earlier audit rows stay`);
        const ran = app.internalApp.received.filter((r) => r.body?.slack?.user_id === userId);
        assert.equal(ran.length, want.outcome === 'command_ok' ? 1 : 0, `${label}: the internal application was called once, or not at all`);
        if (ran.length) {
          assert.equal(ran[0]!.body.internal_user, state === 'workspace' ? 'wes' : 'eve', label);
          assert.equal(ran[0]!.body.slack.enterprise_id, ENTERPRISE, label);
        }
      }
    });
  }
}

/** A signed command whose signature was claimed already (as if Slack's request had come before): a replay. */
async function replayed(app: InProcessApp, o: CommandOptions) {
  const body = commandBody(o);
  const headers = signedHeaders(body);
  assert.equal(await app.store.claimRequest(headers['x-slack-signature'], Date.now() + 300_000, Date.now()), true);
  return withJson(await request(`${app.url}/slack/commands`, { method: 'POST', headers, body }));
}

test('Grid, a replayed request in every state and for every subcommand: refused, and nothing done (nothing moved, no link, nothing run)', async () => {
  for (const codeMode of [false, true]) {
    const app = await gridApp(codeMode);
    for (const [state, { prefix, setUp }] of Object.entries(STATES)) {
      for (const [i, text] of TEXTS.entries()) {
        const userId = `R${prefix}${i}`;
        await setUp(app, userId);
        const before = await held(app, userId);
        const res = await replayed(app, grid(userId, text));
        const label = `${state} ${JSON.stringify(text)} code=${codeMode}`;
        assert.equal(res.status, 401, label);
        assert.match(res.body, /already received/, label);
        assert.deepEqual(await held(app, userId), before, `${label}: the store is as it was`);
        assert.equal(app.internalApp.received.filter((r) => r.body?.slack?.user_id === userId).length, 0, `${label}: nothing run`);
      }
    }
    // The same bytes sent twice, as an attacker would: the first makes the link, the second nothing.
    const body = commandBody(grid('WTWICE', 'link'));
    const headers = signedHeaders(body);
    const first = await request(`${app.url}/slack/commands`, { method: 'POST', headers, body });
    const second = await request(`${app.url}/slack/commands`, { method: 'POST', headers, body });
    assert.deepEqual([first.status, second.status], [200, 401]);
    assert.deepEqual(await held(app, 'WTWICE'), { bindings: [], links: [`${ENTERPRISE}/${WORKSPACE}`], pending: [], audit: [`link_created@${ENTERPRISE}`] });
  }
});

test('Grid, code mode: a code confirmation pending under the workspace key is moved at the first payload naming the enterprise; a wrong code counts against it, the right one binds', async () => {
  const app = await gridApp(true);
  const nonceHash = await linkUnder(app, 'WPEND', 'workspace');
  const shown = await app.domain.linking.confirm(nonceHash, { user: 'pam', email: null }, false, by);
  assert.equal(shown.outcome, 'code_shown');
  const code = shown.outcome === 'code_shown' ? shown.code : '';
  assert.deepEqual((await held(app, 'WPEND')).pending, [`${WORKSPACE}/${WORKSPACE}`]);

  const wrong = await slashCommand(app.url, grid('WPEND', `confirm ${code === '000000' ? '111111' : '000000'}`));
  assert.equal(outcomeOf(app, wrong), 'code_wrong');
  assert.match(wrong.json.text, /4 tries left/);
  const right = await slashCommand(app.url, grid('WPEND', `confirm ${code}`));
  assert.equal(outcomeOf(app, right), 'code_bound');
  assert.match(right.json.text, /Linked to pam/);
  assert.deepEqual(await held(app, 'WPEND'), {
    bindings: [`${ENTERPRISE}:pam`],
    links: [],
    pending: [],
    audit: [`link_created@${WORKSPACE}`, `code_issued@${WORKSPACE}`, `rekeyed:grid_migration@${ENTERPRISE}`, `verification_failed:wrong_code@${ENTERPRISE}`, `linked:code@${ENTERPRISE}`],
  });
});

test('Grid: an open link under the workspace key is moved at the first payload naming the enterprise, and binds under the enterprise key', async () => {
  const app = await gridApp(false);
  const nonceHash = await linkUnder(app, 'WOPEN', 'workspace');
  const res = await slashCommand(app.url, grid('WOPEN', 'help'));
  assert.equal(outcomeOf(app, res), 'help');
  assert.match(res.json.text, /not linked yet/);
  assert.deepEqual(await held(app, 'WOPEN'), { bindings: [], links: [`${ENTERPRISE}/${WORKSPACE}`], pending: [], audit: [`link_created@${WORKSPACE}`, `rekeyed:grid_migration@${ENTERPRISE}`] });
  assert.equal((await app.store.completeLink(nonceHash, 'olga', 'confirm', Date.now(), by)).outcome, 'bound', 'the link sent before the move still works');
  assert.deepEqual((await held(app, 'WOPEN')).bindings, [`${ENTERPRISE}:olga`]);
});
