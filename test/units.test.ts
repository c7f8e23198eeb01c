// Pure pieces: trusted proxy ranges, configuration, escaping, tokens, log redaction, form parsing,
// the bound on background work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientAddress, isAllowed as isTrustedProxy, parseAddressList as parseTrustedProxies } from '../src/lib/address-list.ts';
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { escapeHtml, html } from '../src/pages.ts';
import { csrfToken, csrfTokenValid, hashNonce, newNonce } from '../src/domain/secrets.ts';
import { createLogger, isoTime } from '../src/lib/log.ts';
import { mrkdwn } from '../src/slack/messages.ts';
import { parseForm } from '../src/http.ts';
import { HttpError } from '../src/refusals.ts';
import { createBackground } from '../src/lib/background.ts';
import { sameEmail } from '../src/domain/link-proofs.ts';
import { redactUrl } from '../src/config/index.ts';
import { effectiveSettings } from '../src/doctor.ts';
import { tempDir } from './support/server.ts';

test('trusted proxies: addresses and CIDR ranges, IPv4 and IPv6', () => {
  const p = parseTrustedProxies(' 10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1');
  assert.equal(isTrustedProxy(p, '10.255.3.4'), true);
  assert.equal(isTrustedProxy(p, '11.0.0.1'), false);
  assert.equal(isTrustedProxy(p, '192.168.1.7'), true);
  assert.equal(isTrustedProxy(p, '192.168.1.8'), false);
  assert.equal(isTrustedProxy(p, 'fd12::1'), true);
  assert.equal(isTrustedProxy(p, 'fe80::1'), false);
  assert.equal(isTrustedProxy(p, '::1'), true);
  assert.equal(isTrustedProxy(p, '::ffff:10.1.2.3'), true, 'IPv4-mapped IPv6 as seen on dual-stack sockets');
  assert.equal(isTrustedProxy(p, undefined), false);
  assert.equal(isTrustedProxy(p, 'not-an-ip'), false);
  assert.equal(isTrustedProxy(p, 'not:an:ip'), false);
  assert.equal(isTrustedProxy(p, ''), false);
  // A zone index is refused: libuv would drop it, and with it whatever a typo put after the '%'.
  for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.1/8/1', '10.0.0.0/x', '999.1.1.1', '1.2.3', '01.2.3.4', '::g', 'fe80::1%eth0', 'fe80::1%', '::1%x 10.0.0.0/8', '::1%lo 10.0.0.0/8']) {
    assert.throws(() => parseTrustedProxies(bad), /is not an IP|prefix outside/, bad);
  }
});

const required = { SLACK_SIGNING_SECRET: '8f742231b10e8888abcd99yyyzzz85a5'.replace(/[yz]/g, '0'), SLACK_BOT_TOKEN: 'xoxb-1', PUBLIC_BASE_URL: 'https://link.example/' };

test('config: defaults, and the public origin derived from PUBLIC_BASE_URL', () => {
  const c = loadConfig(required);
  assert.equal(c.port, 3000);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.databasePath, './data/account-binding.db');
  assert.equal(c.trustedUserHeader, 'x-forwarded-user');
  assert.equal(c.nonceTtlSeconds, 600);
  assert.equal(c.publicBaseUrl, 'https://link.example');
  assert.equal(c.publicOrigin, 'https://link.example');
  assert.equal(c.slackApiUrl, 'https://slack.com/api/');
  assert.equal(loadConfig({ ...required, SLACK_API_URL: 'http://127.0.0.1:9/api' }).slackApiUrl, 'http://127.0.0.1:9/api/');
});

test('config: every problem is reported at once', () => {
  try {
    loadConfig({ PORT: '70000', NONCE_TTL_SECONDS: '0', TRUSTED_PROXIES: '10.0.0.0/40', PUBLIC_BASE_URL: 'ftp://x', TRUSTED_USER_HEADER: 'bad header' });
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    for (const name of ['SLACK_SIGNING_SECRET', 'SLACK_BOT_TOKEN', 'PUBLIC_BASE_URL', 'PORT', 'NONCE_TTL_SECONDS', 'TRUSTED_PROXIES', 'TRUSTED_USER_HEADER']) {
      assert.match(text, new RegExp(name), name);
    }
    assert.equal(err.problems.length, 7);
  }
});

test('config: NAME_FILE reads a secret from a file, and NAME with NAME_FILE is an error', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'secret'), 'from-file\n');
  const c = loadConfig({ ...required, SLACK_SIGNING_SECRET: undefined, SLACK_SIGNING_SECRET_FILE: join(dir, 'secret') });
  assert.equal(c.signingSecret, 'from-file');
  assert.throws(() => loadConfig({ ...required, SLACK_SIGNING_SECRET_FILE: join(dir, 'secret') }), /both set/);
  assert.throws(() => loadConfig({ ...required, SLACK_BOT_TOKEN: undefined, SLACK_BOT_TOKEN_FILE: join(dir, 'missing') }), /cannot be read: ENOENT/);
});

test('html escapes every interpolated value, and only those', () => {
  const evil = `<script>alert("x")</script>&'`;
  const out = html`<p title="${evil}">${evil}</p>`.toString();
  assert.equal(out, `<p title="${escapeHtml(evil)}">${escapeHtml(evil)}</p>`);
  assert.doesNotMatch(out, /<script>/);
  assert.equal(escapeHtml(evil), '&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#38;&#39;');
  assert.equal(mrkdwn('<@U123|x> & <!channel>'), '&lt;@U123|x&gt; &amp; &lt;!channel&gt;');
});

test('nonces: 32 random bytes, base64url; only well-formed ones hash', () => {
  const a = newNonce();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, newNonce());
  assert.equal(hashNonce(a)!.length, 32);
  for (const bad of [null, '', 'short', `${a}x`, a.replace(/./, '+')]) assert.equal(hashNonce(bad), undefined);
});

test('CSRF tokens are bound to the link and the user', () => {
  const key = Buffer.alloc(32, 1);
  const n1 = hashNonce(newNonce())!;
  const n2 = hashNonce(newNonce())!;
  const t = csrfToken(key, n1, 'alice');
  assert.equal(csrfTokenValid(key, n1, 'alice', t), true);
  assert.equal(csrfTokenValid(key, n1, 'mallory', t), false);
  assert.equal(csrfTokenValid(key, n2, 'alice', t), false);
  assert.equal(csrfTokenValid(Buffer.alloc(32, 2), n1, 'alice', t), false);
  assert.equal(csrfTokenValid(key, n1, 'alice', null), false);
  assert.equal(csrfTokenValid(key, n1, 'alice', t.slice(1)), false);
});

test('log lines are JSON and never carry a field that names a secret', () => {
  const lines: string[] = [];
  const log = createLogger((l) => lines.push(l));
  log.info('x', { nonce: 'n', bot_token: 't', signing_secret: 's', csrf: 'c', verification_code: '123456', slack_user: 'U1' });
  const entry = JSON.parse(lines[0]!);
  assert.equal(entry.event, 'x');
  assert.equal(entry.level, 'info');
  assert.equal(entry.slack_user, 'U1');
  for (const k of ['nonce', 'bot_token', 'signing_secret', 'csrf', 'verification_code']) assert.equal(entry[k], '[redacted]', k);
  assert.ok(!lines[0]!.includes('123456'));
});

test('log times are what Date#toISOString writes, across second, minute and year boundaries', () => {
  let now = 0;
  const time = isoTime(() => now);
  const instants = [0, 1, 9, 10, 99, 100, 999, 1000, 59_999, 60_000, 1_798_761_599_999, 1_798_761_600_000, Date.now(), 253_402_300_799_999];
  // In order (the cache of the second is used) and at random (it is replaced).
  for (const t of [...instants, ...Array.from({ length: 2000 }, () => Math.floor(Math.random() * 253_402_300_800_000))]) {
    now = t;
    assert.equal(time(), new Date(t).toISOString(), String(t));
    now = t + 1;
    assert.equal(time(), new Date(t + 1).toISOString(), String(t + 1));
  }
});

test('config: the internal application and response_url allow-list', () => {
  assert.equal(loadConfig(required).internalApp, null);
  const c = loadConfig({ ...required, INTERNAL_APP_URL: 'http://app.internal/cmd', INTERNAL_APP_TOKEN: 't', SLACK_RESPONSE_URL_ALLOW: 'http://127.0.0.1:8123/, https://proxy.corp/slack/' });
  assert.deepEqual(c.internalApp, { url: 'http://app.internal/cmd', token: 't', timeoutMs: 10_000 });
  assert.deepEqual(c.responseUrlAllow, ['http://127.0.0.1:8123/', 'https://proxy.corp/slack/']);
  assert.throws(() => loadConfig({ ...required, INTERNAL_APP_URL: 'http://app.internal/cmd' }), /INTERNAL_APP_TOKEN is required/);
  assert.throws(() => loadConfig({ ...required, INTERNAL_APP_TOKEN: 't' }), /INTERNAL_APP_URL is not/);
  assert.throws(() => loadConfig({ ...required, SLACK_RESPONSE_URL_ALLOW: 'http://127.0.0.1:8123/x' }), /must end with "\/"/);
  assert.throws(() => loadConfig({ ...required, LINK_VERIFICATION: 'none' }), /LINK_VERIFICATION must be one of email, code, confirm/);
});

test('forms: decoded strictly, the first value of a repeated field wins', () => {
  const form = parseForm(Buffer.from('text=a+b%2Bc&user_id=U1&flag&=empty&text=second&e=caf%C3%A9&&plain=x'));
  assert.equal(form.get('text'), 'a b+c');
  assert.equal(form.get('user_id'), 'U1');
  assert.equal(form.get('flag'), '');
  assert.equal(form.get(''), 'empty');
  assert.equal(form.get('e'), 'café');
  assert.equal(form.get('plain'), 'x');
  assert.equal(form.get('missing'), undefined);
  // Each agrees with URLSearchParams where the input is well formed.
  const body = 'a=1&b=%20x+y&a=2&c=%E2%9C%93';
  for (const [k, v] of new URLSearchParams(body)) if (k !== 'a') assert.equal(parseForm(Buffer.from(body)).get(k), v);
  for (const bad of ['a=%ZZ', 'a=%E2%9C', 'a=1&a=%', '%C3=1', Buffer.from([0x61, 0x3d, 0xff])]) {
    assert.throws(() => parseForm(Buffer.isBuffer(bad) ? bad : Buffer.from(bad)), (e: unknown) => e instanceof HttpError && e.status === 400, String(bad));
  }
});

test('background work: beyond the limit in flight, new work is skipped and logged, not queued', async () => {
  const lines: string[] = [];
  const background = createBackground(createLogger((line) => lines.push(line)), 2);
  const gates: Array<() => void> = [];
  const gated = () => new Promise<void>((resolve) => gates.push(resolve));
  let ran = 0;
  const work = () => {
    ran++;
    return gated();
  };
  assert.equal(background.run('slack_dm', { slack_user: 'U1' }, work), true);
  assert.equal(background.run('slack_dm', { slack_user: 'U2' }, work), true);
  assert.equal(background.run('slack_dm', { slack_user: 'U3' }, work), false);
  assert.equal(ran, 2, 'the skipped work never started');
  assert.equal(background.size, 2);
  const skipped = lines.map((l) => JSON.parse(l)).find((l) => l.outcome === 'skipped_overloaded');
  assert.deepEqual([skipped?.level, skipped?.event, skipped?.slack_user, skipped?.in_flight], ['warn', 'slack_dm', 'U3', 2]);
  gates.shift()!();
  await new Promise((r) => setImmediate(r));
  assert.equal(background.run('slack_dm', { slack_user: 'U4' }, work), true, 'room again once one finished');
  for (const open of gates) open();
  assert.equal(await background.drain(1000), true);
  assert.equal(background.size, 0);
});

test('emails match with ASCII letters folded only: the Kelvin sign is not a k', () => {
  assert.equal(sameEmail('Bob.Smith@Corp.Example', 'bob.smith@corp.example'), true);
  assert.equal(sameEmail(' bob@corp.example\t', 'bob@corp.example'), true);
  assert.equal(sameEmail('\u212Aate@corp.example', 'kate@corp.example'), false, 'U+212A KELVIN SIGN');
  assert.equal(sameEmail('\u0130an@corp.example', 'ian@corp.example'), false, 'dotted capital I');
  assert.equal(sameEmail('stra\u00DFe@corp.example', 'strasse@corp.example'), false);
  assert.equal(sameEmail('JOS\u00C9@corp.example', 'jos\u00e9@corp.example'), false, 'non-ASCII must match exactly');
});

test("the audit's client address: behind a trusted proxy, the right-most X-Forwarded-For address it does not trust; otherwise the peer", () => {
  const trusted = parseTrustedProxies('127.0.0.1,10.0.0.0/8,::1');
  assert.equal(clientAddress(trusted, '127.0.0.1', '198.51.100.7'), '198.51.100.7');
  assert.equal(clientAddress(trusted, '127.0.0.1', '203.0.113.1, 198.51.100.7, 10.1.1.1'), '198.51.100.7', 'what the client wrote on the left is not believed');
  assert.equal(clientAddress(trusted, '::1', '2001:db8::9'), '2001:db8::9');
  assert.equal(clientAddress(trusted, '198.51.100.50', '203.0.113.1'), '198.51.100.50', 'an untrusted peer: its header is its own word');
  assert.equal(clientAddress(trusted, '127.0.0.1', undefined), '127.0.0.1');
  assert.equal(clientAddress(trusted, '127.0.0.1', ''), '127.0.0.1');
  assert.equal(clientAddress(trusted, '127.0.0.1', '10.2.2.2, 10.1.1.1'), '10.2.2.2', 'trusted hops only: the left-most');
  assert.equal(clientAddress(trusted, '127.0.0.1', 'unknown, 10.1.1.1'), '10.1.1.1', 'garbage stops the walk at the last address believed');
  assert.equal(clientAddress(trusted, '127.0.0.1', '198.51.100.7:4711'), '127.0.0.1', 'not a bare address');
  assert.equal(clientAddress(trusted, '127.0.0.1', '<script>'), '127.0.0.1');
});

test('config: credentials in URLs are refused and redacted; wide ranges; the proxy secret; a path prefix', () => {
  assert.throws(() => loadConfig({ ...required, SLACK_API_URL: 'https://u:p@slack.example/api/' }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /SLACK_API_URL must not hold a user name or password/);
    assert.doesNotMatch(e.message, /u:p@/);
    return true;
  });
  for (const name of ['PUBLIC_BASE_URL', 'TRUSTED_JWT_JWKS_URL', 'INTERNAL_APP_URL', 'SLACK_RESPONSE_URL_ALLOW']) {
    const env = { ...required, TRUSTED_JWT_HEADER: 'h', TRUSTED_JWT_ISSUER: 'i', TRUSTED_JWT_AUDIENCE: 'a', TRUSTED_JWT_JWKS_URL: 'https://k.example/', INTERNAL_APP_URL: 'https://a.example/', INTERNAL_APP_TOKEN: 't', [name]: 'https://user:pw@h.example/' };
    assert.throws(() => loadConfig(env), new RegExp(`${name} must not hold a user name or password`), name);
  }
  assert.equal(redactUrl('https://a:b@h.example/x'), 'https://h.example/x (credentials removed)');
  assert.match(loadConfig({ ...required, TRUSTED_PROXIES: '172.17.0.1' }).warnings.join(), /by address alone/);
  assert.deepEqual(loadConfig({ ...required, TRUSTED_PROXIES: '172.17.0.1', TRUSTED_PROXY_SECRET: 'x'.repeat(32) }).warnings, []);
  assert.throws(() => loadConfig({ ...required, TRUSTED_PROXY_SECRET: 'short' }), /at least 16 characters/);
  assert.match(loadConfig({ ...required, TRUSTED_PROXIES: '::/0', TRUSTED_PROXY_SECRET: 'x'.repeat(32) }).warnings.join(), /only TRUSTED_PROXY_SECRET stands/);
  assert.match(loadConfig({ ...required, METRICS_ALLOW: '0.0.0.0/0' }).warnings.join(), /METRICS_ALLOW/);
  const prefixed = loadConfig({ ...required, PUBLIC_BASE_URL: 'https://corp.example/slack-link/' });
  assert.deepEqual([prefixed.publicBaseUrl, prefixed.basePath, prefixed.publicOrigin], ['https://corp.example/slack-link', '/slack-link', 'https://corp.example']);
  assert.throws(() => loadConfig({ ...required, PUBLIC_BASE_URL: 'https://corp.example/a%20b' }), /plain segments/);
});

test('a range that covers all of IPv4 is wide in any notation, in all three allow-lists; ADMIN_ALLOW past a /24 or /64 warns', () => {
  for (const range of ['::ffff:0:0/96', '::ffff:0.0.0.0/96', '0:0:0:0:0:ffff::/96', '::fffe:0:0/95', '::ffff:0:0/97', '0.0.0.0/0', '::/0']) {
    assert.throws(() => loadConfig({ ...required, TRUSTED_PROXIES: range }), /lets almost any address claim to be the sign-in proxy/, `TRUSTED_PROXIES=${range}`);
    assert.match(loadConfig({ ...required, METRICS_ALLOW: range }).warnings.join(), /METRICS_ALLOW holds/, `METRICS_ALLOW=${range}`);
    assert.throws(() => loadConfig({ ...required, ADMIN_ALLOW: range }), /ADMIN_ALLOW holds .* almost any address/, `ADMIN_ALLOW=${range}`);
  }
  for (const range of ['10.0.0.0/16', '::ffff:10.0.0.0/112', 'fd00::/48']) {
    assert.match(loadConfig({ ...required, ADMIN_ALLOW: range }).warnings.join(), /ADMIN_ALLOW holds .* wider than a \/24/, range);
  }
  for (const range of ['10.0.0.0/24', '::ffff:10.0.0.0/120', 'fd00::/64', '::1', '::ffff:127.0.0.1']) {
    assert.deepEqual(loadConfig({ ...required, ADMIN_ALLOW: range }).warnings, [], range);
    assert.deepEqual(loadConfig({ ...required, METRICS_ALLOW: range }).warnings, [], range);
  }
});

test('URL settings are printed without credentials or query values: refused DATABASE_URLs, INTERNAL_APP_URL in the settings', () => {
  const PW = 's3cret-pw-9';
  for (const url of [`mysql://u:${PW}@h/db`, `postgres:u:${PW}@h/db`, `postgres:///u:${PW}@h/db`, `postgres:/u:${PW}@h/db`, `http://u:${PW}@h/db?password=${PW}`, `postgres:///db?password=${PW}`, `not a url ${PW}`]) {
    assert.throws(() => loadConfig({ ...required, DATABASE_URL: url }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /DATABASE_URL must be a postgres/);
      assert.doesNotMatch(e.message, new RegExp(PW), url);
      return true;
    });
  }
  const config = loadConfig({ ...required, INTERNAL_APP_URL: `https://app.example/slack?api_key=${PW}&team=acme`, INTERNAL_APP_TOKEN: 't'.repeat(32) });
  assert.equal(config.internalApp!.url, `https://app.example/slack?api_key=${PW}&team=acme`, 'still used as given');
  const printed = JSON.stringify(effectiveSettings(config));
  assert.doesNotMatch(printed, new RegExp(PW));
  assert.match(printed, /https:\/\/app\.example\/slack\?api_key=…&team=… \(credentials removed\)/);
  assert.equal(redactUrl('https://h.example/x'), 'https://h.example/x');
});

test('ADMIN_API_TOKEN needs 32 characters, 10 of them distinct; a random hex token always passes', () => {
  assert.throws(() => loadConfig({ ...required, ADMIN_API_TOKEN: 'a'.repeat(32) }), /ADMIN_API_TOKEN must hold at least 10 distinct characters/);
  assert.throws(() => loadConfig({ ...required, ADMIN_API_TOKEN: 'abcdefghi'.repeat(4) }), /at least 10 distinct/);
  assert.throws(() => loadConfig({ ...required, ADMIN_API_TOKEN: 'short' }), /at least 32 characters/);
  assert.equal(loadConfig({ ...required, ADMIN_API_TOKEN: 'abcdefghij'.repeat(4) }).adminApiToken, 'abcdefghij'.repeat(4));
  // `openssl rand -hex 32` (the documented way) with a digit missing, as 23% of them are.
  assert.ok(loadConfig({ ...required, ADMIN_API_TOKEN: `${'0123456789abcde'.repeat(4)}0123` }).adminApiToken);
});

test('trusted proxies: every bad entry of a list is reported at once', () => {
  assert.throws(() => parseTrustedProxies('172.17.0.1/33, nginx, 10.0.0.1'), (e: unknown) => {
    const message = (e as Error).message;
    assert.match(message, /"172\.17\.0\.1\/33" has a prefix outside 0-32/);
    assert.match(message, /"nginx" is not an IP address/);
    return true;
  });
});
