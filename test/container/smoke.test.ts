// The image as an operator runs it: docker build, docker run with a mounted data folder, the whole
// binding flow against the container, docker stop (SIGTERM → exit 0 in under 10 s), and a second
// container on the same folder that still knows the binding. `npm run test:container`.
// Uses the real docker when `docker info` answers; otherwise ../shared/container/bin/docker (podman).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, SIGNING_SECRET, freePort, tempDir } from '../support/server.ts';
import { startSlackStub, type SlackStub } from '../support/slack-stand-in.ts';
import { commandBody, linkFrom, slashCommand } from '../support/slack.ts';
import { confirm, formFields, openLink } from '../support/browser.ts';
import { request } from '../support/http-client.ts';
import { DOCKER_ENV, docker } from './docker.ts';

const IMAGE = 'account-binding:smoke';

/** VmRSS of the server process in a container (node … src/main.ts, whatever its pid), in MB. */
const serverRssMb = (container: string): number => {
  const script = `const fs = require('fs');
for (const p of fs.readdirSync('/proc')) {
  if (!/^\\d+$/.test(p)) continue;
  try {
    const cmd = fs.readFileSync('/proc/' + p + '/cmdline', 'utf8');
    if (cmd.startsWith('node\\0') && cmd.endsWith('\\0src/main.ts\\0')) console.log(/VmRSS:\\s+(\\d+)/.exec(fs.readFileSync('/proc/' + p + '/status', 'utf8'))[1]);
  } catch {}
}`;
  const found = docker('exec', container, 'node', '-e', script).split('\n').filter(Boolean);
  assert.equal(found.length, 1, `one server process in ${container}`);
  return Math.round(Number(found[0]) / 1024);
};

let slack: SlackStub;
let data: string;
let port: number;
const names: string[] = [];

async function run(name: string, transport: string[] = ['-e', `SLACK_SIGNING_SECRET=${SIGNING_SECRET}`]): Promise<string> {
  names.push(name);
  docker('rm', '-f', name);
  docker(
    'run', '-d', '--init', '--name', name, '--network', 'host', '-v', `${data}:/data`,
    '-e', `PORT=${port}`, ...transport, '-e', 'SLACK_BOT_TOKEN=xoxb-smoke',
    '-e', 'PUBLIC_BASE_URL=https://slack-link.corp.example', '-e', `SLACK_API_URL=${slack.url}`,
    IMAGE,
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await request(`${url}/healthz`)).status === 200) return url;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`container did not become healthy:\n${docker('logs', name)}`);
}

before(async () => {
  slack = await startSlackStub();
  data = tempDir();
  chownSync(data, 1000, 1000); // the image runs as node (1000:1000)
  port = await freePort();
  docker('build', '-t', IMAGE, ROOT);
});
after(async () => {
  for (const name of names) spawnSync('docker', ['rm', '-f', name], { env: DOCKER_ENV, stdio: 'ignore' });
  await slack.close();
});

test('build, run, bind, SIGTERM → exit 0 in under 10 s, run again: the binding is still there', async () => {
  const image = JSON.parse(docker('image', 'inspect', IMAGE))[0];
  assert.equal(image.Config.User, 'node');
  assert.deepEqual(image.Config.Cmd, ['node', '--max-semi-space-size=1', 'src/main.ts']);
  assert.ok(image.Config.Env.includes('NODE_COMPILE_CACHE=/app/.compile-cache'));
  assert.ok(image.Config.Env.includes('NODE_ENV=production'));
  assert.ok(image.Config.Env.includes('DATABASE_PATH=/data/account-binding.db'));
  console.log(`# image size: ${Math.round(image.Size / 1e6)} MB`);

  const url = await run('ab-smoke-1');
  console.log(`# server's resident memory, idle after start: ${serverRssMb('ab-smoke-1')} MB`);
  slack.emails.set('USMOKE', 'smoke@corp.example');
  const link = linkFrom(await slashCommand(url, { user: 'USMOKE', text: 'link' }));
  const headers = { 'x-forwarded-email': 'smoke@corp.example' };
  const page = await openLink(url, link, 'smoke', { headers });
  assert.equal(page.status, 200, page.body);
  const done = await confirm(url, formFields(page.body), 'smoke', { headers });
  assert.equal(done.status, 200, done.body);
  await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === 'USMOKE');
  assert.equal(docker('exec', 'ab-smoke-1', 'node', '-e', "fetch('http://127.0.0.1:'+process.env.PORT+'/healthz').then(r=>process.exit(r.ok?0:1))"), '', 'the HEALTHCHECK command passes');

  const started = Date.now();
  docker('stop', '-t', '10', 'ab-smoke-1');
  const took = Date.now() - started;
  assert.equal(docker('inspect', 'ab-smoke-1', '--format', '{{.State.ExitCode}}'), '0');
  assert.ok(took < 10_000, `stopped in ${took} ms`);
  assert.match(docker('logs', 'ab-smoke-1'), /"event":"shutdown_complete"/);
  assert.ok(existsSync(join(data, 'account-binding.db')));

  const again = await run('ab-smoke-2');
  const who = await slashCommand(again, { user: 'USMOKE', text: 'whoami' });
  assert.match(who.json.text, /linked to smoke/);
  assert.match(docker('exec', 'ab-smoke-2', 'node', 'src/admin.ts', 'list'), /USMOKE\s+roadrunner\s+smoke/);
  docker('stop', '-t', '10', 'ab-smoke-2');
});

test('Socket Mode in the image (Node 24): no request URL, the command over the socket, docker stop closes the socket and exits 0', async () => {
  const url = await run('ab-smoke-socket', ['-e', 'SLACK_APP_TOKEN=xapp-1-A0001-smoke']);
  await slack.socket.waitForConnections(1);
  const conn = slack.socket.open().at(-1)!;
  const fields = Object.fromEntries(new URLSearchParams(commandBody({ user: 'USOCKET', text: 'whoami' })));
  const ack = await slack.socket.send('slash_commands', fields);
  assert.match(ack?.payload.text ?? '', /You are not linked to an account yet/);
  assert.equal((await request(`${url}/slack/commands`, { method: 'POST' })).status, 404, 'no signing secret: no HTTP path for Slack');
  docker('stop', '-t', '10', 'ab-smoke-socket');
  assert.equal(docker('inspect', 'ab-smoke-socket', '--format', '{{.State.ExitCode}}'), '0');
  for (let i = 0; i < 50 && !conn.closed; i++) await new Promise((r) => setTimeout(r, 20)); // the close frame may land just after docker returns
  assert.equal(conn.closed, true, 'the server closed its socket before exiting');
  assert.doesNotMatch(docker('logs', 'ab-smoke-socket'), /xapp-1-A0001-smoke|ticket-\d+-secret/);
});

test('the image starts from its compile cache: Node strips no TypeScript at start-up', () => {
  // Node's type stripper costs 17 MB and 130 ms at every start; the build fills the cache for user
  // node. Without configuration main.ts loads every module, then stops (exit 2).
  // The image's own command, with its V8 flags (they are part of the cache's key).
  const cmd = JSON.parse(docker('image', 'inspect', IMAGE))[0].Config.Cmd as string[];
  const run = spawnSync('docker', ['run', '--rm', '--network', 'none', '-e', 'NODE_DEBUG_NATIVE=COMPILE_CACHE', IMAGE, ...cmd], {
    env: DOCKER_ENV,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 2, run.stderr.slice(-2000));
  const output = run.stdout + run.stderr;
  const stripped = output.match(/transpile cache for StrippedTypeScript file:\/\/\/app\/src\/\S+\.ts/g) ?? [];
  const fromCache = output.match(/retrieving transpile cache for StrippedTypeScript file:\/\/\/app\/src\/\S+\.ts\.\.\.success/g) ?? [];
  assert.ok(fromCache.length >= 30, `only ${fromCache.length} modules came from the cache:\n${output.slice(0, 2000)}`);
  assert.equal(fromCache.length, stripped.length, 'every module the server loads comes from the cache');
  assert.doesNotMatch(output, /no transpile cache for StrippedTypeScript/);
});

test('on the image\'s Node 24, the store survives garbage collections run from Node\'s own callbacks', () => {
  // better-sqlite3 12 aborts Node 24 when such a collection frees one of its statements; the store
  // keeps every statement alive (store.ts). Before that fix this test aborted every time. It runs
  // on Node 24's own TypeScript support: under tsx's loader the collections fall elsewhere and
  // the old code aborted only one run in three.
  const run = spawnSync(
    'docker',
    ['run', '--rm', '--network', 'none', '-v', `${data}:/data`, '-v', `${join(ROOT, 'test', 'container')}:/app/test/container:ro`,
      IMAGE, 'node', 'test/container/store-under-gc.ts', '/data/under-gc.db'],
    { env: DOCKER_ENV, encoding: 'utf8' },
  );
  assert.equal(run.status, 0, `exit ${run.status} ${run.signal ?? ''}:\n${run.stdout}\n${run.stderr.slice(0, 2000)}`);
  assert.match(run.stdout, /^survived \d+ requests/m);
  assert.match(docker('run', '--rm', IMAGE, 'node', '-v'), /^v24\./);
});
