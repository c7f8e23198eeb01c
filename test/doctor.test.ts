// The self-check: each first-deployment mistake caught at startup or by the doctor, with its fix.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { checkDatabaseFolder, checkInternalApp, checkLinkVerification, checkSlackToken, effectiveSettings, runChecks } from '../src/doctor.ts';
import { loadConfig } from '../src/config/index.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { ROOT, freePort, runToExit, startServer, tempDir, CONFIRM_ONLY } from './support/server.ts';

let slack: SlackStub;
before(async () => {
  slack = await startSlackStub();
});
after(() => slack.close());

const required = { SLACK_SIGNING_SECRET: '8f742231b10e8888abcd99yyyzzz85a5'.replace(/[yz]/g, '0'), SLACK_BOT_TOKEN: 'xoxb-1', PUBLIC_BASE_URL: 'https://link.example' };

test('a user token is refused at startup with the fix; an unusual token kind is a warning', () => {
  assert.throws(() => loadConfig({ ...required, SLACK_BOT_TOKEN: 'xoxp-123-456' }), /user token \(xoxp-…\): use the app's Bot User OAuth Token/);
  assert.throws(() => loadConfig({ ...required, SLACK_BOT_TOKEN: 'xoxe.xoxp-1-abc' }), /user token/);
  assert.deepEqual(loadConfig({ ...required, SLACK_BOT_TOKEN: 'xoxe.xoxb-1-abc' }).warnings, [], 'a rotating bot token is a bot token');
  assert.match(loadConfig({ ...required, SLACK_BOT_TOKEN: 'abc' }).warnings.join(), /does not start with xoxb-/);
});

test("the examples' paste-… values are refused; a signing secret that is not Slack's 32 hex digits is a warning naming where to find it", () => {
  assert.throws(() => loadConfig({ ...required, SLACK_BOT_TOKEN: 'xoxb-paste-the-bot-token' }), /SLACK_BOT_TOKEN is still the example's "xoxb-paste-the-bot-token"/);
  assert.throws(() => loadConfig({ ...required, SLACK_SIGNING_SECRET: 'paste-the-signing-secret' }), /SLACK_SIGNING_SECRET is still the example's/);
  assert.throws(() => loadConfig({ ...required, SLACK_SIGNING_SECRET: '', SLACK_APP_TOKEN: 'xapp-paste-the-app-level-token' }), /SLACK_APP_TOKEN is still the example's/);
  assert.match(loadConfig({ ...required, SLACK_SIGNING_SECRET: 'not-from-slack' }).warnings.join(), /not the 32 hex digits Slack issues: check it is the Signing Secret \(Basic Information → App Credentials\)/);
  assert.deepEqual(loadConfig(required).warnings, [], "Slack's own format is not warned about");
});

test('PUBLIC_BASE_URL over http or on loopback is a warning', () => {
  assert.match(loadConfig({ ...required, PUBLIC_BASE_URL: 'http://link.example' }).warnings.join(), /not https/);
  assert.match(loadConfig({ ...required, PUBLIC_BASE_URL: 'https://localhost:8080' }).warnings.join(), /loopback/);
  assert.match(loadConfig({ ...required, PUBLIC_BASE_URL: 'http://127.0.0.1:3000' }).warnings.join(), /loopback/);
});

test('LINK_VERIFICATION=confirm is a warning unless PUBLIC_BASE_URL is loopback (a trial on this machine); the other modes are not', async () => {
  const warning = /LINK_VERIFICATION=confirm: the confirmation page alone proves a link, so a forwarded link binds whoever opens it\. Outside a trial on this machine use email/;
  const findings = await runChecks(loadConfig({ ...required, LINK_VERIFICATION: 'confirm', SLACK_API_URL: slack.url }));
  const found = findings.find((f) => f.check === 'link_verification');
  assert.equal(found?.level, 'warn', JSON.stringify(findings));
  assert.match(found!.message, warning);
  for (const base of ['http://127.0.0.1:8080', 'http://localhost:8080', 'http://[::1]:8080']) {
    assert.equal(checkLinkVerification(loadConfig({ ...required, PUBLIC_BASE_URL: base, LINK_VERIFICATION: 'confirm' })), null, base);
  }
  for (const mode of ['email', 'code']) assert.equal(checkLinkVerification(loadConfig({ ...required, LINK_VERIFICATION: mode })), null, mode);
  assert.equal(checkLinkVerification(loadConfig(required)), null, 'the default (email)');
});

test("auth.test: the workspace and bot named; a rejected token fails with the fix; Slack away is a warning", async () => {
  const ok = await checkSlackToken({ slackApiUrl: slack.url, botToken: 'xoxb-1' });
  assert.deepEqual([ok.level, ok.message], ['ok', 'SLACK_BOT_TOKEN is the bot account-binding in workspace Acme (https://acme.slack.com/)']);
  assert.deepEqual(ok.workspace, { teamId: 'T0001', enterpriseId: null, domain: 'acme' }, 'the workspace web linking accepts');
  slack.on('auth.test', () => ({ body: { ok: true, team: 'Grid', user: 'b', team_id: 'T0GA', enterprise_id: 'E0GRID', url: 'https://grid-a.enterprise.slack.com/' } }));
  assert.deepEqual((await checkSlackToken({ slackApiUrl: slack.url, botToken: 'xoxb-1' })).workspace, { teamId: 'T0GA', enterpriseId: 'E0GRID', domain: 'grid-a' });
  slack.on('auth.test', () => ({ body: { ok: false, error: 'invalid_auth' } }));
  const bad = await checkSlackToken({ slackApiUrl: slack.url, botToken: 'xoxb-wrong' });
  assert.equal(bad.level, 'fail');
  assert.match(bad.message, /rejected SLACK_BOT_TOKEN \(invalid_auth\): copy the Bot User OAuth Token/);
  slack.on('auth.test', () => ({ body: { ok: true, team: 'Acme', user: 'account-binding' } }));
  const away = await checkSlackToken({ slackApiUrl: 'http://127.0.0.1:9/api/', botToken: 'xoxb-1' });
  assert.equal(away.level, 'warn');
});

test('a database folder the running uid cannot write is named, with the uid and the chown that fixes it', () => {
  const dir = tempDir();
  assert.equal(checkDatabaseFolder({ databaseUrl: null, databasePath: join(dir, 'data', 'a.db'), dataVolume: null }).level, 'ok');
  assert.equal(checkDatabaseFolder({ databaseUrl: 'postgres://u:secret@db/x', databasePath: '', dataVolume: null }).message, 'PostgreSQL at postgresql://db/x');
  // A root-owned bind mount seen by the image's unprivileged user: here root owns the folder and the
  // server runs as nobody (when this test runs as root, as CI does; otherwise the folder is made read-only).
  const locked = join(dir, 'mount');
  mkdirSync(locked, { mode: 0o755 });
  const asRoot = process.getuid?.() === 0;
  if (!asRoot) chmodSync(locked, 0o500);
  const env = { PATH: process.env.PATH, SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'xoxb-1', PUBLIC_BASE_URL: 'https://x.example', DATABASE_PATH: join(locked, 'db', 'a.db'), SLACK_API_URL: slack.url, PORT: '0' };
  // As root, the process loads its modules and then becomes nobody (test/support/as-user.ts): runuser
  // would make nobody load them, which fails from a checkout nobody may read (a 0700 home).
  const run = (which: 'server' | 'admin', ...args: string[]) =>
    asRoot
      ? spawnSync(process.execPath, ['--import', 'tsx', 'test/support/as-user.ts', 'nobody', which, ...args], { cwd: ROOT, encoding: 'utf8', env })
      : spawnSync(process.execPath, ['--import', 'tsx', which === 'server' ? 'src/main.ts' : 'src/admin.ts', ...args], { cwd: ROOT, encoding: 'utf8', env });
  try {
    const server = run('server');
    assert.equal(server.status, 1, server.stdout + server.stderr);
    assert.match(server.stderr, /is not writable by uid \d+, which runs this service: fix it with "chown -R \d+:\d+ /);
    assert.doesNotMatch(server.stderr, /SqliteError/);
    const doctor = run('admin', 'doctor');
    assert.equal(doctor.status, 1);
    assert.match(doctor.stdout, /FAIL {2}database: .* is not writable by uid/);
  } finally {
    chmodSync(locked, 0o755);
  }
});

test('the internal application unreachable is a warning, reachable is ok', async () => {
  const down = await checkInternalApp({ internalApp: { url: `http://127.0.0.1:${await freePort()}/cmd`, token: 't', timeoutMs: 1000 } });
  assert.equal(down.level, 'warn');
  assert.match(down.message, /ECONNREFUSED/);
  const up = await checkInternalApp({ internalApp: { url: `${slack.url}auth.test`, token: 't', timeoutMs: 1000 } });
  assert.equal(up.level, 'ok');
});

test('the effective settings hold no secret', () => {
  const config = loadConfig({ ...required, SLACK_SIGNING_SECRET: 'sig-secret-value', SLACK_BOT_TOKEN: 'xoxb-token-value', TRUSTED_PROXY_SECRET: 'proxy-secret-value-123', ADMIN_API_TOKEN: 'admin-token-0123456789abcdef-xyz', DATABASE_URL: 'postgres://u:pw-value@db/x' });
  const text = JSON.stringify(effectiveSettings(config));
  for (const secret of ['sig-secret-value', 'xoxb-token-value', 'proxy-secret-value-123', 'a'.repeat(40), 'pw-value']) assert.ok(!text.includes(secret), secret);
  assert.match(text, /"proxy_header_required":true/);
  assert.equal(
    effectiveSettings(config).credentials,
    'SLACK_SIGNING_SECRET=set SLACK_BOT_TOKEN=set SLACK_APP_TOKEN=unset TRUSTED_PROXY_SECRET=set INTERNAL_APP_TOKEN=unset ADMIN_API_TOKEN=set SLACK_CLIENT_SECRET=unset',
    'every secret as set or unset, the signing secret, bot token and app token included',
  );
});

test('the server: a rejected bot token stops it at startup with the fix; the settings and checks are logged', async () => {
  slack.on('auth.test', () => ({ body: { ok: false, error: 'invalid_auth' } }));
  try {
    const { code, output } = await runToExit({ SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'xoxb-wrong', PUBLIC_BASE_URL: 'https://x.example', SLACK_API_URL: slack.url, DATABASE_PATH: join(tempDir(), 'x.db'), PORT: '0' });
    assert.equal(code, 1);
    assert.match(output, /Slack rejected SLACK_BOT_TOKEN \(invalid_auth\)/);
  } finally {
    slack.on('auth.test', () => ({ body: { ok: true, team: 'Acme', user: 'account-binding' } }));
  }
  const server = await startServer({ slackApiUrl: slack.url, env: CONFIRM_ONLY });
  try {
    const [settings] = await server.waitForLog((l) => l.event === 'settings');
    assert.equal(settings!.link_verification, 'confirm');
    const checks = await server.waitForLog((l) => l.event === 'startup_check', 3);
    assert.ok(checks.some((c) => c.check === 'slack' && /workspace Acme/.test(String(c.message))));
  } finally {
    await server.stop();
  }
});

test('a bot token Slack rejects later is a configuration error on the page, not "try again in a minute"', async () => {
  const { linkFrom, slashCommand } = await import('./support/slack.ts');
  const { confirm, formFields, openLink } = await import('./support/browser.ts');
  const server = await startServer({ slackApiUrl: slack.url });
  try {
    const link = linkFrom(await slashCommand(server.url, { user: 'UREVOKED', text: 'link' }));
    slack.on('users.info', () => ({ body: { ok: false, error: 'token_revoked' } }));
    const headers = { 'x-forwarded-email': 'tom@corp.example' };
    const page = await openLink(server.url, link, 'tom', { headers });
    const res = await confirm(server.url, formFields(page.body), 'tom', { headers });
    assert.equal(res.status, 503);
    assert.match(res.body, /misconfigured/);
    assert.match(res.body, /tell your administrator, quoting request/);
    assert.doesNotMatch(res.body, /try again in a minute/i);
    const [line] = await server.waitForLog((l) => l.event === 'slack_token_rejected');
    assert.equal(line!.level, 'error');
  } finally {
    slack.on('users.info', (args) => ({ body: { ok: true, user: { id: args.user, profile: {} } } }));
    await server.stop();
  }
});
