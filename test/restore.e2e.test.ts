// `admin restore FILE` end to end: backup → a change → restore (refused while the server runs) →
// the server started again sees the backup's bindings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { ROOT, startServer, tempDir, CONFIRM_ONLY } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { linkFrom, slashCommand } from './support/slack.ts';
import { linkAs } from './support/browser.ts';

let slack: SlackStub;
before(async () => {
  slack = await startSlackStub();
});
after(() => slack.close());

const admin = (db: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, DATABASE_PATH: db } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const whoami = async (url: string, user: string) => (await slashCommand(url, { user, text: 'whoami' })).body;

test('backup → change → restore: refused while the server holds the file, then the server sees the backup again; the replaced file is kept, 0600', async () => {
  const db = join(tempDir(), 'data', 'account-binding.db');
  let server = await startServer({ slackApiUrl: slack.url, databasePath: db, env: CONFIRM_ONLY });
  const backup = join(tempDir(), 'before.db');
  try {
    assert.equal((await linkAs(server.url, linkFrom(await slashCommand(server.url, { user: 'UANN', text: 'link' })), 'ann')).status, 200);
    const made = admin(db, 'backup', backup);
    assert.equal(made.code, 0, made.err);
    assert.equal((await linkAs(server.url, linkFrom(await slashCommand(server.url, { user: 'UBOB', text: 'link' })), 'bob')).status, 200);
    assert.match(await whoami(server.url, 'UBOB'), /bob/);

    const refused = admin(db, 'restore', backup);
    assert.equal(refused.code, 2, refused.out + refused.err);
    assert.match(refused.err, /is open in another process \(a running server, or an admin command\): stop the server first.*nothing was changed/);
    assert.match(await whoami(server.url, 'UBOB'), /bob/, 'the running server was not disturbed');
  } finally {
    await server.stop();
  }

  const restored = admin(db, 'restore', backup);
  assert.equal(restored.code, 0, restored.err);
  assert.match(restored.out, /restored .*before\.db into .*account-binding\.db: 1 binding, schema version \d+/);
  const kept = /the file it replaced is kept at (\S+)/.exec(restored.out)?.[1];
  assert.ok(kept && existsSync(kept), restored.out);
  assert.equal(dirname(kept), join(dirname(db), 'backups'));
  for (const file of [db, kept]) assert.equal(statSync(file).mode & 0o777, 0o600, file);
  assert.deepEqual(readdirSync(dirname(db)).filter((f) => f.includes('restoring') || f.endsWith('-journal')), [], 'no leftovers');
  // The kept copy is the database as it was: bob's binding is in it.
  assert.match(admin(kept, 'list').out, /bob/);

  server = await startServer({ slackApiUrl: slack.url, databasePath: db, env: CONFIRM_ONLY });
  try {
    assert.match(await whoami(server.url, 'UANN'), /ann/);
    assert.doesNotMatch(await whoami(server.url, 'UBOB'), /bob/);
  } finally {
    await server.stop();
  }
});

test('restore checks the backup first: not SQLite, a newer schema or not ours is refused and nothing changes', () => {
  const dir = tempDir();
  const db = join(dir, 'account-binding.db');
  const garbage = join(dir, 'garbage.db');
  writeFileSync(garbage, 'this is not a database at all, not even close'.repeat(100));
  const r = admin(db, 'restore', garbage);
  assert.equal(r.code, 1);
  assert.match(r.err, /garbage\.db cannot be restored: it is not an SQLite database; nothing was changed/);
  assert.equal(existsSync(db), false);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('restoring')), []);

  const foreign = join(dir, 'foreign.db');
  const f = new Database(foreign);
  f.exec('CREATE TABLE t (a)');
  f.close();
  assert.match(admin(db, 'restore', foreign).err, /not a database of this service/);
  const newer = join(dir, 'newer.db');
  const n = new Database(newer);
  n.exec('CREATE TABLE bindings (a); PRAGMA user_version = 999');
  n.close();
  assert.match(admin(db, 'restore', newer).err, /schema version is 999, newer than this program's \d+/);
  assert.equal(admin(db, 'restore').code, 2);
});
