// Signed identity from a zero-trust proxy, through the real server: a local JWKS server with
// generated EC P-256 and RSA keys, and tokens the tests sign themselves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startServer, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { linkFrom, slashCommand } from './support/slack.ts';
import { confirm, formFields, openLink } from './support/browser.ts';

const ISSUER = 'https://corp.cloudflareaccess.com';
const AUDIENCE = 'aud-tag-123';
const HEADER = 'cf-access-jwt-assertion';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rotated = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const jwk = (key: KeyObject, kid: string) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig' });
let published = [jwk(ec.publicKey, 'ec-1'), jwk(rsa.publicKey, 'rsa-1')];
let jwksRequests = 0;
let jwks: Server;
let jwksUrl: string;

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function token(o: { alg?: string; kid?: string; key?: KeyObject; claims?: Record<string, unknown>; hmacSecret?: string | Buffer; header?: Record<string, unknown> } = {}) {
  const alg = o.alg ?? 'ES256';
  const header = b64({ alg, kid: o.kid ?? 'ec-1', typ: 'JWT', ...o.header });
  const payload = b64({ iss: ISSUER, aud: [AUDIENCE], email: 'alice@corp.example', sub: '42', iat: now(), exp: now() + 300, ...o.claims });
  const input = `${header}.${payload}`;
  let sig = '';
  if (o.hmacSecret !== undefined) sig = createHmac('sha256', o.hmacSecret).update(input).digest('base64url');
  else if (alg === 'ES256') sig = sign('sha256', Buffer.from(input), { key: o.key ?? ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  else if (alg === 'RS256') sig = sign('sha256', Buffer.from(input), o.key ?? rsa.privateKey).toString('base64url');
  return `${input}.${sig}`;
}

let slack: SlackStub;
let server: RunningServer;
const jwtEnv = (url: string) => ({
  TRUSTED_JWT_HEADER: 'Cf-Access-Jwt-Assertion',
  TRUSTED_JWT_JWKS_URL: url,
  TRUSTED_JWT_ISSUER: ISSUER,
  TRUSTED_JWT_AUDIENCE: AUDIENCE,
});

before(async () => {
  jwks = createServer((_req, res) => {
    jwksRequests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: published }));
  });
  jwks.listen(0, '127.0.0.1');
  await once(jwks, 'listening');
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/cdn-cgi/access/certs`;
  slack = await startSlackStub();
  server = await startServer({ slackApiUrl: slack.url, env: jwtEnv(jwksUrl) });
});
after(async () => {
  await server.stop();
  await slack.close();
  jwks.close();
});

let userCounter = 0;
const newLink = async () => linkFrom(await slashCommand(server.url, { user: `UJWT${++userCounter}`, text: 'link' }));
const open = async (jwt: string | undefined, headers: Record<string, string> = {}) =>
  openLink(server.url, await newLink(), null, { headers: { ...(jwt ? { [HEADER]: jwt } : {}), ...headers } });

test('a valid ES256 assertion names the user; the whole flow binds with its email claim', async () => {
  slack.emails.set('UJWTFLOW', 'alice@corp.example');
  const link = linkFrom(await slashCommand(server.url, { user: 'UJWTFLOW', text: 'link' }));
  const headers = { [HEADER]: token() };
  const page = await openLink(server.url, link, null, { headers });
  assert.equal(page.status, 200, page.body);
  assert.match(page.body, /to your account <strong>alice@corp\.example<\/strong>/);
  const res = await confirm(server.url, formFields(page.body), null, { headers });
  assert.equal(res.status, 200, res.body);
  assert.match(res.body, /now linked to <strong>alice@corp\.example<\/strong>/);
});

test('a valid RS256 assertion is accepted too', async () => {
  const res = await open(token({ alg: 'RS256', kid: 'rsa-1' }));
  assert.equal(res.status, 200, res.body);
});

test('a plain identity header sent alongside the JWT is ignored; alone it is not enough', async () => {
  const res = await open(token(), { 'x-forwarded-user': 'mallory', 'x-forwarded-email': 'mallory@corp.example' });
  assert.match(res.body, /<strong>alice@corp\.example<\/strong>/);
  assert.doesNotMatch(res.body, /mallory/);
  assert.equal((await open(undefined, { 'x-forwarded-user': 'mallory' })).status, 401);
});

test('bad assertions are 401 and bind nothing', async () => {
  const publicPem = ec.publicKey.export({ format: 'pem', type: 'spki' });
  const cases: Record<string, string> = {
    expired: token({ claims: { exp: now() - 31 } }),
    'not yet valid': token({ claims: { nbf: now() + 60 } }),
    'issued in the future': token({ claims: { iat: now() + 60 } }),
    'no expiry': token({ claims: { exp: undefined } }),
    'wrong issuer': token({ claims: { iss: 'https://evil.example' } }),
    'wrong audience': token({ claims: { aud: 'other-app' } }),
    'signed by a key not in the set': token({ key: stranger.privateKey }),
    'alg none': `${b64({ alg: 'none', kid: 'ec-1' })}.${b64({ iss: ISSUER, aud: AUDIENCE, email: 'alice@corp.example', exp: now() + 60 })}.`,
    'HS256 signed with the public key (algorithm confusion)': token({ alg: 'HS256', hmacSecret: publicPem }),
    'RS256 header on an EC signature': token({ alg: 'RS256', kid: 'ec-1', key: rsa.privateKey }).replace(/\.[^.]+$/, `.${token().split('.')[2]}`),
    'tampered payload': (() => {
      const [h, , s] = token().split('.');
      return `${h}.${b64({ iss: ISSUER, aud: AUDIENCE, email: 'ceo@corp.example', exp: now() + 60 })}.${s}`;
    })(),
    'no user claim': token({ claims: { email: undefined } }),
    garbage: 'not.a.jwt',
  };
  for (const [name, jwt] of Object.entries(cases)) {
    const res = await open(jwt);
    assert.equal(res.status, 401, `${name}: ${res.status}`);
  }
  assert.equal((await open(undefined)).status, 401, 'no assertion at all');
});

test('30 seconds of clock skew are tolerated', async () => {
  assert.equal((await open(token({ claims: { exp: now() - 20, nbf: now() + 20, iat: now() + 20 } }))).status, 200);
});

test('an unknown kid is refused without hammering the key server; a rotated key is found by refetching', async () => {
  const before = jwksRequests;
  for (let i = 0; i < 5; i++) assert.equal((await open(token({ kid: `forged-${i}`, key: stranger.privateKey }))).status, 401);
  assert.ok(jwksRequests - before <= 1, `unknown kids fetched the key set ${jwksRequests - before} times`);

  // The proxy rotates to a new key; after the refetch interval the new kid is looked up.
  published = [jwk(rotated.publicKey, 'ec-2'), ...published];
  await new Promise((r) => setTimeout(r, 5100));
  const res = await open(token({ kid: 'ec-2', key: rotated.privateKey }));
  assert.equal(res.status, 200, res.body);
});

test('the key server down: fail closed with a retry page', async () => {
  const down = await startServer({ slackApiUrl: slack.url, env: jwtEnv('http://127.0.0.1:9/keys') });
  try {
    const link = linkFrom(await slashCommand(down.url, { user: 'UJWTDOWN', text: 'link' }));
    const res = await openLink(down.url, link, 'alice', { headers: { [HEADER]: token() } });
    assert.equal(res.status, 503);
    assert.match(res.body, /cannot be verified right now/);
  } finally {
    await down.stop();
  }
});

test('JWT settings are validated at startup', async () => {
  const { runToExit } = await import('./support/server.ts');
  const { code, output } = await runToExit({
    SLACK_SIGNING_SECRET: 's',
    SLACK_BOT_TOKEN: 'xoxb-1',
    PUBLIC_BASE_URL: 'https://x.example',
    TRUSTED_JWT_HEADER: 'Cf-Access-Jwt-Assertion',
  });
  assert.equal(code, 2);
  for (const name of ['TRUSTED_JWT_JWKS_URL', 'TRUSTED_JWT_ISSUER', 'TRUSTED_JWT_AUDIENCE']) assert.match(output, new RegExp(name));
});

test('a token with critical extensions, or valid for longer than TRUSTED_JWT_MAX_LIFETIME_SECONDS, is refused', async () => {
  const cases: Record<string, string> = {
    'crit names an extension': token({ header: { crit: ['exp'] } }),
    'crit empty': token({ header: { crit: [] } }),
    'exp 9999999999, no iat': token({ claims: { iat: undefined, exp: 9_999_999_999 } }),
    'a day and a minute': token({ claims: { exp: now() + 86_460 } }),
  };
  for (const [name, jwt] of Object.entries(cases)) assert.equal((await open(jwt)).status, 401, name);
  assert.equal((await open(token({ claims: { exp: now() + 86_000 } }))).status, 200, 'within a day is fine');
  const refused = await server.waitForLog((l) => l.event === 'sso_refused' && /crit|longer than/.test(String(l.detail)), 4);
  assert.ok(refused.some((l) => /TRUSTED_JWT_MAX_LIFETIME_SECONDS/.test(String(l.detail))));
});
