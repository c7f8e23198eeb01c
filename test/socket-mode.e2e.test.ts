// Socket Mode against the real process (src/main.ts): no request URL at all, only an outbound
// WebSocket to the Slack stand-in. The whole flow over the socket, the startup checks of the app
// token, and SIGTERM in the middle of work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { commandBody } from './support/slack.ts';
import { continueWithSlackUrl, linkAs, localUrl, openLink } from './support/browser.ts';
import { request } from './support/http-client.ts';
import { runToExit, startServer, tempDir, CONFIRM_ONLY, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { APP_TOKEN as INTERNAL_APP_TOKEN, startInternalApp, startResponseCatcher, type TestHttpServer } from './support/internal-app.ts';
import { join } from 'node:path';

const APP_TOKEN = 'xapp-1-A0001-e2e-app-token';
let slack: SlackStub;
let app: TestHttpServer;
let hooks: TestHttpServer;
before(async () => {
  [slack, app, hooks] = await Promise.all([startSlackStub(), startInternalApp(), startResponseCatcher()]);
});
after(() => Promise.all([slack.close(), app.close(), hooks.close()]));

const payload = (o: Parameters<typeof commandBody>[0]) => Object.fromEntries(new URLSearchParams(commandBody(o)));

/** The server on Socket Mode alone: SLACK_APP_TOKEN, no signing secret. */
async function socketServer(env: Record<string, string> = CONFIRM_ONLY): Promise<RunningServer> {
  const connections = slack.socket.connections.length;
  const server = await startServer({
    slackApiUrl: slack.url,
    env: { ...env, SLACK_SIGNING_SECRET: '', SLACK_APP_TOKEN: APP_TOKEN, INTERNAL_APP_URL: app.url, INTERNAL_APP_TOKEN, SLACK_RESPONSE_URL_ALLOW: hooks.url },
  });
  await slack.socket.waitForConnections(connections + 1);
  await server.waitForLog((l) => l.event === 'socket_connected');
  return server;
}

test('the whole flow over the socket: link, confirm through the page, the command as the user; /slack/* is 404; healthy', async () => {
  const server = await socketServer();
  try {
    const prompt = await slack.socket.send('slash_commands', payload({ user: 'USE2E', text: 'link' }));
    const link = /https:\/\/\S+\/associate\?nonce=[\w-]+/.exec(prompt!.payload.text)![0];
    assert.equal((await linkAs(server.url, link, 'erin')).status, 200);
    const ran = await slack.socket.send('slash_commands', payload({ user: 'USE2E', text: 'status' }));
    assert.match(ran!.payload.text, /ran status as erin/);
    assert.equal((await request(`${server.url}/slack/commands`, { method: 'POST' })).status, 404);
    assert.equal((await request(`${server.url}/healthz`)).status, 200);
    const [settings] = await server.waitForLog((l) => l.event === 'settings');
    assert.equal(settings!.slack_transport, 'socket mode');
    assert.match(String(settings!.credentials), /SLACK_APP_TOKEN=set/);
    assert.match(String(settings!.credentials), /SLACK_SIGNING_SECRET=unset/);
    const lines = server.logs().filter((l) => l.event === 'socket').map((l) => l.outcome);
    assert.deepEqual(lines, ['link_created', 'command_ok']);
    assert.doesNotMatch(server.output(), new RegExp(`${APP_TOKEN}|ticket-\\d+-secret`), 'neither the token nor the ticket is ever printed');
  } finally {
    await server.stop();
  }
});

test('Sign in with Slack over Socket Mode: the command arrives on the socket, the browser signs in with Slack, bound; the pending command runs as the user', async () => {
  const server = await socketServer({ LINK_VERIFICATION: 'slack', SLACK_CLIENT_ID: slack.oidc.clientId, SLACK_CLIENT_SECRET: slack.oidc.clientSecret });
  try {
    const responseUrl = `${hooks.url}commands/socket-siws`;
    const prompt = await slack.socket.send('slash_commands', payload({ user: 'USOCKSIWS', text: 'status', extra: { response_url: responseUrl } }));
    const link = /https:\/\/\S+\/associate\?nonce=[\w-]+/.exec(prompt!.payload.text)![0];
    const page = await openLink(server.url, link, 'erin');
    assert.equal(page.status, 200, page.body);
    /** "Continue with Slack and run", through the stand-in's authorization endpoint and back, as erin. */
    const signIn = async () => {
      const redirect = await request(continueWithSlackUrl(page.body, true).href);
      assert.equal(redirect.status, 302);
      const back = String(redirect.headers.location);
      const returned = await request(localUrl(server.url, back), { headers: { 'x-forwarded-user': 'erin' } });
      // Bound: the browser goes on (303) to the page that says so.
      if (returned.status !== 303) return returned;
      return request(localUrl(server.url, new URL(String(returned.headers.location), back).href), { headers: { 'x-forwarded-user': 'erin' } });
    };
    // Another Slack account signs in first: nothing bound, and the link stays its owner's.
    slack.oidc.signedInAs = { userId: 'USOCKOTHER', teamId: 'T0001' };
    assert.equal((await signIn()).status, 403);
    slack.oidc.signedInAs = { userId: 'USOCKSIWS', teamId: 'T0001' };
    const done = await signIn();
    assert.equal(done.status, 200, done.body);
    assert.match(done.body, /now linked to <strong>erin<\/strong>/);
    const [posted] = await hooks.waitFor(1, (r) => r.url === '/commands/socket-siws');
    assert.equal(posted!.body.text, 'ran status as erin', 'the command typed before linking, run as erin once Slack said who signed in');
    const ran = await slack.socket.send('slash_commands', payload({ user: 'USOCKSIWS', text: 'whoami' }));
    assert.match(ran!.payload.text, /linked to erin/);
    await server.waitForLog((l) => l.event === 'socket' && l.outcome === 'whoami');
    assert.deepEqual(server.logs().filter((l) => l.event === 'socket').map((l) => l.outcome), ['link_created', 'whoami']);
    assert.ok(server.logs().some((l) => l.event === 'security_link_slack_user_mismatch' && l.slack_user === 'USOCKSIWS'));
  } finally {
    await server.stop();
  }
});

test('SIGTERM: the envelope in hand is answered, a new one is left for Slack to send again, the socket is closed cleanly, exit 0', async () => {
  const server = await socketServer();
  const prompt = await slack.socket.send('slash_commands', payload({ user: 'USTOPS', text: 'link' }));
  await linkAs(server.url, /https:\/\/\S+nonce=[\w-]+/.exec(prompt!.payload.text)![0], 'sid');
  const conn = slack.socket.open().at(-1)!;
  const inFlight = slack.socket.send('slash_commands', payload({ user: 'USTOPS', text: 'slow 1200' }));
  await new Promise((r) => setTimeout(r, 200));
  const exited = server.stop('SIGTERM');
  await server.waitForLog((l) => l.event === 'shutdown_started');
  const late = slack.socket.send('slash_commands', payload({ user: 'USTOPS', text: 'after the signal' }), { on: conn, waitMs: 1000 });
  const answered = await inFlight;
  assert.equal(answered?.payload.text, 'slow report ready for sid');
  assert.equal(await late, null, 'not acknowledged: Slack sends it again to a connection that will answer');
  assert.deepEqual(await exited, { code: 0, signal: null });
  assert.equal(conn.closed, true);
  assert.ok(server.logs().some((l) => l.event === 'socket_envelope_declined'));
  assert.equal(app.received.filter((r) => r.body.text === 'after the signal').length, 0);
});

test('the app token checked at startup: refused by Slack stops the server naming SLACK_APP_TOKEN; a bot token in its place, or an app token as the bot token, is named', async () => {
  const base = { SLACK_BOT_TOKEN: 'xoxb-1', PUBLIC_BASE_URL: 'https://x.example', SLACK_API_URL: slack.url, DATABASE_PATH: join(tempDir(), 'x.db'), PORT: '0' };
  const refused = await runToExit({ ...base, SLACK_APP_TOKEN: 'xapp-1-revoked-token' });
  assert.equal(refused.code, 1);
  assert.match(refused.output, /Slack rejected SLACK_APP_TOKEN \(invalid_auth\): create an app-level token with the connections:write scope/);
  const swapped = await runToExit({ ...base, SLACK_APP_TOKEN: 'xoxb-2-looks-like-a-bot-token' });
  assert.equal(swapped.code, 2);
  assert.match(swapped.output, /SLACK_APP_TOKEN is a bot token: Socket Mode needs an app-level token \(xapp-…\)/);
  const reversed = await runToExit({ ...base, SLACK_BOT_TOKEN: 'xapp-1-A1-x', SLACK_APP_TOKEN: 'xapp-1-A1-y' });
  assert.equal(reversed.code, 2);
  assert.match(reversed.output, /SLACK_BOT_TOKEN is an app-level token \(xapp-…\): that one goes in SLACK_APP_TOKEN/);
  const neither = await runToExit({ ...base });
  assert.match(neither.output, /SLACK_SIGNING_SECRET is required \(or SLACK_SIGNING_SECRET_FILE\) \(or SLACK_APP_TOKEN for Socket Mode\)/);
});

test('both transports at once (a move from HTTP to Socket Mode): the signed routes still answer beside the socket', async () => {
  const connections = slack.socket.connections.length;
  const server = await startServer({ slackApiUrl: slack.url, env: { ...CONFIRM_ONLY, SLACK_APP_TOKEN: APP_TOKEN } });
  try {
    await slack.socket.waitForConnections(connections + 1);
    const { slashCommand } = await import('./support/slack.ts');
    assert.equal((await slashCommand(server.url, { user: 'UBOTH', text: 'help' })).status, 200);
    const ack = await slack.socket.send('slash_commands', payload({ user: 'UBOTH', text: 'help' }));
    assert.match(ack!.payload.text, /Commands: help/);
    const [settings] = await server.waitForLog((l) => l.event === 'settings');
    assert.equal(settings!.slack_transport, 'socket mode and http');
  } finally {
    await server.stop();
  }
});
