// Garbage at the running server: random and mutated slash-command bodies, headers, /associate
// forms and raw bytes, signed and unsigned. Never a 5xx, never a crash, never a binding without
// the whole confirmed flow. CI runs FUZZ_RUNS cases per property (default 300); for a longer
// campaign: FUZZ_RUNS=20000 npx tsx --test test/fuzz.e2e.test.ts
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { request } from './support/http-client.ts';
import { startServer, CONFIRM_ONLY, SIGNING_SECRET, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { commandBody, linkFrom, signedHeaders, slashCommand } from './support/slack.ts';
import { formFields, localUrl, openLink } from './support/browser.ts';
import { slackSignature } from '../src/slack/signature.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
let slack: SlackStub;
let server: RunningServer;
/** A real link and its form, for mutation. */
let link: string;
let fields: { nonce: string; csrf: string };

before(async () => {
  slack = await startSlackStub();
  server = await startServer({ slackApiUrl: slack.url, env: { ...CONFIRM_ONLY, LINK_RATE_LIMIT_PER_MINUTE: '0' } });
  link = linkFrom(await slashCommand(server.url, { user: 'UFUZZ', text: 'link' }));
  fields = formFields((await openLink(server.url, link, 'alice')).body);
});
after(async () => {
  await server.stop();
  await slack.close();
});

const notServerError = (status: number, what: string) => assert.ok(status < 500, `${what} → ${status}`);

/** Strings that stress parsers: percent signs, separators, unicode, control characters. */
const nasty = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom('%', '%%', '%zz', '%E0%A4', '+', '&', '=', '&&==', '\u0000', '\uFFFD', 'U0', '/acct', 'link', 'help', '  ', 'ssl_check=1'),
);
const formPairs = fc.array(fc.tuple(fc.constantFrom('team_id', 'user_id', 'enterprise_id', 'command', 'text', 'user_name', 'response_url', 'channel_id', 'ssl_check', 'x'), nasty), { maxLength: 12 });
const toForm = (pairs: Array<[string, string]>, raw: boolean) =>
  pairs.map(([k, v]) => `${k}=${raw ? v : encodeURIComponent(v)}`).join('&');

test('slash commands: random and mutated bodies, signed and unsigned', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        formPairs.map((p) => toForm(p, false)),
        formPairs.map((p) => toForm(p, true)),
        fc.tuple(fc.nat(400), nasty).map(([at, insert]) => {
          const base = commandBody({ text: 'report q3' });
          return base.slice(0, at) + insert + base.slice(at);
        }),
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      ),
      fc.constantFrom('good', 'none', 'bad', 'stale'),
      fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', ''),
      async (body, signing, contentType) => {
        const ts = Math.floor(Date.now() / 1000) - (signing === 'stale' ? 600 : 0);
        const headers: Record<string, string | undefined> = { 'content-type': contentType || undefined };
        if (signing !== 'none') {
          headers['x-slack-request-timestamp'] = String(ts);
          headers['x-slack-signature'] = signing === 'bad' ? `v0=${'0'.repeat(64)}` : slackSignature(SIGNING_SECRET, String(ts), body);
        }
        const res = await request(`${server.url}/slack/commands`, { method: 'POST', headers, body });
        notServerError(res.status, `body ${JSON.stringify(body.toString())}`);
        if (signing !== 'good') assert.equal(res.status, 401);
      },
    ),
    { numRuns: RUNS },
  );
});

test('slash commands: random signature and timestamp headers', async () => {
  const body = commandBody({ text: 'whoami' });
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 100 }), fc.string({ maxLength: 20 }), async (signature, timestamp) => {
      const headers = { ...signedHeaders(body), 'x-slack-signature': signature.replace(/[^\x20-\x7e]/g, ''), 'x-slack-request-timestamp': timestamp.replace(/[^\x20-\x7e]/g, '') };
      const res = await request(`${server.url}/slack/commands`, { method: 'POST', headers, body });
      assert.equal(res.status, 401);
    }),
    { numRuns: RUNS },
  );
});

test('/associate: random queries, identity headers and forms, and mutated real forms', async () => {
  const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, '');
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        query: fc.oneof(nasty.map((s) => `nonce=${encodeURIComponent(s)}`), nasty.map(printable), fc.constant(new URL(link).search.slice(1))),
        user: fc.option(nasty.map(printable), { nil: undefined }),
        nonce: fc.oneof(nasty, fc.constant(fields.nonce)),
        csrf: fc.oneof(nasty, fc.constant(fields.csrf.slice(1)), fc.constant(`${fields.csrf}x`)),
        decision: fc.oneof(nasty, fc.constantFrom('link', 'cancel')),
        site: fc.constantFrom(undefined, 'same-origin', 'cross-site', 'none', 'garbage'),
        raw: fc.boolean(),
      }),
      async (c) => {
        const headers = { 'x-forwarded-user': c.user, 'sec-fetch-site': c.site };
        const get = await request(`${server.url}/associate?${c.query}`, { headers });
        notServerError(get.status, `GET ?${c.query}`);
        const body = toForm([['nonce', c.nonce], ['csrf', c.csrf], ['decision', c.decision]], c.raw);
        const post = await request(`${server.url}/associate`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
        notServerError(post.status, `POST ${body}`);
        assert.doesNotMatch(post.body, /now linked/, 'bound without the confirmed flow');
      },
    ),
    { numRuns: RUNS },
  );
});

test('raw garbage on the socket: a 4xx or a closed connection, and the server lives on', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 400 }).map((b) => Buffer.from(b)),
        nasty.map((s) => Buffer.from(`POST /slack/commands HTTP/1.1\r\nHost: x\r\n${s}\r\nContent-Length: 5\r\n\r\nhello`)),
        nasty.map((s) => Buffer.from(`GET /associate?nonce=${s} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`)),
      ),
      (bytes) =>
        new Promise<void>((resolve, reject) => {
          const socket = connect(server.port, '127.0.0.1');
          let reply = '';
          socket.setTimeout(3000, () => socket.destroy());
          socket.on('data', (d) => (reply += d.toString('latin1')));
          socket.on('error', () => undefined);
          socket.on('close', () => {
            const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);
            if (status >= 500) reject(new Error(`${status} for ${JSON.stringify(bytes.toString('latin1'))}`));
            else resolve();
          });
          socket.end(bytes);
        }),
    ),
    { numRuns: RUNS },
  );
});

test('after all that: alive, healthy, nothing bound, and the real link still works', async () => {
  assert.equal(server.process.exitCode, null);
  assert.equal((await request(`${server.url}/healthz`)).status, 200);
  const db = new Database(server.databasePath, { readonly: true });
  const n = (db.prepare('SELECT count(*) AS n FROM bindings').get() as { n: number }).n;
  db.close();
  assert.equal(n, 0, 'no binding without the whole confirmed flow');
  assert.ok(!server.logs().some((l) => l.event === 'unhandled_error'));
  // The fuzzed forms never consumed the link (they could not pass the CSRF check).
  // (A fuzzed "cancel" with the real nonce but a broken token must not have cancelled it either.)
  const page = await openLink(server.url, link, 'alice');
  assert.equal(page.status, 200, `the real link stopped working (${localUrl(server.url, link)})`);
  const res = await request(`${server.url}/associate`, {
    method: 'POST',
    headers: { 'x-forwarded-user': 'alice', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...formFields(page.body), decision: 'link' }).toString(),
  });
  assert.equal(res.status, 200);
});
