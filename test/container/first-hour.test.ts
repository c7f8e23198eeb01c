// The container path as README writes it (issue #25): the image run with `account-binding.env` as in
// the trial, without its HOST line, on a named volume, stays up and answers /healthz; a /data the
// image's user cannot write stops it with the real fix (on the volume, from the host), and README's
// `docker run --rm … node src/admin.ts doctor` says the same for a container that will not stay up.
// `npm run test:container`; the real docker when `docker info` answers, else podman (docker.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, freePort, tempDir } from '../support/server.ts';
import { startSlackStub, type SlackStub } from '../support/slack-stand-in.ts';
import { request } from '../support/http-client.ts';
import { DOCKER_ENV, docker } from './docker.ts';

const IMAGE = 'account-binding:first-hour';
const VOLUME = `ab-first-hour-${process.pid}`;
const attempt = (...args: string[]) => spawnSync('docker', args, { env: DOCKER_ENV, encoding: 'utf8', timeout: 120_000 });

let slack: SlackStub;
let dir: string;
let envFile: string;
let port: number;
const names: string[] = [];

before(async () => {
  slack = await startSlackStub();
  dir = tempDir();
  port = await freePort();
  // README's trial, step 2 and 3: the example, the values appended, the proxy's secret; then, for the
  // container, "without its HOST line". Nothing else is changed.
  const example = readFileSync(join(ROOT, 'deploy', 'account-binding.env.example'), 'utf8');
  const trial = `${example}PUBLIC_BASE_URL=http://127.0.0.1:8080\nSLACK_APP_TOKEN=xapp-1-A0001-firsthour\nSLACK_BOT_TOKEN=xoxb-first-hour\nTRUSTED_PROXY_SECRET=${'ab12'.repeat(16)}\n`;
  assert.match(trial, /^HOST=127\.0\.0\.1$/m, 'the trial file has a HOST line to delete');
  assert.doesNotMatch(trial, /^DATABASE_PATH=/m, 'the trial file leaves the database where the image puts it');
  envFile = join(dir, 'account-binding.env');
  writeFileSync(envFile, trial.replace(/^HOST=.*\n/m, ''), { mode: 0o600 });
  docker('build', '-t', IMAGE, ROOT);
});
after(async () => {
  for (const name of names) spawnSync('docker', ['rm', '-f', name], { env: DOCKER_ENV, stdio: 'ignore' });
  spawnSync('docker', ['volume', 'rm', '-f', VOLUME], { env: DOCKER_ENV, stdio: 'ignore' });
  await slack.close();
});

/**
 * README's `docker run` (its -p aside: --network host here, for the local Slack stand-in; PORT a
 * free one and SLACK_API_URL the stand-in are the test's only additions).
 */
function run(name: string, volume: string): void {
  names.push(name);
  attempt('rm', '-f', name);
  docker(
    'run', '-d', '--name', name, '--init', '--restart', 'unless-stopped', '--network', 'host',
    '-v', `${volume}:/data`, '--env-file', envFile, '-e', `PORT=${port}`, '-e', `SLACK_API_URL=${slack.url}`,
    IMAGE,
  );
}

test('the trial\'s settings without HOST, on a named volume: the container stays up, answers /healthz, and keeps its database in the volume', async () => {
  run('ab-first-hour-up', VOLUME);
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    try {
      status = (await request(`http://127.0.0.1:${port}/healthz`)).status;
    } catch {
      // not listening yet
    }
    if (status !== 200) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(status, 200, docker('logs', 'ab-first-hour-up'));
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(docker('inspect', 'ab-first-hour-up', '--format', '{{.State.Running}} {{.RestartCount}}'), 'true 0', 'up, never restarted');
  const logs = docker('logs', 'ab-first-hour-up');
  assert.match(logs, /"check":"database","message":"\/data\/account-binding\.db is writable by uid 1000"/);
  // The trial's loopback-only TRUSTED_PROXIES is named, with where a proxy really connects from.
  assert.match(logs, /"check":"container","message":"in a container \(IN_CONTAINER=1\), the gateway is [^"]*TRUSTED_PROXIES=127\.0\.0\.1,::1 trusts the container's own loopback only/);
  assert.doesNotMatch(logs, /HOST=127\.0\.0\.1/);
  assert.doesNotMatch(logs, /xapp-1-A0001-firsthour|ab12ab12/, 'no secret in the log');
  docker('stop', '-t', '10', 'ab-first-hour-up');
});

test('a /data the image\'s user cannot write: the container stops with the fix on the volume, and README\'s doctor in a fresh container says the same', () => {
  // A host folder owned by root (this test runs as root, as the container tests need), bind-mounted.
  const folder = join(dir, 'root-owned');
  mkdirSync(folder, { mode: 0o755 });
  names.push('ab-first-hour-locked');
  attempt('rm', '-f', 'ab-first-hour-locked');
  docker('run', '-d', '--name', 'ab-first-hour-locked', '--network', 'host', '-v', `${folder}:/data`, '--env-file', envFile, '-e', `PORT=${port}`, '-e', `SLACK_API_URL=${slack.url}`, IMAGE);
  const exit = attempt('wait', 'ab-first-hour-locked');
  assert.equal(exit.stdout.trim(), '1', exit.stderr);
  const logs = attempt('logs', 'ab-first-hour-locked');
  const output = logs.stdout + logs.stderr;
  assert.match(output, /\/data is not writable by uid 1000, which runs this service \(user node in the image\): the fix is on the volume mounted at \/data, made on the host/);
  assert.match(output, /docker run -v account-binding-data:\/data/);
  assert.match(output, /"sudo chown -R 1000:1000 HOST_FOLDER"/);
  assert.doesNotMatch(output, /chown -R 1000:1000 \/app/);

  // README: "A container that does not stay up still runs the self-check, which names the fix".
  const doctor = attempt('run', '--rm', '--network', 'host', '--env-file', envFile, '-e', `SLACK_API_URL=${slack.url}`, '-v', `${folder}:/data`, IMAGE, 'node', 'src/admin.ts', 'doctor');
  assert.equal(doctor.status, 1, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, /FAIL {2}database: \/data is not writable by uid 1000.*the fix is on the volume mounted at \/data/);
  assert.match(doctor.stdout, /1 problem to fix before the server can start/);

  // An older settings file that set DATABASE_PATH=./data/…: outside the volume, and the fix says so.
  const old = attempt('run', '--rm', '--network', 'host', '--env-file', envFile, '-e', `SLACK_API_URL=${slack.url}`, '-e', 'DATABASE_PATH=./data/account-binding.db', '-v', `${VOLUME}:/data`, IMAGE, 'node', 'src/admin.ts', 'doctor');
  assert.equal(old.status, 1, old.stdout + old.stderr);
  assert.match(old.stdout, /FAIL {2}database: \/app\/data\/account-binding\.db is outside the image's volume \(\/data\) and \/app is not writable by uid 1000.*delete DATABASE_PATH from the settings/);
});
