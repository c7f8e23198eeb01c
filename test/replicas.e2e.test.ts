// Two replicas (two src/main.ts processes) on one PostgreSQL database, behind the shipped nginx
// config (deploy/nginx-sso-proxy.conf) with its upstream turned into the pair. The database is a
// private cluster of this file's own: one test stops it, and the shared TEST_DATABASE_URL server
// must never be stopped (other test files use it at the same time).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from './support/http-client.ts';
import { freePort, ROOT, startServer, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { commandBody, linkFrom, signedHeaders } from './support/slack.ts';
import { formFields } from './support/browser.ts';
import { NGINX_PROXY_SECRET, reserveNginx, startNginx, type RunningNginx } from './support/nginx.ts';
import { requires } from './support/requires.ts';
import { readYaml } from './support/yaml.ts';
import { freshDatabase, requiresPostgresBinaries, startCluster, type Cluster } from './support/postgres.ts';

const skip = requires('/usr/sbin/nginx', 'nginx-light') || requiresPostgresBinaries();
/** Slack gives a slash command 3 seconds; the answer must be back well within them. */
const SLACK_DEADLINE_MS = 3000;
const PEOPLE = 40;

let cluster: Cluster;
let databaseUrl: string;
let slack: SlackStub;
let nginx: RunningNginx;
let ports: number[];
let replicas: RunningServer[];
let env: Record<string, string>;

const startReplica = (port: number) => startServer({ slackApiUrl: slack.url, databaseUrl, env: { ...env, PORT: String(port) } });

before(async () => {
  if (skip) return;
  [cluster, slack] = await Promise.all([startCluster(), startSlackStub()]);
  databaseUrl = (await freshDatabase(cluster)).url;
  const reserved = await reserveNginx();
  ports = [await freePort(), await freePort()];
  env = { PUBLIC_BASE_URL: reserved.url, TRUSTED_PROXY_SECRET: NGINX_PROXY_SECRET, LINK_RATE_LIMIT_PER_MINUTE: '0' };
  // Started together: the schema is applied once, under the advisory lock, while the other waits.
  replicas = await Promise.all(ports.map(startReplica));
  const users = Object.fromEntries(['alice', 'bob', ...Array.from({ length: PEOPLE }, (_, i) => `person${i}`)].map((u) => [u, `${u}-password`]));
  nginx = await startNginx(reserved.port, ports, users);
});
after(async () => {
  if (skip) return;
  await nginx?.stop();
  await Promise.all((replicas ?? []).map((r) => r.stop()));
  await slack?.close();
  cluster?.dispose();
});

const basic = (user: string) => `Basic ${Buffer.from(`${user}:${user}-password`).toString('base64')}`;

/** A signed slash command, sent to `baseUrl`: nginx, or one replica directly. */
async function command(baseUrl: string, user: string, text: string) {
  const body = commandBody({ user, text });
  const started = performance.now();
  const res = await request(`${baseUrl}/slack/commands`, { method: 'POST', headers: signedHeaders(body), body });
  let json: any;
  try {
    json = JSON.parse(res.body);
  } catch {
    json = undefined;
  }
  return { ...res, json, ms: performance.now() - started };
}

/** What nginx sends a replica for a signed-in person: the identity headers and the proxy's secret. */
const viaProxy = (who: string) => ({ 'x-forwarded-user': who, 'x-forwarded-email': `${who}@corp.example`, 'x-proxy-secret': NGINX_PROXY_SECRET });

/** Opens a link (its public URL is nginx's) through nginx, or on one replica as nginx would. */
async function openPage(link: string, who: string, replica?: RunningServer) {
  const url = replica ? `${replica.url}${new URL(link).pathname}${new URL(link).search}` : link;
  const page = await request(url, { headers: replica ? viaProxy(who) : { authorization: basic(who) } });
  assert.equal(page.status, 200, page.body);
  return formFields(page.body);
}

function post(fields: { nonce: string; csrf: string }, who: string, replica?: RunningServer) {
  return request(`${replica ? replica.url : nginx.url}/associate`, {
    method: 'POST',
    headers: {
      ...(replica ? viaProxy(who) : { authorization: basic(who) }),
      'content-type': 'application/x-www-form-urlencoded',
      origin: nginx.url,
      'sec-fetch-site': 'same-origin',
    },
    body: new URLSearchParams({ ...fields, decision: 'link' }).toString(),
  });
}

/** Every binding, as the admin CLI lists them from the shared database. */
function bindings(): Map<string, string> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', 'list', '--json'], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl } });
  assert.equal(r.status, 0, r.stderr);
  return new Map(r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((b) => [b.slack_user_id, b.internal_user]));
}

/** POSTs to /associate that each replica logged so far. */
const confirmationsOn = (replica: RunningServer) => replica.logs().filter((l) => l.event === 'http' && l.path === '/associate' && l.method === 'POST').length;

test('a link made on one replica is confirmed on the other, and both then know the binding', { skip }, async () => {
  const [a, b] = replicas as [RunningServer, RunningServer];
  slack.emails.set('UCROSS', 'alice@corp.example');
  const link = linkFrom(await command(a.url, 'UCROSS', 'link'));
  assert.ok(link.startsWith(`${nginx.url}/associate?nonce=`), link);
  const done = await post(await openPage(link, 'alice', b), 'alice', b);
  assert.equal(done.status, 200, done.body);
  for (const replica of [a, b]) assert.match((await command(replica.url, 'UCROSS', 'whoami')).json.text, /You are linked to alice/);
  assert.equal(bindings().get('UCROSS'), 'alice');
});

test('twenty concurrent confirmations of one link, spread over both replicas by nginx, bind exactly once; the rest get 410', { skip }, async () => {
  slack.emails.set('URACE', 'bob@corp.example');
  const link = linkFrom(await command(nginx.url, 'URACE', 'link'));
  const fields = await openPage(link, 'bob');
  const before = replicas.map(confirmationsOn);
  const statuses = (await Promise.all(Array.from({ length: 20 }, () => post(fields, 'bob')))).map((r) => r.status);
  assert.deepEqual(statuses.filter((s) => s !== 410), [200], `statuses: ${statuses.join(' ')}`);
  assert.equal(bindings().get('URACE'), 'bob');
  // Logged once the reply is sent: wait for all twenty.
  const deadline = Date.now() + 5000;
  while (replicas.reduce((n, r, i) => n + confirmationsOn(r) - before[i]!, 0) < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const spread = replicas.map((r, i) => confirmationsOn(r) - before[i]!);
  assert.equal(spread[0]! + spread[1]!, 20);
  assert.ok(spread.every((n) => n > 0), `both replicas took some: ${spread.join(' + ')}`);
});

test('a signed command replayed to the other replica is refused: the claims are shared', { skip }, async () => {
  const [a, b] = replicas as [RunningServer, RunningServer];
  const body = commandBody({ user: 'UREPLAY', text: 'whoami' });
  const headers = signedHeaders(body);
  assert.equal((await request(`${a.url}/slack/commands`, { method: 'POST', headers, body })).status, 200);
  const replayed = await request(`${b.url}/slack/commands`, { method: 'POST', headers, body });
  assert.equal(replayed.status, 401);
  assert.match(replayed.body, /already received/);
});

test('an unlink by the admin CLI is seen by both replicas at once', { skip }, async () => {
  assert.equal(bindings().get('UCROSS'), 'alice');
  for (const replica of replicas) assert.match((await command(replica.url, 'UCROSS', 'whoami')).json.text, /linked to alice/);
  const cli = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', 'unlink', '--workspace', 'T0001', '--slack-user', 'UCROSS'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
  });
  assert.equal(cli.status, 0, cli.stderr);
  // The very next command on each: no cache anywhere keeps the old binding alive.
  for (const replica of replicas) assert.match((await command(replica.url, 'UCROSS', 'whoami')).json.text, /not linked/);
});

test('one replica killed with SIGKILL under load: the other serves, and every confirmation acknowledged with 200 is bound', { skip }, async (t) => {
  const people = Array.from({ length: PEOPLE }, (_, i) => ({ user: `UKILL${i}`, who: `person${i}` }));
  for (const p of people) slack.emails.set(p.user, `${p.who}@corp.example`);
  const forms = await Promise.all(people.map(async (p) => openPage(linkFrom(await command(nginx.url, p.user, 'link')), p.who)));

  const victim = replicas[0]!;
  const outcomes: Array<{ user: string; status: number; afterKill: boolean }> = [];
  let killed = false;
  let next = 0;
  // Eight at a time through nginx, each confirmation beside a bound user's command; the first
  // replica dies once a quarter are done.
  const worker = async () => {
    while (next < people.length) {
      const i = next++;
      if (i === PEOPLE / 4 && !killed) {
        killed = true;
        victim.process.kill('SIGKILL');
      }
      const afterKill = killed;
      const [res] = await Promise.all([
        post(forms[i]!, people[i]!.who).catch(() => ({ status: 0 })),
        command(nginx.url, 'URACE', 'whoami').catch(() => undefined),
      ]);
      outcomes.push({ user: people[i]!.user, status: res.status, afterKill });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.equal((await victim.stop()).signal, 'SIGKILL');

  const bound = bindings();
  const acknowledged = outcomes.filter((o) => o.status === 200);
  const lost = acknowledged.filter((o) => bound.get(o.user) === undefined);
  assert.deepEqual(lost, [], 'a 200 success page whose binding is missing');
  for (const o of acknowledged) assert.equal(bound.get(o.user), `person${o.user.slice('UKILL'.length)}`);
  // Only what was in flight on the dying replica may fail (nginx does not resend a POST it sent).
  const failed = outcomes.filter((o) => o.status !== 200);
  t.diagnostic(`${acknowledged.length} acknowledged (${outcomes.filter((o) => o.afterKill && o.status === 200).length} after the kill), failed: ${failed.map((o) => o.status).join(' ') || 'none'}`);
  assert.ok(failed.length <= 8, `at most the eight in flight failed: ${JSON.stringify(failed)}`);
  assert.ok(failed.every((o) => o.status === 502 || o.status === 0), JSON.stringify(failed));
  assert.ok(outcomes.filter((o) => o.afterKill && o.status === 200).length >= PEOPLE / 2, 'the other replica went on serving');
  // And from now on everything is served by the survivor.
  for (let i = 0; i < 6; i++) assert.equal((await command(nginx.url, 'URACE', 'whoami')).status, 200);

  replicas[0] = await startReplica(ports[0]!);
});

const downReplies: Array<{ status: number; json: any; ms: number }> = [];

test('the database down: every replica answers a slash command within 3 s (no hang), /healthz is 503, and both recover', { skip }, async () => {
  for (const replica of replicas) assert.equal((await request(`${replica.url}/healthz`)).status, 200);
  // Stopped: connections refused. Frozen: connections open but nothing answers (a network cut).
  for (const [how, down, up] of [
    ['stopped', () => cluster.stop(), () => cluster.start()],
    ['frozen', async () => cluster.freeze(), async () => cluster.thaw()],
  ] as const) {
    await down();
    try {
      // Both replicas at once; on each, a command twice (the first finds a pooled connection to
      // fail on, the second a new one to wait for) beside a /healthz.
      await Promise.all(
        replicas.map(async (replica) => {
          const timed = async () => {
            const started = performance.now();
            const health = await request(`${replica.url}/healthz`);
            return { status: health.status, ms: performance.now() - started };
          };
          const [replies, health] = await Promise.all([
            (async () => [await command(replica.url, 'URACE', 'whoami'), await command(replica.url, 'URACE', 'whoami')])(),
            timed(),
          ]);
          for (const reply of replies) {
            assert.ok(reply.ms < SLACK_DEADLINE_MS, `${how}: answered in ${Math.round(reply.ms)} ms`);
            downReplies.push(reply);
          }
          assert.equal(health.status, 503, how);
          assert.ok(health.ms < SLACK_DEADLINE_MS, `${how}: /healthz in ${Math.round(health.ms)} ms`);
        }),
      );
    } finally {
      await up();
    }
    for (const replica of replicas) {
      const deadline = Date.now() + 10_000;
      while ((await request(`${replica.url}/healthz`)).status !== 200) {
        assert.ok(Date.now() < deadline, `${how}: a replica did not recover`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match((await command(replica.url, 'URACE', 'whoami')).json.text, /linked to bob/, `${how}: served again`);
    }
  }
  assert.equal(downReplies.length, 8);
});

test('…and that answer is the ephemeral apology with a request id, not a 500', { skip }, () => {
  assert.ok(downReplies.length > 0, 'the previous test ran');
  for (const reply of downReplies) {
    assert.equal(reply.status, 200);
    assert.equal(reply.json?.response_type, 'ephemeral');
    assert.match(reply.json?.text, /Sorry, something went wrong on our side.*\(request [0-9a-f-]{36}\)/);
  }
});

// ---------- deploy/compose.replicas.yaml: the two-replica example, read and checked ----------


test('deploy/compose.replicas.yaml: two replicas, PostgreSQL and nginx on private networks, every secret a file', () => {
  const text = readFileSync(join(ROOT, 'deploy/compose.replicas.yaml'), 'utf8');
  const compose = readYaml(text) as any;
  const services = compose.services;
  assert.deepEqual(Object.keys(services).sort(), ['app1', 'app2', 'postgres', 'proxy']);
  const { app1, app2, postgres, proxy } = services;
  assert.deepEqual(app2, app1, 'the replicas are alike');

  const env = app1.environment;
  assert.equal(env.DATABASE_PATH, '', "the image's SQLite default is cleared (else every start and every CLI run warns that it is ignored)");
  assert.equal(env.DATABASE_URL_FILE, '/run/secrets/database_url');
  for (const name of ['DATABASE_URL', 'SLACK_SIGNING_SECRET', 'SLACK_BOT_TOKEN', 'TRUSTED_PROXY_SECRET']) assert.equal(env[name], undefined, `${name} as a value`);
  for (const [name, path] of Object.entries(env)) {
    if (name.endsWith('_FILE')) assert.ok(app1.secrets.includes(String(path).replace('/run/secrets/', '')), `${name}: its secret is mounted`);
  }
  assert.equal(app1.ports, undefined, 'a replica publishes nothing');
  assert.deepEqual(app1.networks, ['backend', 'frontend']);
  assert.equal(app1.depends_on.postgres.condition, 'service_healthy');
  assert.equal(env.TRUSTED_PROXIES, proxy.networks.frontend.ipv4_address, "only the proxy's address is trusted");
  assert.ok(proxy.networks.frontend.ipv4_address.startsWith(compose.networks.frontend.ipam.config[0].subnet.replace(/0\/24$/, '')), 'in its network');
  assert.equal(env.TRUSTED_PROXY_SECRET_FILE, '/run/secrets/trusted_proxy_secret');

  assert.deepEqual(postgres.networks, ['backend'], 'PostgreSQL is on the internal network only');
  assert.equal(compose.networks.backend.internal, 'true');
  assert.equal(postgres.ports, undefined);
  assert.equal(postgres.environment.POSTGRES_PASSWORD_FILE, '/run/secrets/postgres_password');
  assert.deepEqual(Object.keys(services).filter((s) => services[s].ports), ['proxy']);
  for (const port of proxy.ports) assert.match(port, /^127\.0\.0\.1:/, 'published on loopback only');

  // The proxy runs the shipped file, its one upstream line made the two replicas.
  const shipped = readFileSync(join(ROOT, 'deploy/nginx-sso-proxy.conf'), 'utf8');
  assert.deepEqual(proxy.volumes, ['./nginx-sso-proxy.conf:/etc/nginx/account-binding.conf.in:ro']);
  const script = proxy.command[2] as string;
  const sed = /sed 's\/([^/]+)\/([^/]+)\/' \/etc\/nginx\/account-binding\.conf\.in > \/etc\/nginx\/conf\.d\/default\.conf/.exec(script);
  assert.ok(sed, script);
  assert.equal(shipped.split(sed[1]!).length, 2, `deploy/nginx-sso-proxy.conf holds "${sed[1]}" once`);
  assert.equal(sed[2], 'server app1:3000; server app2:3000;');
  for (const included of ['/etc/nginx/account-binding-proxy-secret.conf', '/etc/nginx/account-binding.htpasswd']) {
    assert.ok(shipped.includes(included) && script.includes(included), `the proxy writes ${included}, which the shipped file reads`);
  }
  assert.match(script, /\$\$\(cat \/run\/secrets\/trusted_proxy_secret\)/, 'the X-Proxy-Secret line comes from the replicas\' secret file');
  assert.match(script, /exec nginx -g 'daemon off;'\n$/);

  // Every secret named is declared as a file in ./secrets/, and every declared one is used.
  const used = new Set(Object.values(services).flatMap((s: any) => s.secrets ?? []));
  assert.deepEqual([...used].sort(), Object.keys(compose.secrets).sort());
  for (const s of Object.values(compose.secrets) as any[]) assert.match(s.file, /^\.\/secrets\/\w+$/);
  assert.doesNotMatch(text, /xox[bp]-|postgres:\/\/[^:@\s]+:[^@\s]+@(?!postgres:5432\/binding \(the password)/, 'no token or password in the file');
});
