// deploy/compose.yaml brought up as an operator would (`docker compose up -d`), then the flow
// through its proxy only: a signed slash command, the link, the sign-in (basic auth) and the
// confirmation, then `down`. `npm run test:container`. Uses the real docker when `docker info`
// answers; otherwise ../shared/container/bin/docker (podman, and Debian's podman-compose).
//
// The file runs as shipped, beside a copy of the shipped nginx config, with an override file
// (`-f override.yaml`) for what differs on this machine, and nothing else:
// - no registry: the app's image is built here, and the proxy's is a stand-in for the official
//   nginx image (Debian's nginx-light, whose nginx.conf includes conf.d/*.conf as the official one does);
// - no Slack: SLACK_API_URL points at a third service on the private network that answers every
//   Web API method with ok and logs it;
// - podman-compose 1.0.3 ignores `ipam`: the private network is created first with the file's range
//   (Compose then uses it as it is); the real docker compose creates it itself;
// - PROXY_PORT: a free port instead of 8080.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, freePort, tempDir, SIGNING_SECRET } from '../support/server.ts';
import { commandBody, signedHeaders } from '../support/slack.ts';
import { formFields } from '../support/browser.ts';
import { request } from '../support/http-client.ts';
import { DOCKER_ENV, dockerAnswers } from './docker.ts';

const APP_IMAGE = 'account-binding:compose-test';
const NGINX_IMAGE = 'account-binding-nginx:compose-test';
const PROJECT = `abcompose${process.pid}`;
const PUBLIC = 'https://slack-link.example.com';
const PROXY_SECRET = 'compose-proxy-secret-0123456789abcdef';

let dir: string;
let deploy: string;
let port: number;
let upRan = false;

const docker = (args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
  execFileSync('docker', args, { cwd: opts.cwd, env: { ...DOCKER_ENV, ...opts.env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 }).trim();
const compose = (...args: string[]) => docker(['compose', '-p', PROJECT, '-f', 'compose.yaml', '-f', 'override.yaml', ...args], { cwd: deploy, env: { PROXY_PORT: String(port) } });
/** The containers of this project, by service. */
const container = (service: string) =>
  docker(['ps', '-a', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${service}`, '--format', '{{.Names}}']).split('\n')[0]!;

before(async () => {
  dir = tempDir();
  deploy = join(dir, 'deploy');
  mkdirSync(join(deploy, 'secrets'), { recursive: true });
  for (const file of ['compose.yaml', 'nginx-sso-proxy.conf']) copyFileSync(join(ROOT, 'deploy', file), join(deploy, file));
  const secrets: Record<string, string> = {
    slack_signing_secret: SIGNING_SECRET,
    slack_bot_token: 'xoxb-compose-test',
    trusted_proxy_secret: `${PROXY_SECRET}\n`,
    // nginx reads {PLAIN} entries, which keeps the test free of a hashing tool.
    htpasswd: 'alice:{PLAIN}alice-password\n',
  };
  for (const [name, value] of Object.entries(secrets)) {
    writeFileSync(join(deploy, 'secrets', name), value, { mode: 0o600 });
    chownSync(join(deploy, 'secrets', name), 1000, 1000); // the app runs as node (1000:1000)
  }
  port = await freePort();

  docker(['build', '-t', APP_IMAGE, ROOT]);
  const nginxContext = join(dir, 'nginx-image');
  mkdirSync(nginxContext);
  writeFileSync(
    join(nginxContext, 'Dockerfile'),
    `FROM node:24-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends nginx-light && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default
CMD ["nginx", "-g", "daemon off;"]
`,
  );
  docker(['build', '-t', NGINX_IMAGE, nginxContext]);

  // A Slack Web API that says ok to everything and logs each call; node is in the stand-in image.
  // users.info shows the email nginx passes for alice: the file proves links by email.
  const slackStandIn =
    "require('http').createServer((q,r)=>{let b='';q.on('data',d=>b+=d);q.on('end',()=>{console.log('call '+q.url);" +
    "const user=q.url.endsWith('/users.info')?{id:'UCOMPOSE',profile:{email:'alice@corp.example'}}:'account-binding';" +
    "r.setHeader('content-type','application/json');r.end(JSON.stringify({ok:true,team:'Acme',user,channel:'D1',ts:'1.1'}))})}).listen(8081)";
  writeFileSync(
    join(deploy, 'override.yaml'),
    `services:
  app:
    image: ${APP_IMAGE}
    environment:
      SLACK_API_URL: http://slack:8081/api/
  proxy:
    image: ${NGINX_IMAGE}
  slack:
    image: ${NGINX_IMAGE}
    init: true
    command: ["node", "-e", ${JSON.stringify(slackStandIn)}]
    networks:
      - private
`,
  );
  if (!dockerAnswers) {
    const subnet = /subnet:\s*(\S+)/.exec(readFileSync(join(deploy, 'compose.yaml'), 'utf8'))?.[1];
    assert.ok(subnet, 'compose.yaml names its network range');
    spawnSync('podman', ['network', 'rm', '-f', `${PROJECT}_private`], { env: DOCKER_ENV, stdio: 'ignore' });
    docker(['network', 'create', '--subnet', subnet, `${PROJECT}_private`]);
  }
});

after(() => {
  if (upRan) {
    try {
      compose('down', '-v');
    } catch (err) {
      console.log(`# compose down: ${(err as { stderr?: string }).stderr ?? err}`);
    }
  }
  spawnSync('docker', ['network', 'rm', '-f', `${PROJECT}_private`], { env: DOCKER_ENV, stdio: 'ignore' });
});

/** What Slack sends: a signed, form-encoded slash command, here through the proxy. */
async function slash(user: string, text: string) {
  const body = commandBody({ user, text });
  const res = await request(`http://127.0.0.1:${port}/slack/commands`, { method: 'POST', headers: signedHeaders(body), body });
  assert.equal(res.status, 200, res.body);
  return JSON.parse(res.body) as { text: string; response_type?: string };
}

test('docker compose up: through the proxy alone, a slash command, the link, sign-in and confirmation bind; then down', { timeout: 600_000 }, async () => {
  upRan = true;
  compose('up', '-d');
  const base = `http://127.0.0.1:${port}`;
  const logs = () => ['app', 'proxy', 'slack'].map((s) => `--- ${s} ---\n${spawnSync('docker', ['logs', container(s)], { env: DOCKER_ENV, encoding: 'utf8' }).stdout}`).join('\n');

  // Up: an unsigned command goes through nginx to the app, which refuses it (401 from the app).
  let ready = false;
  for (let i = 0; i < 150 && !ready; i++) {
    try {
      const res = await request(`${base}/slack/commands`, { method: 'POST', body: '' });
      ready = res.status === 401;
    } catch {
      // not listening yet
    }
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(ready, `the proxy and the app answer\n${logs()}`);

  // Only the proxy publishes a port (podman lists the image's EXPOSE with no host binding).
  const published = (service: string) => {
    const bindings: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = JSON.parse(docker(['inspect', container(service)]))[0].HostConfig.PortBindings ?? {};
    return Object.entries(bindings).flatMap(([port, hosts]) => (hosts ?? []).filter((h) => h.HostPort).map((h) => `${h.HostIp}:${h.HostPort}->${port}`));
  };
  assert.deepEqual(published('app'), []);
  assert.deepEqual(published('proxy'), [`127.0.0.1:${port}->80/tcp`]);

  const prompt = await slash('UCOMPOSE', 'link');
  assert.equal(prompt.response_type, 'ephemeral');
  const link = /https:\/\/slack-link\.example\.com\/associate\?nonce=[A-Za-z0-9_-]+/.exec(prompt.text)?.[0] ?? '';
  assert.ok(link, prompt.text);
  const viaProxy = base + link.slice(PUBLIC.length);

  assert.equal((await request(viaProxy)).status, 401, 'the proxy asks for a sign-in');
  const authorization = `Basic ${Buffer.from('alice:alice-password').toString('base64')}`;
  const page = await request(viaProxy, { headers: { authorization, 'x-forwarded-user': 'mallory' } });
  assert.equal(page.status, 200, `${page.body}\n${logs()}`);
  assert.match(page.body, /to your account <strong>alice<\/strong>/, 'the signed-in name, not the one the client sent');
  const done = await request(`${base}/associate`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', origin: PUBLIC, 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ ...formFields(page.body), decision: 'link' }).toString(),
  });
  assert.equal(done.status, 200, `${done.body}\n${logs()}`);
  assert.match((await slash('UCOMPOSE', 'whoami')).text, /linked to \*?alice/);

  // The app reached the Slack stand-in by name on the private network (the DM after linking).
  for (let i = 0; i < 50 && !/call \/api\/chat\.postMessage/.test(logs()); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(logs(), /call \/api\/chat\.postMessage/);
  // The app's log: secrets came from files, the proxy is trusted by range and secret.
  assert.match(logs(), /"trusted_proxies":"172\.30\.57\.0\/24"/);
  assert.match(logs(), /"proxy_header_required":true/);

  compose('down', '-v');
  upRan = false;
  assert.equal(docker(['ps', '-a', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Names}}']), '', 'down removed the containers');
});
