// The product's whole flow on each backend, against the real server process (src/main.ts): one test
// body, run on SQLite and on PostgreSQL. It asserts through what an operator or a user sees (HTTP,
// Slack's stand-in, the admin CLI), never by reading a database file, so the same body holds for both.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from './support/http-client.ts';
import { BACKENDS, CONFIRM_ONLY, ROOT, startServer, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { commandBody, eventEnvelope, linkFrom, sendEvent, signedHeaders, slashCommand } from './support/slack.ts';
import { confirm, formFields, linkAs, openLink } from './support/browser.ts';
import { APP_TOKEN, startInternalApp, type TestHttpServer } from './support/internal-app.ts';
import { requiresPostgres } from './support/postgres.ts';

const ADMIN_TOKEN = 'admin-api-token-for-backends-0123456789abcdef';
const skips = { sqlite: false, postgres: await requiresPostgres() } as const;

let slack: SlackStub;
let app: TestHttpServer;
before(async () => {
  [slack, app] = await Promise.all([startSlackStub(), startInternalApp()]);
});
after(async () => {
  await Promise.all([slack?.close(), app?.close()]);
});

for (const backend of BACKENDS) {
  describe(`on ${backend}`, { skip: skips[backend] }, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer({
        backend,
        slackApiUrl: slack.url,
        env: { ...CONFIRM_ONLY, ADMIN_API_TOKEN: ADMIN_TOKEN, INTERNAL_APP_URL: `${app.url}cmd`, INTERNAL_APP_TOKEN: APP_TOKEN, LINK_RATE_LIMIT_PER_MINUTE: '0' },
      });
      assert.match(server.output(), backend === 'postgres' ? /"database":"postgresql:\/\/127\.0\.0\.1:\d+\/\w+"/ : /"database":"\/[^"]+\.db"/);
    });
    after(async () => {
      await server?.stop();
      await server?.dropDatabase();
    });

    // Each backend gets Slack user ids of its own: the stand-ins are shared.
    const id = (name: string) => `U${backend === 'sqlite' ? 'S' : 'P'}${name}`;
    /** The admin CLI on the server's database (DATABASE_PATH or DATABASE_URL, as an operator sets it). */
    const cli = (...args: string[]) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { PATH: process.env.PATH, ...server.databaseEnv },
      });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    const listed = (...filter: string[]) => {
      const r = cli('list', '--json', ...filter);
      assert.equal(r.code, 0, r.err);
      return r.out.trim() ? r.out.trim().split('\n').map((l) => JSON.parse(l)) : [];
    };
    const whoami = async (user: string) => (await slashCommand(server.url, { user, text: 'whoami' })).json.text as string;
    const bind = async (user: string, internalUser: string) => {
      const done = await linkAs(server.url, linkFrom(await slashCommand(server.url, { user, text: 'link' })), internalUser);
      assert.equal(done.status, 200, done.body);
    };

    test('slash command → link → confirmation page → POST → DM → whoami → a command → unlink', async () => {
      const user = id('FLOW');
      const prompt = await slashCommand(server.url, { user, text: 'link' });
      assert.equal(prompt.status, 200);
      assert.equal(prompt.json.response_type, 'ephemeral');
      const link = linkFrom(prompt);
      const page = await openLink(server.url, link, 'alice');
      assert.equal(page.status, 200);
      assert.match(page.body, /to your account <strong>alice<\/strong>/);
      assert.deepEqual(listed('--slack-user', user), [], 'the page alone binds nothing');
      const fields = formFields(page.body);
      const done = await confirm(server.url, { ...fields, decision: 'link' }, 'alice');
      assert.equal(done.status, 200, done.body);
      assert.equal((await confirm(server.url, { ...fields, decision: 'link' }, 'alice')).status, 410, 'a link is spent once used');
      const [dm] = await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === user);
      assert.match(String(dm!.args.text), /now linked to alice/);

      assert.match(await whoami(user), /You are linked to alice/);
      const ran = await slashCommand(server.url, { user, text: 'report q3' });
      assert.match(ran.json.text, /ran report q3 as alice/);
      const received = await app.waitFor(1, (r) => r.body?.slack?.user_id === user);
      assert.equal(received[0]!.body.internal_user, 'alice', 'the internal application was asked as the linked user');
      const [row] = listed('--slack-user', user);
      assert.deepEqual([row.internal_user, row.verified_by, row.workspace], ['alice', 'confirm', 'T0001']);

      assert.match((await slashCommand(server.url, { user, text: 'unlink' })).json.text, /Unlinked from alice/);
      assert.match(await whoami(user), /not linked/);
      assert.deepEqual(listed('--slack-user', user), []);
      const trail = cli('audit', '--slack-user', user, '--format', 'jsonl').out.trim().split('\n').map((l) => JSON.parse(l));
      // The last: whoami, no longer linked, answered with a new link.
      assert.deepEqual(trail.map((a) => a.action), ['link_created', 'linked', 'unlinked', 'link_created']);
    });

    test('a signed user_change event with deleted: true revokes that binding, and only it', async () => {
      await bind(id('GONE'), 'gina');
      await bind(id('STAY'), 'sam');
      const event = eventEnvelope({ type: 'user_change', user: { id: id('GONE'), team_id: 'T0001', deleted: true } });
      assert.equal((await sendEvent(server.url, event, { secret: 'not-the-secret' })).status, 401, 'unsigned: refused');
      assert.equal(listed('--slack-user', id('GONE')).length, 1);
      assert.equal((await sendEvent(server.url, event)).status, 200);
      assert.deepEqual(listed('--slack-user', id('GONE')), []);
      assert.match(await whoami(id('GONE')), /not linked/);
      assert.match(await whoami(id('STAY')), /linked to sam/);
      const [revoked] = cli('audit', '--slack-user', id('GONE'), '--format', 'jsonl').out.trim().split('\n').map((l) => JSON.parse(l)).filter((a) => a.action === 'revoked');
      assert.deepEqual([revoked.reason, revoked.actor], ['slack_user_deactivated', 'slack_event']);
    });

    test('the offboarding API lists and revokes a person everywhere; the CLI sees the same', async () => {
      await bind(id('OFF1'), 'olive');
      await bind(id('OFF2'), 'olive');
      const url = `${server.url}/admin/bindings?internal_user=olive`;
      const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
      assert.equal((await request(url)).status, 401);
      const list = await request(url, { headers: auth });
      assert.equal(list.status, 200);
      assert.deepEqual(JSON.parse(list.body).bindings.map((b: any) => b.slack_user_id).sort(), [id('OFF1'), id('OFF2')]);
      assert.equal(listed('--internal-user', 'olive').length, 2);
      const removed = await request(url, { method: 'DELETE', headers: auth });
      assert.equal(removed.status, 200);
      assert.equal(JSON.parse(removed.body).revoked, 2);
      assert.deepEqual(JSON.parse((await request(url, { headers: auth })).body).bindings, []);
      assert.deepEqual(listed('--internal-user', 'olive'), []);
      assert.match(await whoami(id('OFF1')), /not linked/);
    });

    test('a replayed signed command is refused (401), even with a valid signature', async () => {
      const body = commandBody({ user: id('REPLAY'), text: 'whoami' });
      const headers = signedHeaders(body);
      const first = await request(`${server.url}/slack/commands`, { method: 'POST', headers, body });
      assert.equal(first.status, 200);
      const again = await request(`${server.url}/slack/commands`, { method: 'POST', headers, body });
      assert.equal(again.status, 401);
      assert.match(again.body, /already received/);
      await server.waitForLog((l) => l.event === 'slack_request_replayed');
    });

    test('/healthz is 200 while the database answers; the CLI stats agree with the API', async () => {
      const health = await request(`${server.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
      const stats = cli('stats', '--json');
      assert.equal(stats.code, 0, stats.err);
      assert.equal(JSON.parse(stats.out).bindings, listed().length);
    });
  });
}
