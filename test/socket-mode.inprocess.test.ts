// Socket Mode in-process: the service built from its real parts, connected to the Slack stand-in's
// Socket Mode server over a real WebSocket. Envelopes reach the same domain as signed HTTP requests;
// refreshes, drops, re-sent envelopes and bad frames are handled as Slack documents them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { commandBody, eventEnvelope, blockActions } from './support/slack.ts';
import { linkAs } from './support/browser.ts';
import { request } from './support/http-client.ts';
import { startApp, type InProcessApp } from './support/app.ts';

const APP_TOKEN = 'xapp-1-A0001-test-app-token';
const apps: InProcessApp[] = [];
after(() => Promise.all(apps.map((a) => a.close())));

/** The service on Socket Mode alone (no signing secret), connected. */
async function socketApp(env: Record<string, string> = {}): Promise<InProcessApp> {
  const a = await startApp({ SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: '', ...env }, { socket: { backoffMs: { min: 50, max: 400 } } });
  apps.push(a);
  await a.slack.socket.waitForConnections(1);
  await until(() => a.socket!.status().up, 'the first hello');
  return a;
}

async function until(ready: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A slash command's fields as Slack puts them in a slash_commands envelope's payload. */
const commandPayload = (o: Parameters<typeof commandBody>[0], responseUrl?: string) => {
  const fields = Object.fromEntries(new URLSearchParams(commandBody(o)));
  return responseUrl ? { ...fields, response_url: responseUrl } : fields;
};

const socketLines = (a: InProcessApp) => a.logs.filter((l) => l.event === 'socket');

test('apps.connections.open with the app token, then a slash command answered in the ack with exactly what HTTP would answer', async () => {
  const a = await socketApp();
  const [open] = await a.slack.waitFor('apps.connections.open');
  assert.equal(open!.token, APP_TOKEN);
  const ack = await a.slack.socket.send('slash_commands', commandPayload({ user: 'USOCK', text: 'whoami' }));
  assert.ok(ack, 'acknowledged within 3 s');
  assert.equal(ack.payload.response_type, 'ephemeral');
  assert.match(ack.payload.text, /Link your account: https:\/\/slack-link\.corp\.example\/associate\?nonce=/);
  const [line] = socketLines(a);
  assert.deepEqual([line!.envelope_type, line!.outcome, line!.slack_user], ['slash_commands', 'link_created', 'USOCK']);
  assert.match(String(line!.request_id), /^[0-9a-f-]{36}$/);
  assert.match(a.metrics.render(), /slack_commands_total\{outcome="link_created"\} 1/);
  assert.match(a.metrics.render(), /slack_socket_connected 1/);
  // No signing secret: Slack's HTTP paths are not served.
  assert.equal((await request(`${a.url}/slack/commands`, { method: 'POST' })).status, 404);
});

test('a bound user over the socket: the command runs as them; an event revokes; a click is forwarded as them', async () => {
  const a = await socketApp();
  const prompt = await a.slack.socket.send('slash_commands', commandPayload({ user: 'UBOUND', text: 'report q3' }, a.responseUrl('pending')));
  const link = /https:\/\/\S+\/associate\?nonce=[\w-]+/.exec(prompt!.payload.text)![0];
  assert.equal((await linkAs(a.url, link, 'bea', 'link_and_run')).status, 200);
  const [pending] = await a.hooks.waitFor(1, (r) => r.url === '/pending');
  assert.match(pending!.body.text, /ran report q3 as bea/, 'the command typed before linking ran, as asked');

  const ran = await a.slack.socket.send('slash_commands', commandPayload({ user: 'UBOUND', text: 'report q4' }));
  assert.match(ran!.payload.text, /ran report q4 as bea/);

  const click = await a.slack.socket.send('interactive', blockActions({ user: 'UBOUND', actionId: 'approve', value: 'v7', responseUrl: a.responseUrl('click') }));
  assert.deepEqual(click, { envelope_id: click!.envelope_id }, 'a click is acknowledged without a payload');
  const [answer] = await a.hooks.waitFor(1, (r) => r.url === '/click');
  assert.match(answer!.body.text, /approve \(v7\) done by bea/);

  const event = eventEnvelope({ type: 'user_change', user: { id: 'UBOUND', team_id: 'T0001', deleted: true } });
  assert.ok(await a.slack.socket.send('events_api', event));
  assert.equal(await a.store.getBinding({ org: 'T0001', userId: 'UBOUND' }), undefined);
  assert.deepEqual(socketLines(a).map((l) => l.outcome), ['link_created', 'command_ok', 'forwarded', 'revoked']);
  const audit = (await a.store.listAudit()).map((r) => `${r.action}:${r.actor}`);
  assert.deepEqual(audit, ['link_created:slack:UBOUND', 'linked:internal:bea', 'revoked:slack_event']);
});

test('an envelope Slack sends again (same envelope_id) is acknowledged again, with the same answer, and acted on once', async () => {
  const a = await socketApp();
  await linkAs(a.url, /https:\/\/\S+nonce=[\w-]+/.exec((await a.slack.socket.send('slash_commands', commandPayload({ user: 'UONCE', text: 'link' })))!.payload.text)![0], 'olga');
  const payload = commandPayload({ user: 'UONCE', text: 'count me' });
  const first = await a.slack.socket.send('slash_commands', payload, { envelopeId: 'env-resent-1' });
  const again = await a.slack.socket.send('slash_commands', payload, { envelopeId: 'env-resent-1', retryAttempt: 1 });
  assert.deepEqual(again, first);
  assert.equal(a.internalApp.received.filter((r) => r.body.text === 'count me').length, 1, 'run once');
  // The same event in two envelopes (Slack's retry of an event carries a new envelope): acted on once, by event_id.
  const event = eventEnvelope({ type: 'user_change', user: { id: 'UONCE', team_id: 'T0001', deleted: true } });
  await a.slack.socket.send('events_api', event);
  await a.slack.socket.send('events_api', event);
  assert.deepEqual(socketLines(a).slice(-2).map((l) => l.outcome), ['revoked', 'duplicate']);
  assert.equal((await a.store.listAudit()).filter((r) => r.action === 'revoked').length, 1);
});

test('a refresh in the middle of traffic: the new connection opens before the old one closes, and no envelope goes unanswered', async () => {
  const a = await socketApp();
  const sent: Array<Promise<unknown>> = [];
  let stop = false;
  const traffic = (async () => {
    for (let i = 0; !stop; i++) {
      sent.push(a.slack.socket.send('slash_commands', commandPayload({ user: `UR${i}`, text: 'help' })));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  const old = a.slack.socket.disconnect('refresh_requested', 2000);
  const [, fresh] = await a.slack.socket.waitForConnections(2);
  await until(() => old.closed, 'the old connection closed', 5000);
  assert.ok(fresh!.openedAt < old.closedAt!, 'the new connection was open before the old one closed');
  assert.ok(old.closedAt! - old.openedAt < 1900, 'the app closed the old one itself, before Slack would have');
  await new Promise((r) => setTimeout(r, 100));
  stop = true;
  await traffic;
  const acks = await Promise.all(sent);
  assert.ok(acks.length > 20, `traffic flowed (${acks.length} envelopes)`);
  assert.equal(acks.filter((x) => x === null).length, 0, 'every envelope acknowledged');
  assert.ok(a.slack.socket.connections[1]!.sent > 0, 'traffic moved to the new connection');
  assert.equal(a.slack.socket.open().length, 1, 'one connection once the refresh is over');
  assert.match(a.metrics.render(), /slack_socket_reconnects_total 1/);
});

test('a dropped socket is reconnected with a fresh apps.connections.open; /healthz says so while it is down', async () => {
  const a = await socketApp();
  assert.equal((await request(`${a.url}/healthz`)).status, 200);
  a.slack.on('apps.connections.open', () => ({ body: { ok: false, error: 'internal_error' } }));
  a.slack.socket.drop();
  await until(() => !a.socket!.status().up, 'the drop noticed');
  assert.match(a.metrics.render(), /slack_socket_connected 0/);
  const down = a.socket!.status().downSince!;
  assert.equal((await request(`${a.url}/healthz`)).status, 200, 'a short drop is not yet unhealthy');
  // Thirty seconds without a connection: the clock is the status's, so the test looks at the rule.
  const { healthRoute, SOCKET_DOWN_GRACE_MS } = await import('../src/routes/health.ts');
  const later = healthRoute({ ping: async () => true }, { status: () => ({ up: false, everUp: true, downSince: down - SOCKET_DOWN_GRACE_MS - 1000 }) });
  const reply = await later.GET!({} as never);
  assert.equal(reply.reply.status, 503);
  assert.match(String(reply.reply.body), /no connection to Slack for 3\d s/);
  const opens = a.slack.calls.filter((c) => c.method === 'apps.connections.open').length;
  a.slack.on('apps.connections.open', (_args, call) => ({ body: { ok: true, url: `${a.slack.url.replace('http', 'ws').replace('/api/', '/link/')}?ticket=t2-${call.method}` } }));
  await until(() => a.socket!.status().up, 'reconnected', 5000);
  assert.ok(a.slack.calls.filter((c) => c.method === 'apps.connections.open').length > opens, 'a fresh URL for the new connection');
  assert.equal((await request(`${a.url}/healthz`)).status, 200);
});

test('/healthz is 503 until Slack first says hello (here: never, the app token is refused)', async () => {
  const a = await startApp({ SLACK_APP_TOKEN: 'xapp-1-revoked-token', SLACK_SIGNING_SECRET: '' }, { socket: { backoffMs: { min: 50, max: 400 } } });
  apps.push(a);
  await a.slack.waitFor('apps.connections.open', 2);
  const res = await request(`${a.url}/healthz`);
  assert.equal(res.status, 503);
  assert.match(res.body, /not connected to Slack yet/);
  const refused = a.logs.find((l) => l.event === 'socket_open_failed')!;
  assert.deepEqual([refused.level, refused.reason], ['error', 'invalid_auth']);
  assert.match(String(refused.fix), /SLACK_APP_TOKEN is wrong or revoked/);
});

test('bad frames: not JSON, an unknown type, a payload that is not an object, over 1 MiB, binary: logged, acknowledged where possible, nothing changed', async () => {
  const a = await socketApp();
  a.slack.socket.sendRaw('{not json');
  const unknown = await a.slack.socket.send('strange_type', { a: 1 });
  assert.ok(unknown && unknown.payload === undefined, 'an unknown type is acknowledged, without an answer');
  const notObject = await a.slack.socket.send('slash_commands', 'text');
  assert.ok(notObject && notObject.payload === undefined, 'acknowledged, no answer');
  const huge = JSON.stringify({ envelope_id: 'env-huge', type: 'slash_commands', payload: { text: 'x'.repeat(1024 * 1024 + 10) } });
  a.slack.socket.sendRaw(huge);
  await until(() => a.slack.socket.acks.some((k) => k.envelope_id === 'env-huge'), 'the huge envelope acknowledged');
  a.slack.socket.sendRaw(Buffer.from([1, 2, 3]), true);
  const malformed = await a.slack.socket.send('slash_commands', { team_id: 'lower-case', user_id: 'U1', command: '/acct' });
  assert.ok(malformed && malformed.payload === undefined);
  await until(() => a.logs.filter((l) => l.event === 'socket_message_refused').length >= 4, 'four refusals logged');
  const reasons = a.logs.filter((l) => l.event === 'socket_message_refused').map((l) => String(l.reason));
  assert.ok(reasons.some((r) => /not a JSON object/.test(r)));
  assert.ok(reasons.some((r) => /unknown envelope type/.test(r)));
  assert.ok(reasons.some((r) => /over 1048576/.test(r)));
  assert.ok(reasons.some((r) => /binary/.test(r)));
  assert.equal(socketLines(a).at(-1)!.outcome, 'refused');
  assert.equal(a.slack.socket.open().length, 1, 'still connected');
  assert.deepEqual(await a.store.listAudit(), [], 'nothing changed');
  const logged = JSON.stringify(a.logs);
  assert.doesNotMatch(logged, /ticket-\d+-secret/, 'the ticket of the URL is never logged');
  assert.doesNotMatch(logged, new RegExp(APP_TOKEN));
});

test('a URL that is not wss:// is refused unless SLACK_API_URL itself is http: (a local stand-in)', async () => {
  const { createSocketMode, socketUrlAllowed } = await import('../src/slack/socket-mode.ts');
  assert.equal(socketUrlAllowed('wss://wss-primary.slack.com/link/?ticket=t', 'https://slack.com/api/'), true);
  assert.equal(socketUrlAllowed('ws://wss-primary.slack.com/link/?ticket=t', 'https://slack.com/api/'), false, 'no clear-text socket from Slack');
  assert.equal(socketUrlAllowed('ws://127.0.0.1:9/link/', 'http://127.0.0.1:9/api/'), true, 'a local stand-in');
  assert.equal(socketUrlAllowed('https://wss-primary.slack.com/link/', 'https://slack.com/api/'), false);
  assert.equal(socketUrlAllowed('not a url', 'https://slack.com/api/'), false);
  const { createLogger } = await import('../src/lib/log.ts');
  const { createMetrics } = await import('../src/lib/metrics.ts');
  const { startSlackStub } = await import('./support/slack-stand-in.ts');
  const slack = await startSlackStub();
  const lines: Array<Record<string, unknown>> = [];
  const socket = createSocketMode({
    appToken: APP_TOKEN,
    slackApiUrl: slack.url,
    handle: async () => undefined,
    log: createLogger((l) => lines.push(JSON.parse(l))),
    metrics: createMetrics(),
    backoffMs: { min: 10_000, max: 10_000 },
  });
  // And in the client: the URL refused before any connection, the ticket never logged.
  slack.on('apps.connections.open', () => ({ body: { ok: true, url: 'http://127.0.0.1:1/link/?ticket=zzz' } }));
  socket.start();
  await until(() => lines.some((l) => l.event === 'socket_open_failed'), 'the refusal');
  assert.match(String(lines.find((l) => l.event === 'socket_open_failed')!.reason), /gave a http: URL, not wss:\/\/: refused/);
  assert.doesNotMatch(JSON.stringify(lines), /zzz/);
  await socket.stop(100);
  assert.equal(slack.socket.connections.length, 0, 'nothing connected');
  await slack.close();
});
