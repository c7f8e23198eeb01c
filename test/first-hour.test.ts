// An operator's first hour (issue #25): the mistakes a first deployment makes, each caught at start
// or by the doctor with its fix, before a user meets it. In a container: loopback-only settings and
// the database's volume. Anywhere: a path pasted into PUBLIC_BASE_URL, a proxy that passes no email,
// an internal application that cannot be reached.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { join } from 'node:path';
import { containerEvidence, defaultGateway, readDefaultGateway } from '../src/lib/container.ts';
import { checkContainerNetwork, checkDatabaseFolder, checkInternalApp, effectiveSettings } from '../src/doctor.ts';
import { loadConfig } from '../src/config/index.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { BOT_TOKEN, ROOT, SIGNING_SECRET, freePort, startServer, tempDir } from './support/server.ts';
import { linkFrom, slashCommand } from './support/slack.ts';
import { openLink } from './support/browser.ts';

let slack: SlackStub;
before(async () => {
  slack = await startSlackStub();
});
after(() => slack.close());

const required = { SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, PUBLIC_BASE_URL: 'https://link.example' };

// The table of a container on Docker's default bridge, as its /proc/net/route shows it: a default
// route through 172.17.0.1, then the bridge's own network (no gateway).
const DOCKER_ROUTES = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
`;

test('the gateway is read from /proc/net/route: the default route\'s, its hex read little-endian', () => {
  assert.equal(defaultGateway(DOCKER_ROUTES), '172.17.0.1');
  // The default route need not come first; a route that is down (no RTF_UP) or has no gateway is skipped.
  const reordered = DOCKER_ROUTES.split('\n');
  assert.equal(defaultGateway([reordered[0], reordered[2], 'eth1\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0', reordered[1]].join('\n')), '172.17.0.1');
  assert.equal(defaultGateway('Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n'), null, 'no default route');
  assert.equal(defaultGateway('Iface\tDestination\tGateway\neth0\t00000000\tnot-hex\t0003\t0\t0\t0\t00000000\n'), null);
  assert.equal(defaultGateway(''), null);
  assert.equal(readDefaultGateway(join(tempDir(), 'missing')), null, 'no /proc (macOS): no gateway, no crash');
});

test('a container is known by IN_CONTAINER, the runtimes\' marker files, or container=; IN_CONTAINER=0 overrides them', () => {
  const none = () => false;
  assert.equal(containerEvidence(null, undefined, none), null);
  assert.equal(containerEvidence(true, undefined, none), 'IN_CONTAINER=1');
  assert.equal(containerEvidence(null, undefined, (p) => p === '/.dockerenv'), '/.dockerenv');
  assert.equal(containerEvidence(null, undefined, (p) => p === '/run/.containerenv'), '/run/.containerenv');
  assert.equal(containerEvidence(null, 'podman', none), 'container=podman');
  assert.equal(containerEvidence(false, 'podman', () => true), null, 'IN_CONTAINER=0: a sidecar proxy shares the network');
  assert.throws(() => loadConfig({ ...required, IN_CONTAINER: 'yes' }), /IN_CONTAINER must be 1 or 0/);
});

test('in a container, loopback-only HOST and allow-lists are a warning naming the gateway; reachable ones are fine; outside a container nothing is said', () => {
  const docker = { evidence: '/.dockerenv', gateway: '172.17.0.1' };
  const trial = loadConfig({ ...required, HOST: '127.0.0.1', TRUSTED_PROXIES: '127.0.0.1,::1' });
  const found = checkContainerNetwork(trial, docker)!;
  assert.equal(found.level, 'warn');
  assert.match(found.message, /^in a container \(\/\.dockerenv\), the gateway is 172\.17\.0\.1\./);
  assert.match(found.message, /HOST=127\.0\.0\.1 listens on the container's own loopback: a published port refuses every connection .*delete HOST/);
  assert.match(found.message, /TRUSTED_PROXIES=127\.0\.0\.1,::1 trusts the container's own loopback only: the sign-in proxy connects from 172\.17\.0\.1 when on the host/);
  assert.match(found.message, /METRICS_ALLOW=127\.0\.0\.1,::1: \/metrics answers only inside the container/);
  assert.doesNotMatch(found.message, /ADMIN_ALLOW/, 'the offboarding API is off: its allow-list does not matter');
  assert.match(found.message, /Where the proxy shares this container's network \(a sidecar, or nginx in the same container\), loopback is right: IN_CONTAINER=0 says so$/);
  const withApi = checkContainerNetwork(loadConfig({ ...required, ADMIN_API_TOKEN: '0123456789abcdef0123456789abcdef' }), docker)!;
  assert.match(withApi.message, /ADMIN_ALLOW=127\.0\.0\.1,::1: the offboarding API answers only inside the container/);
  assert.doesNotMatch(withApi.message, /HOST=/, 'HOST unset is 0.0.0.0');

  const right = loadConfig({ ...required, TRUSTED_PROXIES: '172.17.0.1', TRUSTED_PROXY_SECRET: 'x'.repeat(32), METRICS_ALLOW: '127.0.0.1,172.17.0.1' });
  assert.equal(checkContainerNetwork(right, docker)!.level, 'ok');
  assert.equal(checkContainerNetwork(trial, { evidence: null, gateway: null }), null);
  assert.match(checkContainerNetwork(trial, { evidence: 'container=podman', gateway: null })!.message, /the gateway is unknown \(no default route in \/proc\/net\/route\).*on Docker's default bridge 172\.17\.0\.1/);
});

test('the server warns at start when it runs in a container with HOST=127.0.0.1, naming this machine\'s gateway; IN_CONTAINER=0 silences it', async () => {
  // IN_CONTAINER=1 is what the image sets: the server's own detection, on this machine's real
  // /proc/net/route. The same server with IN_CONTAINER=0 says nothing about containers.
  const server = await startServer({ slackApiUrl: slack.url, env: { IN_CONTAINER: '1', HOST: '127.0.0.1' } });
  try {
    const [line] = await server.waitForLog((l) => l.event === 'startup_check' && l.check === 'container');
    assert.equal(line!.level, 'warn');
    const gateway = readDefaultGateway();
    assert.ok(String(line!.message).startsWith(`in a container (IN_CONTAINER=1), the gateway is ${gateway ?? 'unknown'}`), String(line!.message));
    assert.match(String(line!.message), /HOST=127\.0\.0\.1 listens on the container's own loopback/);
  } finally {
    await server.stop();
  }
  const host = await startServer({ slackApiUrl: slack.url, env: { IN_CONTAINER: '0', HOST: '127.0.0.1' } });
  try {
    await host.waitForLog((l) => l.event === 'startup_check' && l.check === 'internal_app');
    assert.equal(host.logs().filter((l) => l.check === 'container').length, 0);
  } finally {
    await host.stop();
  }
});

test('in the image (DATA_VOLUME), a database outside the volume says to delete DATABASE_PATH; inside it, an unwritable volume names the fix on the host, never chown of /app', () => {
  const volume = tempDir();
  const outside = checkDatabaseFolder({ databaseUrl: null, databasePath: join(tempDir(), 'data', 'account-binding.db'), dataVolume: volume });
  assert.equal(outside.level, 'warn');
  assert.match(outside.message, /is outside the image's volume \(.*\): the database goes with the container; delete DATABASE_PATH from the settings/);
  assert.equal(checkDatabaseFolder({ databaseUrl: null, databasePath: join(volume, 'account-binding.db'), dataVolume: volume }).level, 'ok');

  // The image's user cannot write the volume: root owns it, the server runs as nobody (when this
  // test runs as root, as CI does; otherwise the folder is made read-only). A real server start.
  const locked = join(tempDir(), 'data');
  mkdirSync(locked, { mode: 0o755 });
  const asRoot = process.getuid?.() === 0;
  if (!asRoot) chmodSync(locked, 0o500);
  const run = (env: Record<string, string>) => {
    const full = { PATH: process.env.PATH, ...required, SLACK_API_URL: slack.url, PORT: '0', IN_CONTAINER: '1', DATA_VOLUME: locked, ...env };
    return asRoot
      ? spawnSync(process.execPath, ['--import', 'tsx', 'test/support/as-user.ts', 'nobody', 'server'], { cwd: ROOT, encoding: 'utf8', env: full })
      : spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, encoding: 'utf8', env: full });
  };
  try {
    const inVolume = run({ DATABASE_PATH: join(locked, 'account-binding.db') });
    assert.equal(inVolume.status, 1, inVolume.stdout + inVolume.stderr);
    assert.match(inVolume.stderr, /is not writable by uid \d+, which runs this service: the fix is on the volume mounted at .*, made on the host/);
    assert.match(inVolume.stderr, /docker run -v account-binding-data:/);
    assert.match(inVolume.stderr, /on the host: "sudo chown -R (\d+):\1 HOST_FOLDER"/);
    assert.doesNotMatch(inVolume.stderr, /chown -R \d+:\d+ \//, 'no chown of a path inside the image');
    // An old settings file's DATABASE_PATH=./data/… puts the database in the image's /app/data: outside the volume, unwritable.
    const elsewhere = join(tempDir(), 'app');
    mkdirSync(elsewhere, { mode: 0o755 });
    if (!asRoot) chmodSync(elsewhere, 0o500);
    const old = run({ DATABASE_PATH: join(elsewhere, 'data', 'account-binding.db') });
    assert.equal(old.status, 1, old.stdout + old.stderr);
    assert.match(old.stderr, /account-binding\.db is outside the image's volume \(.*\) and .* is not writable by uid \d+, which runs this service: delete DATABASE_PATH from the settings \(the image puts the database in its volume/);
    chmodSync(elsewhere, 0o755);
  } finally {
    chmodSync(locked, 0o755);
  }
});

test('PUBLIC_BASE_URL ending in one of our own paths is a warning showing the link users would get, and it is the link they get', async () => {
  const pasted = loadConfig({ ...required, PUBLIC_BASE_URL: 'https://slack-link.corp.example/slack/commands' });
  const [warning] = pasted.warnings;
  assert.equal(
    warning,
    'PUBLIC_BASE_URL ends in /slack/commands, one of this service\'s own paths: the links users get are https://slack-link.corp.example/slack/commands/associate?nonce=…. ' +
      'PUBLIC_BASE_URL is where browsers reach the service through the sign-in proxy, without any path of ours (likely https://slack-link.corp.example)',
  );
  assert.match(loadConfig({ ...required, PUBLIC_BASE_URL: 'https://x.example/tools/associate/' }).warnings.join(), /ends in \/associate.*likely https:\/\/x\.example\/tools\)/);
  assert.deepEqual(loadConfig({ ...required, PUBLIC_BASE_URL: 'https://x.example/slack-link' }).warnings, [], 'a path of a path-routed proxy is fine');
  assert.equal(effectiveSettings(loadConfig({ ...required, PUBLIC_BASE_URL: 'https://x.example/slack-link' })).link_example, 'https://x.example/slack-link/associate?nonce=…');

  const server = await startServer({ slackApiUrl: slack.url, env: { PUBLIC_BASE_URL: 'https://slack-link.corp.example/slack/commands' } });
  try {
    const [line] = await server.waitForLog((l) => l.event === 'startup_check' && l.check === 'config' && /ends in \/slack\/commands/.test(String(l.message)));
    const shown = /the links users get are (\S+)…/.exec(String(line!.message))![1]!;
    const link = linkFrom(await slashCommand(server.url, { user: 'UPATH', text: 'link' }));
    assert.ok(link.startsWith(shown), `${link} is the link the warning showed (${shown}…)`);
    const [settings] = await server.waitForLog((l) => l.event === 'settings');
    assert.equal(settings!.link_example, `${shown}…`);
  } finally {
    await server.stop();
  }
});

/** The admin CLI's doctor, with the same settings as a server on `port`. */
const doctor = (env: Record<string, string>) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', 'doctor'], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });

test('LINK_VERIFICATION=email and a proxy that passes no email: the page says so before the click, the link still works, and the doctor reads it from the running server', async () => {
  const port = await freePort();
  const env = { PORT: String(port), HOST: '127.0.0.1', SLACK_API_URL: slack.url, PUBLIC_BASE_URL: 'https://slack-link.corp.example', DATABASE_PATH: join(tempDir(), 'a.db') };
  const settings = { ...required, ...env };
  assert.match(doctor(settings).stdout, /ok {4}email_header: not checked: no running server's counters at http:\/\/127\.0\.0\.1:\d+\/metrics/);

  const server = await startServer({ slackApiUrl: slack.url, databasePath: env.DATABASE_PATH, env: { PORT: env.PORT, HOST: env.HOST } });
  try {
    assert.match(doctor(settings).stdout, /ok {4}email_header: not checked yet: the running server has shown no link page since it started/);
    slack.emails.set('UNOMAIL', 'nora@corp.example');
    const link = linkFrom(await slashCommand(server.url, { user: 'UNOMAIL', text: 'link' }));
    const page = await openLink(server.url, link, 'nora');
    assert.equal(page.status, 403);
    assert.match(page.body, /Your email address is needed/);
    assert.match(page.body, /make the proxy set the <code>x-forwarded-email<\/code> header/);
    assert.doesNotMatch(page.body, /Link accounts/, 'no button that can only fail');
    const [line] = await server.waitForLog((l) => l.event === 'http' && l.outcome === 'no_email');
    assert.equal(line!.method, 'GET');

    const report = doctor(settings);
    assert.match(report.stdout, /WARN {2}email_header: the running server showed 1 link page without an email from the proxy: LINK_VERIFICATION=email needs x-forwarded-email/);

    // Once the proxy passes it, the same link shows its confirmation page.
    const fixed = await openLink(server.url, link, 'nora', { headers: { 'x-forwarded-email': 'nora@corp.example' } });
    assert.equal(fixed.status, 200, fixed.body);
    assert.match(fixed.body, /Link accounts/);
  } finally {
    await server.stop();
  }
});

test('INTERNAL_APP_URL unreachable: the warning names the URL, redacted, and says why in words', async (t) => {
  const check = async (url: string) => (await checkInternalApp({ internalApp: { url, token: 't', timeoutMs: 1000 } })).message;
  const port = await freePort();
  const refused = await check(`http://127.0.0.1:${port}/cmd?api_key=k3y`);
  assert.equal(refused, `INTERNAL_APP_URL (http://127.0.0.1:${port}/cmd?api_key=… (credentials removed)) cannot be reached: nothing listens on 127.0.0.1:${port} (ECONNREFUSED); commands of linked users will fail until it can`);
  assert.match(await check('http://internal-app.invalid/cmd'), /cannot be reached: the name internal-app\.invalid does not resolve \(ENOTFOUND\)/);
  assert.match(await check('http://127.0.0.1:443/cmd'), /cannot be reached: nothing listens on 127\.0\.0\.1:443 \(ECONNREFUSED\) \(port 443 usually speaks HTTPS: did you mean https:\/\/\?\)/);

  // A plain-HTTP server asked over https://, and one that never answers.
  const plain: Server = createHttpServer((_req, res) => res.end('ok'));
  const hanging: Server = createHttpServer(() => undefined);
  for (const s of [plain, hanging]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.after(() => {
    hanging.closeAllConnections();
    for (const s of [plain, hanging]) s.close();
  });
  const at = (s: Server) => (s.address() as { port: number }).port;
  assert.match(await check(`https://127.0.0.1:${at(plain)}/cmd`), new RegExp(`127\\.0\\.0\\.1:${at(plain)} does not speak TLS as https:// expects \\(ERR_SSL_WRONG_VERSION_NUMBER\\)`));
  assert.match(await check(`http://127.0.0.1:${at(hanging)}/cmd`), new RegExp(`no answer from 127\\.0\\.0\\.1:${at(hanging)} within 3 s`));
  assert.equal((await checkInternalApp({ internalApp: { url: `http://127.0.0.1:${at(plain)}/cmd`, token: 't', timeoutMs: 1000 } })).level, 'ok');
});
