// `npm run admin -- migrate`: from the SQLite file to a real PostgreSQL, run as an operator runs it;
// and the CLI's other commands on PostgreSQL. What was copied is compared through the CLI on both
// databases, and the audit rows' ids straight from both.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite.ts';
import type { SlackUser } from '../src/model.ts';
import { hashNonce, newNonce } from '../src/domain/secrets.ts';
import { ROOT, startServer, tempDir } from './support/server.ts';
import { startSlackStub } from './support/slack-stand-in.ts';
import { slashCommand } from './support/slack.ts';
import { freshDatabase, requiresPostgres, type TestDatabase } from './support/postgres.ts';

const skip = await requiresPostgres();
const PASSWORD = 'pw-never-printed-7f3a';
const by = { actor: 'test', requestId: null, clientAddress: null };
const user = (org: string, userId: string, userName: string): SlackUser => ({ org, userId, teamId: org, enterpriseId: null, userName, teamDomain: 'acme' });

/** Binds through the store's own path, so the audit trail is the real one. */
async function bind(store: SqliteStore, u: SlackUser, internalUser: string): Promise<void> {
  const nonce = hashNonce(newNonce())!;
  await store.createLink({ user: u, request: { command: '/acct', pendingText: null, channelId: null, responseUrl: null }, nonceHash: nonce, now: Date.now(), ttlMs: 60_000, perMinute: 0 }, by);
  assert.equal((await store.completeLink(nonce, internalUser, 'confirm', Date.now(), by)).outcome, 'bound');
}

const run = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSWORD), `the password was printed:\n${r.stdout}${r.stderr}`);
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const jsonLines = (text: string) => (text.trim() ? text.trim().split('\n').map((l) => JSON.parse(l)) : []);

describe('admin migrate, SQLite → PostgreSQL', { skip }, () => {
  let file: string;
  let db: TestDatabase;
  /** The database's URL with a password in it (the test cluster trusts local connections and ignores it). */
  let url: string;
  const onSqlite = (...args: string[]) => run(args, { DATABASE_PATH: file });
  const onPostgres = (...args: string[]) => run(args, { DATABASE_URL: url });

  before(async () => {
    file = join(tempDir(), 'source.db');
    const store = openSqliteStore(file);
    await bind(store, user('T1', 'U1', 'ann'), 'ann');
    await bind(store, user('T1', 'U2', 'bob'), 'bob');
    await bind(store, user('T2', 'U1', 'ann2'), 'ann');
    await store.touchBinding({ org: 'T1', userId: 'U1' }, Date.now());
    await bind(store, user('T1', 'U3', 'cat'), 'cat');
    await store.unlink({ org: 'T1', userId: 'U3' }, by);
    await store.close();
    db = await freshDatabase();
    const u = new URL(db.url);
    u.password = PASSWORD;
    url = u.href;
  });
  after(async () => {
    await db?.drop();
  });

  test('copies every binding as it is and every audit row with its id; says what it did not copy and why', async () => {
    const first = run(['migrate', '--to', url, '--db', file]);
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /^migrating .*source\.db → postgresql:\/\/127\.0\.0\.1:\d+\/\w+$/m);
    assert.match(first.out, /^bindings: +3 copied, 0 already there$/m);
    const audit = jsonLines(onSqlite('audit', '--format', 'jsonl').out);
    assert.equal(audit.length, 9, '4 links created, 4 linked, 1 unlinked');
    assert.match(first.out, new RegExp(`^audit rows: +${audit.length} copied, 0 already there$`, 'm'));
    assert.match(first.out, /^keys: +nothing to copy: they are derived from SLACK_SIGNING_SECRET/m);
    assert.match(first.out, /^not copied: open links and pending confirmations/m);

    assert.deepEqual(jsonLines(onPostgres('list', '--json').out), jsonLines(onSqlite('list', '--json').out), 'the same bindings, field by field');
    assert.deepEqual(jsonLines(onPostgres('audit', '--format', 'jsonl').out), audit, 'the same trail, in the same order');
    const sqliteIds = new Database(file, { readonly: true }).prepare('SELECT id FROM audit_events ORDER BY seq').pluck().all();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string }>('SELECT id FROM audit_events ORDER BY seq');
      assert.deepEqual(rows.map((r) => r.id), sqliteIds);
    } finally {
      await client.end();
    }
  });

  test('idempotent: a second run copies nothing; a run after new activity copies only that', async () => {
    const again = onSqlite('migrate', '--to', url);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /^bindings: +0 copied, 3 already there$/m);
    assert.match(again.out, /^audit rows: +0 copied, 9 already there$/m);
    assert.equal(jsonLines(onPostgres('list', '--json').out).length, 3);

    const store = openSqliteStore(file);
    await bind(store, user('T1', 'U4', 'dan'), 'dan');
    await store.close();
    // DATABASE_URL in the environment (not on the command line, where ps shows it) is the default target.
    const third = run(['migrate'], { DATABASE_PATH: file, DATABASE_URL: url });
    assert.equal(third.code, 0, third.err);
    assert.match(third.out, /^bindings: +1 copied, 3 already there$/m);
    assert.match(third.out, /^audit rows: +2 copied, 9 already there$/m);
  });

  test('a binding that differs is kept as PostgreSQL has it, reported, exit 1; one only in PostgreSQL is noted', async () => {
    const other = join(tempDir(), 'other.db');
    const store = openSqliteStore(other);
    await bind(store, user('T1', 'U2', 'bob'), 'mallory');
    await store.close();
    const r = run(['migrate', '--to', url, '--db', other]);
    assert.equal(r.code, 1);
    assert.match(r.err, /differs: U2 in T1 is bound to mallory in .*other\.db, to someone else in PostgreSQL: PostgreSQL's kept/);
    assert.match(r.err, /note: 3 binding\(s\) in PostgreSQL are not in .*other\.db/);
    assert.equal(jsonLines(onPostgres('show', '--workspace', 'T1', '--slack-user', 'U2', '--json').out)[0].internal_user, 'bob');
  });

  test('a server on the migrated database knows the migrated users', async () => {
    const slack = await startSlackStub();
    const server = await startServer({ slackApiUrl: slack.url, databaseUrl: db.url });
    try {
      assert.match((await slashCommand(server.url, { team: 'T1', user: 'U1', text: 'whoami' })).json.text, /You are linked to ann/);
      assert.match((await slashCommand(server.url, { team: 'T1', user: 'U3', text: 'whoami' })).json.text, /not linked/);
    } finally {
      await server.stop();
      await slack.close();
    }
  });

  test('the CLI on PostgreSQL: DATABASE_URL_FILE, --database-url, unlink, stats; backup says to use PostgreSQL tools', () => {
    const secretFile = join(tempDir(), 'database_url');
    writeFileSync(secretFile, `${url}\n`, { mode: 0o600 });
    const stats = run(['stats', '--json'], { DATABASE_URL_FILE: secretFile });
    assert.equal(stats.code, 0, stats.err);
    assert.equal(JSON.parse(stats.out).bindings, 4);
    const unlinked = run(['unlink', '--database-url', url, '--internal-user', 'dan']);
    assert.equal(unlinked.code, 0, unlinked.err);
    assert.match(unlinked.out, /unlinked U4 \(dan\) in T1 from dan/);
    assert.match(onPostgres('audit', '--internal-user', 'dan').out, /revoked\s+admin_cli/);
    const backup = onPostgres('backup', join(tempDir(), 'copy.db'));
    assert.equal(backup.code, 2);
    assert.match(backup.err, /backup copies the SQLite file; this database is PostgreSQL \(postgresql:\/\/127\.0\.0\.1:\d+\/\w+\): .*pg_dump/);
    // As for the server: the URL wins, with a warning (the image sets DATABASE_PATH).
    const both = run(['list', '--json'], { DATABASE_URL: url, DATABASE_PATH: file });
    assert.equal(both.code, 0, both.err);
    assert.match(both.err, /DATABASE_PATH \(.+\) is ignored: DATABASE_URL selects PostgreSQL/);
    assert.deepEqual(both.out, run(['list', '--json', '--database-url', url]).out);
  });

  test('migrating again after an unlink in PostgreSQL does not bring the binding back: listed, exit 1', () => {
    // dan (U4 in T1) was copied by an earlier run, then unlinked in PostgreSQL (the test above).
    assert.equal(jsonLines(onSqlite('show', '--workspace', 'T1', '--slack-user', 'U4', '--json').out)[0].internal_user, 'dan');
    const again = onSqlite('migrate', '--to', url);
    assert.equal(again.code, 1, again.out);
    assert.match(again.out, /^bindings: +0 copied, 3 already there, 1 not copied \(changed later in PostgreSQL\)$/m);
    assert.match(again.err, /not copied: U4 in T1 is bound to dan in .*source\.db, but PostgreSQL's audit trail has a later change/);
    assert.deepEqual(jsonLines(onPostgres('show', '--workspace', 'T1', '--slack-user', 'U4', '--json').out), []);
    assert.equal(jsonLines(onPostgres('audit', '--internal-user', 'dan', '--format', 'jsonl').out).at(-1).action, 'revoked');
  });

  test('an unreachable PostgreSQL: exit 1, named without its password', () => {
    const down = `postgres://postgres:${PASSWORD}@127.0.0.1:1/nowhere`;
    const r = run(['list', '--database-url', down]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot open PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere/);
    const m = run(['migrate', '--to', down, '--db', file]);
    assert.equal(m.code, 1);
    assert.match(m.err, /cannot open PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere/);
    assert.equal(run(['migrate', '--to', 'mysql://x/y', '--db', file]).code, 2);
  });
});
