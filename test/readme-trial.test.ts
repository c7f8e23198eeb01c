// README's "Your first real Slack command in 15 minutes", run as written. The shell blocks marked
// `<!-- trial-test -->` run in README order, each in its own `bash -e -o pipefail`, in a temporary
// folder that holds this checkout's deploy/, src/ and node_modules/ (so nothing lands in the work
// tree); `<!-- trial-test: background -->` marks the block that starts the server and stays up; a
// ```text block marked `<!-- trial-output -->` right after a block is what that block must print.
// Then the test does what "type /acct whoami in Slack" does: Slack's signed requests to the URLs the
// manifest now names, through nginx; the link opened and confirmed through nginx with basic auth.
//
// What differs on this machine, and nothing else (each substitution must still match the README):
// - the README's text: the public name https://slack-link.example.com → the local nginx's URL;
//   nginx's 127.0.0.1:8080 → a free port; /etc/nginx/ → a temporary folder; `sudo ` → nothing;
//   `nginx -t` and `systemctl reload nginx` → the same nginx with that folder's nginx.conf (which,
//   like Debian's, includes conf.d/*.conf; the test stops it at the end); the two `paste-…` values
//   → the signing secret this test's Slack signs with, and a bot token for the Slack stand-in;
//   deploy/nginx-sso-proxy.conf → a copy with the same /etc/nginx/ folder, its log folder, and the
//   server's port in place of 3000 (test/support/nginx.ts makes the same changes);
// - the server's environment: PORT (a free port) and SLACK_API_URL (the Slack stand-in), which
//   `node --env-file` lets the environment set over the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, SIGNING_SECRET, freePort, tempDir } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { commandBody, signedHeaders, withJson } from './support/slack.ts';
import { formFields } from './support/browser.ts';
import { request } from './support/http-client.ts';
import { requires } from './support/requires.ts';

const run = promisify(execFile);
const skip = requires('/usr/sbin/nginx', 'nginx-light') || requires('/usr/bin/curl', 'curl') || requires('/usr/bin/openssl', 'openssl');

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SECTION_TITLE = '## Your first real Slack command in 15 minutes';

interface Block {
  code: string;
  background: boolean;
  /** What the block must print, when the README shows it. */
  output?: string;
}

/** The marked blocks of the trial section, in order. */
function trialBlocks(readme: string): Block[] {
  const start = readme.indexOf(`\n${SECTION_TITLE}\n`);
  assert.ok(start >= 0, `README has the section "${SECTION_TITLE}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const marked = /<!-- trial-test(: background)? -->\n```sh\n([\s\S]*?)\n```\n(?:<!-- trial-output -->\n```text\n([\s\S]*?)\n```\n)?/g;
  return [...section.matchAll(marked)].map((m) => ({ code: m[2]!, background: Boolean(m[1]), output: m[3] }));
}

const blocks = trialBlocks(README);

test('README starts with the title and the two commands, and marks the trial steps a test runs', () => {
  assert.ok(
    README.startsWith(
      '# slack-account-binding\n\n```sh\nnpm ci && npm run demo   # the whole product on this machine: real server, stand-ins for Slack, SSO and an internal app\nnpm ci && npm test       # type check, then every test\n```\n',
    ),
  );
  const markers = README.match(/<!-- trial-test(: background)? -->/g) ?? [];
  assert.equal(markers.length, blocks.length, 'every marker is followed by a ```sh block inside the trial section');
  assert.ok(blocks.length >= 5, `the trial's steps are marked (found ${blocks.length})`);
  assert.equal(blocks.filter((b) => b.background).length, 1, 'one block starts the server');
  assert.ok(blocks.some((b) => b.output), 'the README shows what a step prints');
  for (const name of ['deploy/account-binding.env.example', 'deploy/nginx-sso-proxy.conf', 'deploy/slack-app-manifest.json', 'LINK_VERIFICATION=confirm', '/acct whoami']) {
    assert.ok(README.slice(README.indexOf(SECTION_TITLE)).includes(name), `the trial names ${name}`);
  }
});

let slack: SlackStub;
let dir: string;
let work: string;
let etc: string;
let nginxPort: number;
let nginxUrl: string;
let serverPort: number;
let server: ChildProcess | undefined;
let serverOut = '';

/** The environment a person's shell would have, and nothing of this test's. */
const shellEnv = (): Record<string, string> => Object.fromEntries(Object.entries({ PATH: process.env.PATH, HOME: process.env.HOME }).filter((e): e is [string, string] => e[1] !== undefined));
const nginxArgs = () => `-p ${dir}/ -c ${etc}/nginx.conf -e ${dir}/error.log`;

/** [what the README says, what runs here, why]; applied in this order. */
const substitutions = (): Array<[string, string, string]> => [
  ['https://slack-link.example.com', nginxUrl, 'the public HTTPS name → the local nginx'],
  ['127.0.0.1:8080', `127.0.0.1:${nginxPort}`, "nginx's port"],
  ['/etc/nginx/', `${etc}/`, "nginx's folder"],
  ['deploy/nginx-sso-proxy.conf', `${dir}/nginx-sso-proxy.conf`, 'the shipped config with the same folders and the server port'],
  ['sudo ', '', 'the test owns its folders'],
  ['nginx -t', `nginx ${nginxArgs()} -t`, "this folder's nginx.conf"],
  ['systemctl reload nginx', `nginx ${nginxArgs()}`, 'nginx started by the test'],
  ['paste-the-signing-secret', SIGNING_SECRET, "the secret the test's Slack signs with"],
  ['xoxb-paste-the-bot-token', 'xoxb-readme-trial', 'a token for the Slack stand-in'],
];

function localize(code: string, used: Set<string>): string {
  let text = code;
  for (const [from, to] of substitutions()) {
    if (text.includes(from)) used.add(from);
    text = text.split(from).join(to);
  }
  return text;
}

before(async () => {
  if (skip) return;
  slack = await startSlackStub();
  [nginxPort, serverPort] = [await freePort(), await freePort()];
  nginxUrl = `http://127.0.0.1:${nginxPort}`;
  dir = tempDir();
  chmodSync(dir, 0o755); // nginx's workers run as nobody and read the password file
  work = join(dir, 'checkout');
  etc = join(dir, 'etc-nginx');
  for (const sub of [work, etc, join(etc, 'conf.d'), join(dir, 'log'), join(dir, 'tmp')]) mkdirSync(sub, { recursive: true });
  chmodSync(etc, 0o755);
  chmodSync(join(dir, 'tmp'), 0o777);
  for (const entry of ['deploy', 'src', 'node_modules', 'package.json', 'tsconfig.json']) symlinkSync(join(ROOT, entry), join(work, entry));
  // Like Debian's /etc/nginx/nginx.conf: the http block includes conf.d/*.conf.
  const t = join(dir, 'tmp');
  writeFileSync(
    join(etc, 'nginx.conf'),
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${t}/body; proxy_temp_path ${t}/proxy; fastcgi_temp_path ${t}/fcgi;
  uwsgi_temp_path ${t}/uwsgi; scgi_temp_path ${t}/scgi;
  include ${etc}/conf.d/*.conf;
}
`,
  );
  const shipped = readFileSync(join(ROOT, 'deploy/nginx-sso-proxy.conf'), 'utf8');
  const copy = [
    ['/etc/nginx/', `${etc}/`],
    ['/var/log/nginx/', `${dir}/log/`],
    ['server 127.0.0.1:3000;', `server 127.0.0.1:${serverPort};`],
  ].reduce((text, [from, to]) => {
    assert.ok(text.includes(from!), `deploy/nginx-sso-proxy.conf still contains ${from}`);
    return text.split(from!).join(to!);
  }, shipped);
  writeFileSync(join(dir, 'nginx-sso-proxy.conf'), copy);
});

after(async () => {
  if (skip) return;
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.on('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  const pidFile = join(dir, 'nginx.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    try {
      process.kill(pid, 'SIGQUIT');
      for (let i = 0; i < 100 && existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    } catch {
      // already gone
    }
  }
  await slack.close();
  rmSync(dir, { recursive: true, force: true });
});

async function startInBackground(code: string): Promise<void> {
  server = spawn('bash', ['-e', '-o', 'pipefail', '-c', code], {
    cwd: work,
    env: { ...shellEnv(), PORT: String(serverPort), SLACK_API_URL: slack.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout!.on('data', (d: Buffer) => (serverOut += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (serverOut += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!/"event":"listening"/.test(serverOut)) {
    if (server.exitCode !== null) assert.fail(`the server block exited (${server.exitCode}):\n${code}\n${serverOut}`);
    if (Date.now() > deadline) assert.fail(`the server did not start in 20 s:\n${serverOut}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A request as Slack sends it, signed with the app's signing secret. */
async function slackPost(url: string, body: string, contentType: string) {
  return withJson(await request(url, { method: 'POST', headers: { ...signedHeaders(body), 'content-type': contentType }, body }));
}

test("the trial's marked commands, in order, then /acct whoami through nginx: link, sign in, confirm, linked", { skip, timeout: 60_000 }, async () => {
  const used = new Set<string>();
  for (const [i, block] of blocks.entries()) {
    const code = localize(block.code, used);
    if (block.background) {
      await startInBackground(code);
      continue;
    }
    let stdout: string;
    try {
      ({ stdout } = await run('bash', ['-e', '-o', 'pipefail', '-c', code], { cwd: work, env: shellEnv() }));
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      assert.fail(`trial block ${i + 1} failed (exit ${e.code}):\n${block.code}\n--- as run here ---\n${code}\n--- stdout ---\n${e.stdout}\n--- stderr ---\n${e.stderr}\n--- server ---\n${serverOut}`);
    }
    if (block.output !== undefined) assert.equal(stdout.trim(), block.output.trim(), `what trial block ${i + 1} prints:\n${block.code}`);
  }
  for (const [from] of substitutions()) assert.ok(used.has(from), `the README's trial still contains "${from}" (update this test's substitutions)`);

  // Slack, as configured by the manifest the README wrote: all three URLs reach the server through nginx.
  const manifest = JSON.parse(readFileSync(join(work, 'my-slack-app.json'), 'utf8'));
  const commandUrl: string = manifest.features.slash_commands[0].url;
  const eventsUrl: string = manifest.settings.event_subscriptions.request_url;
  const interactionsUrl: string = manifest.settings.interactivity.request_url;
  assert.deepEqual([commandUrl, eventsUrl, interactionsUrl], [`${nginxUrl}/slack/commands`, `${nginxUrl}/slack/events`, `${nginxUrl}/slack/interactions`]);
  const challenge = await slackPost(eventsUrl, JSON.stringify({ token: 'legacy', type: 'url_verification', challenge: 'readme-trial' }), 'application/json');
  assert.equal(challenge.status, 200, challenge.body);
  assert.match(challenge.body, /readme-trial/, 'Slack verifies the events URL');
  assert.equal((await request(interactionsUrl, { method: 'POST', body: 'payload=%7B%7D', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 401, 'the interactions URL reaches the server, which wants a signature');

  // "Type /acct whoami": not linked yet, so the answer is a link, only for this user.
  const command = manifest.features.slash_commands[0].command as string;
  assert.equal(command, '/acct');
  const first = await slackPost(commandUrl, commandBody({ user: 'UTRIAL', text: 'whoami' }), 'application/x-www-form-urlencoded');
  assert.equal(first.status, 200, first.body);
  assert.equal(first.json.response_type, 'ephemeral');
  const link = /https?:\/\/\S+\/associate\?nonce=[A-Za-z0-9_-]+/.exec(first.json.text)?.[0] ?? '';
  assert.ok(link.startsWith(`${nginxUrl}/associate?nonce=`), `a link through nginx in ${first.body}`);

  // Open it: nginx asks for a sign-in; with the README's user and password, the confirmation page.
  const [, user, password] = /printf '(\w+):%s\\n' "\$\(openssl passwd -apr1 '([^']+)'\)"/.exec(blocks.map((b) => b.code).join('\n')) ?? [];
  assert.ok(user && password, "the README's password file command");
  assert.equal((await request(link)).status, 401);
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const page = await request(link, { headers: { authorization } });
  assert.equal(page.status, 200, page.body);
  assert.match(page.body, new RegExp(`to your account <strong>${user}</strong>`));
  const done = await request(`${nginxUrl}/associate`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', origin: nginxUrl, 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ ...formFields(page.body), decision: 'link' }).toString(),
  });
  assert.equal(done.status, 200, `${done.body}\n--- server ---\n${serverOut}`);
  await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === 'UTRIAL');

  const again = await slackPost(commandUrl, commandBody({ user: 'UTRIAL', text: 'whoami' }), 'application/x-www-form-urlencoded');
  assert.equal(again.status, 200, again.body);
  assert.match(again.json.text, new RegExp(`linked to \\*?${user}`));
});
