// SIGTERM/SIGINT: stop accepting, let in-flight requests and pending Slack deliveries finish,
// close idle keep-alive sockets and the database, exit 0; a second signal exits at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import Database from 'better-sqlite3';
import { startServer, CONFIRM_ONLY, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { linkFrom, slashCommand } from './support/slack.ts';
import { linkAs } from './support/browser.ts';
import { APP_TOKEN, startInternalApp, startResponseCatcher, type TestHttpServer } from './support/internal-app.ts';

let slack: SlackStub;
let app: TestHttpServer;
let hooks: TestHttpServer;
before(async () => {
  [slack, app, hooks] = await Promise.all([startSlackStub(), startInternalApp(), startResponseCatcher()]);
});
after(async () => {
  await Promise.all([slack.close(), app.close(), hooks.close()]);
});

async function boundServer(): Promise<RunningServer> {
  const server = await startServer({
    slackApiUrl: slack.url,
    env: { ...CONFIRM_ONLY, INTERNAL_APP_URL: app.url, INTERNAL_APP_TOKEN: APP_TOKEN, SLACK_RESPONSE_URL_ALLOW: hooks.url },
  });
  await linkAs(server.url, linkFrom(await slashCommand(server.url, { user: 'USTOP', text: 'link' })), 'sam');
  return server;
}
const since = (t: number) => Date.now() - t;

test('SIGTERM during an in-flight command: it is answered, then the process exits 0 with the WAL folded in', async () => {
  const server = await boundServer();
  const inFlight = slashCommand(server.url, { user: 'USTOP', text: 'slow 1500' });
  await new Promise((r) => setTimeout(r, 300));
  const t = Date.now();
  const exited = server.stop('SIGTERM');
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.equal(res.json.text, 'slow report ready for sam');
  assert.deepEqual(await exited, { code: 0, signal: null });
  assert.ok(since(t) < 10_000);
  assert.ok(server.logs().some((l) => l.event === 'shutdown_complete'));
  // Closed cleanly: the checkpoint left nothing in the WAL.
  const db = new Database(server.databasePath, { readonly: true });
  assert.equal((db.prepare('SELECT count(*) AS n FROM bindings').get() as { n: number }).n, 1);
  db.close();
});

test('SIGTERM right after "working on it": the response_url delivery still happens before exit', async () => {
  const server = await boundServer();
  const url = `${hooks.url}shutdown/delivery`;
  const res = await slashCommand(server.url, { user: 'USTOP', text: 'slow 3000', extra: { response_url: url } });
  assert.match(res.json.text, /Working on/);
  assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
  const delivered = hooks.received.filter((r) => r.url === '/shutdown/delivery');
  assert.equal(delivered.length, 1, 'delivered before the process exited');
  assert.equal(delivered[0]!.body.text, 'slow report ready for sam');
});

test('idle keep-alive connections do not hold shutdown up', async () => {
  const server = await boundServer();
  const agent = new Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) =>
    httpRequest(`${server.url}/healthz`, { agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    })
      .on('error', reject)
      .end(),
  );
  const t = Date.now();
  assert.deepEqual(await server.stop('SIGINT'), { code: 0, signal: null });
  assert.ok(since(t) < 2000, `took ${since(t)} ms with an idle keep-alive socket open`);
  agent.destroy();
});

test('a second signal exits at once', async () => {
  const server = await boundServer();
  const inFlight = slashCommand(server.url, { user: 'USTOP', text: 'slow 1900' }).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  server.process.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  const t = Date.now();
  const { code } = await server.stop('SIGTERM');
  assert.equal(code, 1);
  assert.ok(since(t) < 1000, `took ${since(t)} ms`);
  assert.ok(server.logs().some((l) => l.event === 'shutdown_forced'));
  await inFlight;
});
