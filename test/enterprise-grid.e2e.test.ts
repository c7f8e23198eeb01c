// Slack as large companies run it, against the real server on each backend: Enterprise Grid
// payloads shaped as Slack's documentation shows them (cited per test), org-wide installs, the
// enterprise named in a click only by its team, events that must not reach across workspaces, and
// Slack's 429s on the calls we make.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from './support/http-client.ts';
import { BACKENDS, CONFIRM_ONLY, startServer, type RunningServer } from './support/server.ts';
import { auditTrail } from './support/audit.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { blockActions, eventEnvelope, linkFrom, newEventId, sendEvent, sendInteraction, slashCommand } from './support/slack.ts';
import { linkAs } from './support/browser.ts';
import { APP_TOKEN, startInternalApp, startResponseCatcher, type TestHttpServer } from './support/internal-app.ts';
import { requiresPostgres } from './support/postgres.ts';

const skips = { sqlite: false, postgres: await requiresPostgres() } as const;

let slack: SlackStub;
let app: TestHttpServer;
let hooks: TestHttpServer;
before(async () => {
  [slack, app, hooks] = await Promise.all([startSlackStub(), startInternalApp(), startResponseCatcher()]);
});
after(async () => {
  await Promise.all([slack?.close(), app?.close(), hooks?.close()]);
});

/** An Events API envelope as Slack sends it to an app installed org-wide on a Grid organisation:
 * no team, the enterprise, and the installation in `authorizations` (docs.slack.dev,
 * "Organization-ready apps: changes to APIs", the event payload with `authorizations`). */
const orgWideEnvelope = (enterprise: string, event: Record<string, unknown>) => ({
  token: 'XXYYZZ',
  enterprise_id: enterprise,
  api_app_id: 'A0001',
  event,
  type: 'event_callback',
  event_id: newEventId(),
  event_time: Math.floor(Date.now() / 1000),
  authorizations: [{ enterprise_id: enterprise, team_id: null, user_id: 'W0BOT', is_bot: true, is_enterprise_install: true }],
});

for (const backend of BACKENDS) {
  describe(`on ${backend}`, { skip: skips[backend] }, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer({
        backend,
        slackApiUrl: slack.url,
        env: { ...CONFIRM_ONLY, SLACK_RESPONSE_URL_ALLOW: hooks.url, INTERNAL_APP_URL: `${app.url}cmd`, INTERNAL_APP_TOKEN: APP_TOKEN, LINK_RATE_LIMIT_PER_MINUTE: '0' },
      });
    });
    after(async () => {
      await server?.stop();
      await server?.dropDatabase();
    });
    // Each backend its own ids: the stand-ins are shared.
    const id = (name: string) => `${backend === 'sqlite' ? 'S' : 'P'}${name}`;
    const bind = async (user: string, internalUser: string, o: { team: string; enterprise?: string }) => {
      const done = await linkAs(server.url, linkFrom(await slashCommand(server.url, { user, text: 'link', ...o })), internalUser);
      assert.equal(done.status, 200, done.body);
    };
    const whoami = async (user: string, o: { team: string; enterprise?: string }) =>
      (await slashCommand(server.url, { user, text: 'whoami', ...o })).json.text as string;
    const audit = (internalUser: string) => auditTrail(server, '--internal-user', internalUser);

    test('an org-wide uninstall (enterprise_id, no team_id, is_enterprise_install only in authorizations) ends every binding of the organisation', async () => {
      const [ent, other] = [`E${id('ORGA')}`, `E${id('ORGB')}`];
      await bind(`W${id('A1')}`, 'ann', { team: 'T0WS1', enterprise: ent });
      await bind(`W${id('A2')}`, 'abe', { team: 'T0WS2', enterprise: ent });
      await bind(`W${id('B1')}`, 'bea', { team: 'T0WS3', enterprise: other });
      const res = await sendEvent(server.url, orgWideEnvelope(ent, { type: 'app_uninstalled' }));
      assert.equal(res.status, 200, res.body);
      assert.match(await whoami(`W${id('A1')}`, { team: 'T0WS1', enterprise: ent }), /not linked/);
      assert.match(await whoami(`W${id('A2')}`, { team: 'T0WS2', enterprise: ent }), /not linked/);
      assert.match(await whoami(`W${id('B1')}`, { team: 'T0WS3', enterprise: other }), /linked to \*?bea/, 'another organisation keeps its bindings');
      assert.deepEqual(audit('ann').map((a) => [a.action, a.reason]).at(-1), ['revoked', 'app_uninstalled']);
    });

    test('an org-wide bot token revoked ends the organisation; a user token revoked does not', async () => {
      const ent = `E${id('TOK')}`;
      await bind(`W${id('T1')}`, 'tod', { team: 'T0WS4', enterprise: ent });
      await sendEvent(server.url, orgWideEnvelope(ent, { type: 'tokens_revoked', tokens: { oauth: [`W${id('T1')}`] } }));
      assert.match(await whoami(`W${id('T1')}`, { team: 'T0WS4', enterprise: ent }), /linked to \*?tod/);
      assert.equal((await sendEvent(server.url, orgWideEnvelope(ent, { type: 'tokens_revoked', tokens: { bot: ['W0BOT'] } }))).status, 200);
      assert.match(await whoami(`W${id('T1')}`, { team: 'T0WS4', enterprise: ent }), /not linked/);
      assert.deepEqual(audit('tod').map((a) => [a.action, a.reason]).at(-1), ['revoked', 'tokens_revoked']);
    });

    test("team_access_revoked (Slack's sample: team_ids in the event, the enterprise at the top) ends the bindings made in those workspaces only", async () => {
      // docs.slack.dev/reference/events/team_access_revoked
      const ent = `E${id('ACC')}`;
      await bind(`W${id('C1')}`, 'cat', { team: 'T0GONE', enterprise: ent });
      await bind(`W${id('C2')}`, 'cid', { team: 'T0KEPT', enterprise: ent });
      const res = await sendEvent(server.url, {
        token: 'XXYYZZ',
        team_id: 'T0KEPT',
        enterprise_id: ent,
        api_app_id: 'A0001',
        event: { type: 'team_access_revoked', team_ids: ['T0GONE'] },
        type: 'event_callback',
        authorizations: [{ enterprise_id: ent, team_id: 'T0KEPT', is_bot: false, is_enterprise_install: false }],
        event_id: newEventId(),
        event_time: Math.floor(Date.now() / 1000),
      });
      assert.equal(res.status, 200);
      assert.match(await whoami(`W${id('C1')}`, { team: 'T0GONE', enterprise: ent }), /not linked/);
      assert.match(await whoami(`W${id('C2')}`, { team: 'T0KEPT', enterprise: ent }), /linked to \*?cid/);
    });

    test('a click that names the enterprise only as team.enterprise_id is the bound Grid user: forwarded to the internal application as them', async () => {
      const ent = `E${id('CLK')}`;
      const user = `W${id('K1')}`;
      await bind(user, 'kim', { team: 'T0WSK', enterprise: ent });
      const click = blockActions({ user, team: 'T0WSK', actionId: 'approve', value: 'r-1', responseUrl: `${hooks.url}actions/grid` });
      // Slack's block_actions from a Grid workspace: `team: {id, domain, enterprise_id, enterprise_name}`, `enterprise` absent.
      const payload = { ...click, team: { ...click.team, enterprise_id: ent, enterprise_name: 'Acme Grid' }, user: { ...click.user, team_id: 'T0WSK' } };
      const res = await sendInteraction(server.url, payload);
      assert.equal(res.status, 200, res.body);
      const [forwarded] = await app.waitFor(1, (r) => r.body?.type === 'action' && r.body.slack?.user_id === user);
      assert.equal(forwarded!.body.internal_user, 'kim');
      assert.equal(forwarded!.body.slack.enterprise_id, ent);
    });

    test('a workspace migrates into a Grid org: grid_migration_started does nothing, grid_migration_finished moves its bindings to the enterprise key, audited', async () => {
      // docs.slack.dev/reference/events/grid_migration_started and …/grid_migration_finished: the
      // envelope's team_id is the migrating workspace, the event's enterprise_id the organisation.
      const [team, ent] = [`T${id('MIG')}`, `E${id('MIG')}`];
      await bind(`U${id('M1')}`, 'mia', { team });
      await bind(`U${id('M2')}`, 'max', { team });
      const started = await sendEvent(server.url, eventEnvelope({ type: 'grid_migration_started', enterprise_id: ent }, { team }));
      assert.equal(started.status, 200);
      assert.match(await whoami(`U${id('M1')}`, { team }), /linked to \*?mia/, 'still under the workspace key');
      assert.ok(!audit('mia').some((a) => a.action === 'rekeyed'), 'started moves nothing');

      const finished = await sendEvent(server.url, eventEnvelope({ type: 'grid_migration_finished', enterprise_id: ent }, { team }));
      assert.equal(finished.status, 200);
      assert.match(await whoami(`U${id('M1')}`, { team, enterprise: ent }), /linked to \*?mia/);
      assert.match(await whoami(`U${id('M2')}`, { team, enterprise: ent }), /linked to \*?max/);
      const last = audit('max').at(-1)!;
      assert.deepEqual([last.action, last.reason, last.org, last.team_id, last.actor], ['rekeyed', 'grid_migration', ent, team, 'slack_event']);
      // An envelope naming another enterprise than its event: nothing moved (#24 item 8).
      const [team2, ent2] = [`T${id('MIG2')}`, `E${id('MIG2')}`];
      await bind(`U${id('M3')}`, 'mo', { team: team2 });
      const inconsistent = await sendEvent(server.url, eventEnvelope({ type: 'grid_migration_finished', enterprise_id: `E${id('OTHER')}` }, { team: team2, enterprise: ent2 }));
      assert.equal(inconsistent.status, 200);
      assert.ok(!audit('mo').some((a) => a.action === 'rekeyed'), 'not moved to an enterprise its envelope does not name');
      await server.waitForLog((l) => l.event === 'slack_event_unusable' && /another enterprise than its envelope/.test(String(l.reason)));
      const unknown = await sendEvent(server.url, eventEnvelope({ type: 'grid_migration_finished', enterprise_id: `E${id('NEW')}` }, { team: `T${id('NEW')}` }));
      assert.equal(unknown.status, 200, 'an enterprise we never saw: nothing to move, no error');
      const metrics = (await request(`${server.url}/metrics`)).body;
      assert.match(metrics, /^slack_events_total\{outcome="rekeyed"\} 1$/m);
      assert.match(metrics, /^slack_events_total\{outcome="nothing_to_rekey"\} 1$/m);
    });

    test('a migrated user whose event never came: their first payload naming the enterprise finds their workspace binding and moves it', async () => {
      const [team, ent] = [`T${id('FB')}`, `E${id('FB')}`];
      await bind(`U${id('F1')}`, 'fay', { team });
      assert.match(await whoami(`U${id('F1')}`, { team, enterprise: ent }), /linked to \*?fay/);
      assert.deepEqual(audit('fay').map((a) => [a.action, a.reason, a.org]).at(-1), ['rekeyed', 'grid_migration', ent]);
      assert.match(await whoami(`U${id('F1')}`, { team, enterprise: ent }), /linked to \*?fay/, 'and from then on under the enterprise key');
    });

    test('a code confirmation pending under the workspace key when it joins the org: the code typed from a payload naming the enterprise binds, whether the event or that payload moved it', async () => {
      const codeServer = await startServer({ backend, slackApiUrl: slack.url, env: { LINK_VERIFICATION: 'code', LINK_RATE_LIMIT_PER_MINUTE: '0' } });
      try {
        const [team, ent, user] = [`T${id('PC')}`, `E${id('PC')}`, `U${id('P1')}`];
        /** Confirmed on the web before the workspace joined the organisation: the code waits under the workspace's key. */
        const codeFor = async (slackUser: string, internalUser: string) => {
          const confirmed = await linkAs(codeServer.url, linkFrom(await slashCommand(codeServer.url, { user: slackUser, text: 'link', team })), internalUser);
          const code = /\/acct confirm (\d{6})/.exec(confirmed.body)?.[1];
          assert.ok(code, confirmed.body);
          return code;
        };
        const [code, laterCode] = [await codeFor(user, 'pat'), await codeFor(`U${id('P2')}`, 'pia')];
        // The workspace joins; the first payload naming the enterprise comes before the event: it moves the confirmation.
        const typed = await slashCommand(codeServer.url, { user, text: `confirm ${code}`, team, enterprise: ent });
        assert.match(typed.json.text, /Linked to pat/);
        assert.match((await slashCommand(codeServer.url, { user, text: 'whoami', team, enterprise: ent })).json.text, /linked to \*?pat/);
        assert.deepEqual(
          auditTrail(codeServer, '--internal-user', 'pat').map((a) => [a.action, a.reason, a.org, a.team_id]),
          [
            ['code_issued', null, team, team],
            ['rekeyed', 'grid_migration', ent, team],
            ['linked', 'code', ent, team],
          ],
        );
        // Then the event moves the others' (their codes' HMACs name the workspace all the same).
        assert.equal((await sendEvent(codeServer.url, eventEnvelope({ type: 'grid_migration_finished', enterprise_id: ent }, { team }))).status, 200);
        assert.match((await slashCommand(codeServer.url, { user: `U${id('P2')}`, text: `confirm ${laterCode}`, team, enterprise: ent })).json.text, /Linked to pia/);
        assert.deepEqual(
          auditTrail(codeServer, '--internal-user', 'pia').map((a) => [a.action, a.org, a.actor]).slice(1),
          [
            ['rekeyed', ent, 'slack_event'],
            ['linked', ent, `slack:U${id('P2')}`],
          ],
        );
      } finally {
        await codeServer.stop();
        await codeServer.dropDatabase();
      }
    });

    test('nothing bound twice: a person bound under both keys keeps the newer binding; the older is revoked, audited', async () => {
      const [team, ent, user] = [`T${id('DUP')}`, `E${id('DUP')}`, `U${id('D1')}`];
      await bind(user, 'old-dan', { team, enterprise: ent });
      await bind(user, 'dan', { team });
      await sendEvent(server.url, eventEnvelope({ type: 'grid_migration_finished', enterprise_id: ent }, { team }));
      assert.match(await whoami(user, { team, enterprise: ent }), /linked to \*?dan/);
      assert.deepEqual(audit('old-dan').map((a) => [a.action, a.reason]).at(-1), ['revoked', 'grid_migration']);
      assert.deepEqual(audit('dan').map((a) => [a.action, a.reason]).at(-1), ['rekeyed', 'grid_migration']);
      await server.waitForLog((l) => l.event === 'binding_revoked' && l.reason === 'grid_migration' && l.internal_user === 'old-dan');
      assert.match((await request(`${server.url}/metrics`)).body, /^bindings_revoked_total\{reason="grid_migration"\} 1$/m);
    });

    test('bad Grid input: an org-wide event naming no enterprise, a deactivation from another workspace; 200, logged, nothing changed', async () => {
      const user = `U${id('X1')}`;
      await bind(user, 'xia', { team: 'T0HOME' });
      const noEnterprise = orgWideEnvelope('E0IGNORED', { type: 'app_uninstalled' });
      delete (noEnterprise as Partial<typeof noEnterprise>).enterprise_id;
      noEnterprise.authorizations = [{ enterprise_id: null as never, team_id: null, user_id: 'W0BOT', is_bot: true, is_enterprise_install: true }];
      const first = await sendEvent(server.url, noEnterprise);
      assert.equal(first.status, 200, 'Slack would send the same again: no point refusing');
      // An event delivered for workspace T0ELSE naming a user of T0HOME (outside Grid): not ours to act on.
      const foreign = {
        token: 'XXYYZZ',
        team_id: 'T0ELSE',
        api_app_id: 'A0001',
        event: { type: 'user_change', user: { id: user, team_id: 'T0HOME', deleted: true } },
        type: 'event_callback',
        event_id: newEventId(),
        event_time: Math.floor(Date.now() / 1000),
      };
      assert.equal((await sendEvent(server.url, foreign)).status, 200);
      // A migration naming a malformed enterprise: not a key anything may move to, whatever the envelope says.
      const badMigration = eventEnvelope({ type: 'grid_migration_finished', enterprise_id: 'e-not-an-id' }, { team: 'T0HOME', enterprise: 'E0ENVELOPE' });
      assert.equal((await sendEvent(server.url, badMigration)).status, 200);
      assert.match(await whoami(user, { team: 'T0HOME' }), /linked to \*?xia/);
      await server.waitForLog((l) => l.event === 'slack_event_unusable' && /grid_migration_finished/.test(String(l.reason)));
      await server.waitForLog((l) => l.event === 'slack_event_unusable' && /another workspace/.test(String(l.reason)));
      const metrics = (await request(`${server.url}/metrics`)).body;
      assert.match(metrics, /^slack_events_total\{outcome="unusable"\} [2-9]/m);
    });

    test("app_home_opened delivered for another workspace is keyed by its envelope: it shows nothing of the binding in the user's home workspace", async () => {
      const user = `U${id('H1')}`;
      await bind(user, 'hal', { team: 'T0HHOME' });
      const published = (await slack.waitFor('views.publish', 1, (c) => c.args.user_id === user)).length;
      const foreign = {
        token: 'XXYYZZ', team_id: 'T0HELSE', api_app_id: 'A0001', type: 'event_callback', event_id: newEventId(), event_time: Math.floor(Date.now() / 1000),
        event: { type: 'app_home_opened', user, channel: 'D0001', tab: 'home', view: { team_id: 'T0HHOME' } },
      };
      assert.equal((await sendEvent(server.url, foreign)).status, 200);
      const calls = await slack.waitFor('views.publish', published + 1, (c) => c.args.user_id === user);
      const home = JSON.stringify(calls.at(-1)!.args.view);
      assert.match(home, /not linked yet/);
      assert.doesNotMatch(home, /\bhal\b/);
      assert.match(await whoami(user, { team: 'T0HHOME' }), /linked to \*?hal/, 'and nothing changed');
    });
  });
}

describe("Slack's 429s on the calls we make", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ slackApiUrl: slack.url, env: { ...CONFIRM_ONLY, LINK_RATE_LIMIT_PER_MINUTE: '0' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('a DM answered 429 is sent once Retry-After has passed, and counted', async () => {
    const user = 'URATE1';
    let limitedAt = 0;
    slack.on('chat.postMessage', (args) => {
      if (args.channel === user && !limitedAt) {
        limitedAt = Date.now();
        return { status: 429, headers: { 'retry-after': '1' }, body: { ok: false, error: 'ratelimited' } };
      }
      return { body: { ok: true, channel: args.channel, ts: `${Date.now() / 1000}` } };
    });
    await linkAs(server.url, linkFrom(await slashCommand(server.url, { user, text: 'link' })), 'rae');
    const sent = await slack.waitFor('chat.postMessage', 2, (c) => c.args.channel === user);
    assert.equal(sent.length, 2, 'refused once, then sent');
    assert.match(String(sent[1]!.args.text), /now linked to rae/);
    const metrics = (await request(`${server.url}/metrics`)).body;
    assert.match(metrics, /^slack_rate_limited_total\{method="chat.postMessage",outcome="waited"\} 1$/m);
    assert.ok(Date.now() - limitedAt >= 1000, 'not before Retry-After');
  });

  test('a flood of app_home_opened under a limit: every event acknowledged at once, no burst of retries, every Home tab published after', async () => {
    const limitedUntil = Date.now() + 2000;
    const during: number[] = [];
    slack.on('views.publish', () => {
      if (Date.now() < limitedUntil) {
        during.push(Date.now());
        return { status: 429, headers: { 'retry-after': '2' }, body: { ok: false, error: 'ratelimited' } };
      }
      return { body: { ok: true, view: { id: 'V0001', type: 'home' } } };
    });
    const users = Array.from({ length: 20 }, (_, i) => `UHOMEFLOOD${i}`);
    const started = Date.now();
    const answers = await Promise.all(
      users.map((user) =>
        sendEvent(server.url, {
          token: 'x', team_id: 'T0001', api_app_id: 'A0001', type: 'event_callback', event_id: newEventId(), event_time: Math.floor(Date.now() / 1000),
          event: { type: 'app_home_opened', user, channel: 'D0001', tab: 'home' },
        }),
      ),
    );
    assert.deepEqual(answers.map((a) => a.status), users.map(() => 200));
    assert.ok(Date.now() - started < 1500, 'acknowledged without waiting for Slack');
    const published = await slack.waitFor('views.publish', users.length, (c) => users.includes(String(c.args.user_id)) && Date.now() >= limitedUntil);
    assert.ok(published.length >= users.length);
    // Calls already on their way when Slack first said 429 arrive with it; after that, none until it lifts.
    const afterTheFirst = during.filter((t) => t > during[0]! + 200);
    assert.ok(during.length >= 1 && afterTheFirst.length === 0, `${afterTheFirst.length} calls hit Slack after it said to wait`);
  });
});
