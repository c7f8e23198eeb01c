// Crashes lose nothing: bind continuously, SIGKILL the server mid-stream several times, restart on
// the same file. Every binding whose success page was returned is there, the file is intact, and
// no link is half-consumed. Then SIGTERM under load: in-flight requests finish, exit 0 within 10 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startServer, CONFIRM_ONLY, tempDir } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { linkFrom, slashCommand } from './support/slack.ts';
import { linkAs } from './support/browser.ts';
import { hashNonce } from '../src/domain/secrets.ts';
import { APP_TOKEN, startInternalApp, type TestHttpServer } from './support/internal-app.ts';

let slack: SlackStub;
let app: TestHttpServer;
before(async () => {
  [slack, app] = await Promise.all([startSlackStub(), startInternalApp()]);
});
after(async () => {
  await Promise.all([slack.close(), app.close()]);
});

interface Attempt {
  user: string;
  internalUser: string;
  nonce?: string;
  confirmed: boolean;
}

test('SIGKILL mid-stream, five times: every confirmed binding survives, the file is intact, no link half-consumed', async () => {
  const databasePath = join(tempDir(), 'crash.db');
  const attempts: Attempt[] = [];
  let n = 0;

  for (let round = 0; round < 5; round++) {
    const server = await startServer({ slackApiUrl: slack.url, databasePath, env: { ...CONFIRM_ONLY, LINK_RATE_LIMIT_PER_MINUTE: '0' } });
    let running = true;
    const binder = async () => {
      while (running) {
        const a: Attempt = { user: `UK${++n}`, internalUser: `person${n}`, confirmed: false };
        attempts.push(a);
        try {
          const link = linkFrom(await slashCommand(server.url, { user: a.user, text: 'link' }));
          a.nonce = new URL(link).searchParams.get('nonce')!;
          const res = await linkAs(server.url, link, a.internalUser);
          a.confirmed = res.status === 200 && /now linked/.test(res.body);
        } catch {
          return; // the server died under us
        }
      }
    };
    const binders = Array.from({ length: 8 }, binder);
    // Long enough for several bindings each round: a confirmation waits for its DM's answer (DM_WAIT_MS).
    await new Promise((r) => setTimeout(r, 1000 + round * 200));
    running = false;
    const { signal } = await server.stop('SIGKILL');
    assert.equal(signal, 'SIGKILL');
    await Promise.all(binders);
  }

  const confirmed = attempts.filter((a) => a.confirmed);
  assert.ok(confirmed.length >= 20, `only ${confirmed.length} bindings were made before the kills`);

  // A last start on the same file must come up and answer for every confirmed binding.
  const server = await startServer({ slackApiUrl: slack.url, databasePath, env: CONFIRM_ONLY });
  const sample = confirmed.filter((_, i) => i % 10 === 0);
  for (const a of sample) assert.match((await slashCommand(server.url, { user: a.user, text: 'whoami' })).json.text, new RegExp(`linked to ${a.internalUser}`));
  await server.stop();

  const db = new Database(databasePath, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    const binding = db.prepare<[string], { internal_user: string }>('SELECT internal_user FROM bindings WHERE slack_user_id = ?');
    const link = db.prepare<[Buffer], { n: number }>('SELECT count(*) AS n FROM link_nonces WHERE nonce_hash = ?');
    for (const a of confirmed) assert.equal(binding.get(a.user)?.internal_user, a.internalUser, `${a.user} lost its binding`);
    for (const a of attempts.filter((x) => x.nonce)) {
      const bound = binding.get(a.user) !== undefined;
      const open = link.get(hashNonce(a.nonce)!)!.n === 1;
      assert.ok(bound !== open, `${a.user}: link ${open ? 'still open' : 'gone'} and ${bound ? 'bound' : 'not bound'}`);
    }
  } finally {
    db.close();
  }
});

test('SIGTERM under load: requests already in flight finish with 200, then exit 0 within 10 s', async () => {
  const server = await startServer({
    slackApiUrl: slack.url,
    env: { ...CONFIRM_ONLY, INTERNAL_APP_URL: app.url, INTERNAL_APP_TOKEN: APP_TOKEN },
  });
  await linkAs(server.url, linkFrom(await slashCommand(server.url, { user: 'ULOAD', text: 'link' })), 'lena');
  const inFlight = Array.from({ length: 20 }, (_, i) => slashCommand(server.url, { user: 'ULOAD', text: `slow ${600 + i * 20}` }));
  await new Promise((r) => setTimeout(r, 200));
  const t = Date.now();
  const exited = server.stop('SIGTERM');
  const results = await Promise.all(inFlight);
  for (const r of results) {
    assert.equal(r.status, 200);
    assert.equal(r.json.text, 'slow report ready for lena');
  }
  assert.deepEqual(await exited, { code: 0, signal: null });
  assert.ok(Date.now() - t < 10_000);
  await assert.rejects(slashCommand(server.url, { user: 'ULOAD', text: 'whoami' }), /ECONNREFUSED/);
});
