// README's "Your first real Slack command in 15 minutes", run as written. The shell blocks marked
// `<!-- trial-test -->` run in README order, each in its own `bash -e -o pipefail`, in a temporary
// folder that holds this checkout's deploy/, src/ and node_modules/ (so nothing lands in the work
// tree); `<!-- trial-test: background -->` marks the block that starts the server and stays up; a
// ```text block marked `<!-- trial-output -->` right after a block is what that block must print.
// `<!-- trial-test: http -->` marks the HTTP variant's block, run on its own. Then the test does
// what "type /acct whoami in Slack" does: Slack's slash command over the Socket Mode connection
// the server opened to the Slack stand-in; the link opened and confirmed through nginx with basic
// auth.
//
// What differs on this machine, and nothing else (each substitution must still match the README):
// - the README's text: nginx's 127.0.0.1:8080 → a free port, the server's 127.0.0.1:3000 → another;
//   /etc/nginx/ → a temporary folder; `sudo ` → nothing; `nginx -t` and `systemctl reload nginx`
//   → the same nginx with that folder's nginx.conf (which, like Debian's, includes conf.d/*.conf;
//   the test stops it at the end); the two `paste-…` values → tokens of the Slack stand-in;
//   deploy/nginx-sso-proxy.conf → a copy with the same /etc/nginx/ folder, its log folder, and the
//   server's port in place of 3000 (test/support/nginx.ts makes the same changes);
// - the server's environment: PORT (the free port) and SLACK_API_URL (the Slack stand-in), which
//   the environment sets over ACCOUNT_BINDING_ENV's file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, freePort, tempDir } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { commandBody } from './support/slack.ts';
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
  /** The HTTP variant's block: run on its own, not in the Socket Mode sequence. */
  http: boolean;
  /** What the block must print, when the README shows it. */
  output?: string;
}

/** The marked blocks of the trial section, in order. */
function trialBlocks(readme: string): Block[] {
  const start = readme.indexOf(`\n${SECTION_TITLE}\n`);
  assert.ok(start >= 0, `README has the section "${SECTION_TITLE}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const marked = /<!-- trial-test(?:: (background|http))? -->\n```sh\n([\s\S]*?)\n```\n(?:<!-- trial-output -->\n```text\n([\s\S]*?)\n```\n)?/g;
  return [...section.matchAll(marked)].map((m) => ({ code: m[2]!, background: m[1] === 'background', http: m[1] === 'http', output: m[3] }));
}

const blocks = trialBlocks(README);

test('README starts with the title and the two commands, and marks the trial steps a test runs', () => {
  assert.ok(
    README.startsWith(
      '# slack-account-binding\n\n```sh\nnpm ci && npm run demo   # the whole product on this machine: real server, stand-ins for Slack, SSO and an internal app\nnpm ci && npm test       # type check, then every test\n```\n',
    ),
  );
  const lines = README.split('\n').length - (README.endsWith('\n') ? 1 : 0);
  assert.ok(lines <= 350, `README is at most 350 lines (it is ${lines}): move detail into docs/`);
  const markers = README.match(/<!-- trial-test(: background|: http)? -->/g) ?? [];
  assert.equal(markers.length, blocks.length, 'every marker is followed by a ```sh block inside the trial section');
  assert.ok(blocks.length >= 5, `the trial's steps are marked (found ${blocks.length})`);
  assert.equal(blocks.filter((b) => b.background).length, 1, 'one block starts the server');
  assert.ok(blocks.some((b) => b.output), 'the README shows what a step prints');
  assert.equal(blocks.filter((b) => b.http).length, 1, 'one block of the HTTP variant');
  for (const name of ['deploy/account-binding.env.example', 'deploy/nginx-sso-proxy.conf', 'deploy/slack-app-manifest.socket.json', 'deploy/slack-app-manifest.json', 'SLACK_APP_TOKEN', 'LINK_VERIFICATION=confirm', '/acct whoami']) {
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
  ['127.0.0.1:8080', `127.0.0.1:${nginxPort}`, "nginx's port"],
  ['127.0.0.1:3000', `127.0.0.1:${serverPort}`, "the server's port"],
  ['/etc/nginx/', `${etc}/`, "nginx's folder"],
  ['deploy/nginx-sso-proxy.conf', `${dir}/nginx-sso-proxy.conf`, 'the shipped config with the same folders and the server port'],
  ['sudo ', '', 'the test owns its folders'],
  ['nginx -t', `nginx ${nginxArgs()} -t`, "this folder's nginx.conf"],
  ['systemctl reload nginx', `nginx ${nginxArgs()}`, 'nginx started by the test'],
  ['xapp-paste-the-app-level-token', 'xapp-1-readme-trial', 'an app-level token the Slack stand-in accepts'],
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
  if (server?.pid && server.exitCode === null) {
    // The whole group (bash → npm → tsx → node), and until every one of them has let go of the
    // output pipes: npm may exit before the server it started, which would keep its Socket Mode
    // connection to the stand-in open (and slack.close() waiting for it).
    const closed = new Promise((resolve) => server!.on('close', resolve));
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await closed;
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
    detached: true, // its own process group, stopped as one in after()
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

test("the trial's marked commands, in order, then /acct whoami over the socket: link, sign in through nginx, confirm, linked", { skip, timeout: 60_000 }, async () => {
  const used = new Set<string>();
  for (const [i, block] of blocks.entries()) {
    if (block.http) continue;
    const code = localize(block.code, used);
    if (block.background) {
      await startInBackground(code);
      continue;
    }
    const stdout = await runBlock(i, block, code);
    if (block.output !== undefined) assert.equal(stdout.trim(), block.output.trim(), `what trial block ${i + 1} prints:\n${block.code}`);
  }
  for (const [from] of substitutions()) assert.ok(used.has(from), `the README's trial still contains "${from}" (update this test's substitutions)`);

  // "Type /acct whoami": Slack sends it over the connection the server opened, with the app token.
  const [opened] = await slack.waitFor('apps.connections.open');
  assert.equal(opened!.token, 'xapp-1-readme-trial');
  const fields = (text: string) => Object.fromEntries(new URLSearchParams(commandBody({ user: 'UTRIAL', text })));
  const first = await slack.socket.send('slash_commands', fields('whoami'));
  assert.ok(first?.payload, `an answer over the socket\n--- server ---\n${serverOut}`);
  assert.equal(first.payload.response_type, 'ephemeral');
  const link = /https?:\/\/\S+\/associate\?nonce=[A-Za-z0-9_-]+/.exec(first.payload.text)?.[0] ?? '';
  assert.ok(link.startsWith(`${nginxUrl}/associate?nonce=`), `a link through nginx in ${first.payload.text}`);

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

  const again = await slack.socket.send('slash_commands', fields('whoami'));
  assert.match(again?.payload.text ?? '', new RegExp(`linked to \\*?${user}`));

  // The settings file is the CLI's too: `npm run admin -- doctor` with the same ACCOUNT_BINDING_ENV.
  const doctor = await run('bash', ['-c', `ACCOUNT_BINDING_ENV=account-binding.env SLACK_API_URL=${slack.url} npm run --silent admin -- doctor`], { cwd: work, env: shellEnv() });
  assert.match(doctor.stdout, /ok {4}socket_mode: SLACK_APP_TOKEN opens Socket Mode connections/);
});

test("the HTTP variant's manifest block: the three URLs named", { skip }, async () => {
  const [block] = blocks.filter((b) => b.http);
  const stdout = await runBlock(blocks.indexOf(block!), block!, block!.code);
  assert.equal(stdout.trim(), block!.output!.trim());
  const manifest = JSON.parse(readFileSync(join(work, 'my-slack-app.json'), 'utf8'));
  assert.deepEqual(
    [manifest.features.slash_commands[0].url, manifest.settings.event_subscriptions.request_url, manifest.settings.interactivity.request_url],
    ['https://slack-link.example.com/slack/commands', 'https://slack-link.example.com/slack/events', 'https://slack-link.example.com/slack/interactions'],
  );
});

async function runBlock(i: number, block: Block, code: string): Promise<string> {
  try {
    return (await run('bash', ['-e', '-o', 'pipefail', '-c', code], { cwd: work, env: shellEnv() })).stdout;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return assert.fail(`trial block ${i + 1} failed (exit ${e.code}):\n${block.code}\n--- as run here ---\n${code}\n--- stdout ---\n${e.stdout}\n--- stderr ---\n${e.stderr}\n--- server ---\n${serverOut}`);
  }
}
