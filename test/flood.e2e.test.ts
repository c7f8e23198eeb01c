// Floods and slow clients, on loopback only and bounded in count and time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { request } from './support/http-client.ts';
import { startServer, CONFIRM_ONLY, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { commandBody, linkFrom, signedHeaders, slashCommand } from './support/slack.ts';
import { linkAs } from './support/browser.ts';

let slack: SlackStub;
let server: RunningServer;
before(async () => {
  slack = await startSlackStub();
  server = await startServer({ slackApiUrl: slack.url, env: CONFIRM_ONLY });
  await linkAs(server.url, linkFrom(await slashCommand(server.url, { user: 'UFLOOD', text: 'link' })), 'fred');
});
after(async () => {
  await server.stop();
  await slack.close();
});

test('3,000 signed commands over 50 keep-alive connections: zero errors, then healthy', async () => {
  const TOTAL = 3000;
  const agent = new Agent({ keepAlive: true, maxSockets: 50 });
  const deadline = Date.now() + 60_000;
  let sent = 0;
  const statuses = new Map<number, number>();
  const errors: string[] = [];
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      // Mostly a bound user's command; every fifth a new user asking for a link (a write each).
      const body = i % 5 === 0 ? commandBody({ user: `UF${i}`, text: 'link' }) : commandBody({ user: 'UFLOOD', text: 'whoami' });
      const req = httpRequest(`${server.url}/slack/commands`, { method: 'POST', agent, headers: signedHeaders(body) }, (res) => {
        res.resume();
        res.on('end', () => {
          statuses.set(res.statusCode!, (statuses.get(res.statusCode!) ?? 0) + 1);
          resolve();
        });
      });
      req.on('error', (e) => {
        errors.push(e.message);
        resolve();
      });
      req.end(body);
    });
  const worker = async () => {
    while (sent < TOTAL && Date.now() < deadline) await one(sent++);
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  agent.destroy();
  assert.deepEqual(errors, []);
  assert.deepEqual([...statuses], [[200, TOTAL]]);
  assert.equal((await request(`${server.url}/healthz`)).status, 200);
  assert.ok(!server.logs().some((l) => l.level === 'error'), 'no error logged');
});

test('slowloris: connections dribbling headers are cut by the headers timeout while others are served', async () => {
  const SLOW = 100;
  const { port } = server;
  const sockets: Socket[] = [];
  const closedAt: number[] = [];
  const started = Date.now();
  for (let i = 0; i < SLOW; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('close', () => closedAt.push(Date.now() - started));
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    sockets.push(s);
  }
  const drip = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write('a');
  }, 1000);
  let served = 0;
  try {
    while (Date.now() - started < 14_000 && closedAt.length < SLOW) {
      const res = await request(`${server.url}/healthz`);
      assert.equal(res.status, 200);
      served++;
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    clearInterval(drip);
    for (const s of sockets) s.destroy();
  }
  assert.ok(served >= 20, `normal requests served meanwhile: ${served}`);
  assert.equal(closedAt.length, SLOW, 'every slow connection was cut by the server');
  assert.ok(Math.max(...closedAt) < 13_000, `the last slow connection lasted ${Math.max(...closedAt)} ms`);
  assert.ok(Math.min(...closedAt) >= 9_000, 'not cut before the 10 s headers timeout');
});
