// The operator's CLI, run as a process against a real database file.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { SlackUser } from '../src/model.ts';
import { hashNonce, newNonce } from '../src/domain/secrets.ts';
import { ROOT, tempDir } from './support/server.ts';

let db: string;
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, DATABASE_PATH: db } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const user = (org: string, userId: string, userName: string): SlackUser => ({ org, userId, teamId: org, enterpriseId: null, userName, teamDomain: 'acme' });

before(async () => {
  db = join(tempDir(), 'admin.db');
  const store = openSqliteStore(db);
  const by = { actor: 'test', requestId: null, clientAddress: null };
  const request = { command: '/acct', pendingText: null, channelId: null, responseUrl: null };
  const createLink = (user: SlackUser, nonceHash: Buffer, now: number, ttlMs: number) =>
    store.createLink({ user, request, nonceHash, now, ttlMs, perMinute: 0 }, by);
  const bind = async (u: SlackUser, internalUser: string) => {
    const h = hashNonce(newNonce())!;
    await createLink(u, h, Date.now(), 60_000);
    assert.equal((await store.completeLink(h, internalUser, 'confirm', Date.now(), by)).outcome, 'bound');
  };
  await bind(user('T1', 'U1', 'ann'), 'ann');
  await bind(user('T2', 'U1', 'ann2'), 'ann');
  await bind(user('T1', 'U2', 'bob'), 'bob');
  await bind(user('T1', 'U3', 'cat'), 'cat');
  await createLink(user('T1', 'U9', 'dan'), hashNonce(newNonce())!, Date.now(), 60_000);
  await createLink(user('T2', 'U8', 'old'), hashNonce(newNonce())!, Date.now() - 120_000, 60_000);
  await store.close();
});

test('list: a table, filters, and --json', () => {
  const all = run('list');
  assert.equal(all.code, 0);
  assert.match(all.out, /^WORKSPACE\s+SLACK USER\s+NAME\s+INTERNAL USER\s+LINKED \(UTC\)/);
  assert.match(all.out, /4 bindings/);
  assert.match(run('list', '--workspace', 'T2').out, /1 binding\n/);
  assert.match(run('list', '--internal-user', 'ann').out, /2 bindings/);
  const json = run('list', '--slack-user', 'U2', '--json').out.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(json.length, 1);
  assert.equal(json[0].internal_user, 'bob');
  assert.equal(json[0].workspace, 'T1');
});

test('show: one binding, or exit 1', () => {
  const r = run('show', '--workspace', 'T1', '--slack-user', 'U3', '--json');
  assert.equal(r.code, 0);
  assert.equal(JSON.parse(r.out).internal_user, 'cat');
  const missing = run('show', '--workspace', 'T1', '--slack-user', 'U404');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no binding/);
});

test('stats: per workspace and in total; purge-expired removes only expired links', () => {
  const before = JSON.parse(run('stats', '--json').out);
  assert.equal(before.bindings, 4);
  assert.equal(before.open_links, 1, 'the expired link is not counted as open');
  assert.deepEqual(before.workspaces.map((w: any) => [w.workspace, w.bindings]), [['T1', 3], ['T2', 1]]);
  assert.match(run('stats').out, /total\s+4\s+1\s+0/);
  const purge = run('purge-expired');
  assert.equal(purge.code, 0);
  assert.match(purge.out, /purged 1 /);
  const raw = new Database(db, { readonly: true });
  assert.equal((raw.prepare('SELECT count(*) AS n FROM link_nonces').get() as { n: number }).n, 1);
  raw.close();
});

test('backup: a consistent copy that opens on its own', () => {
  const file = join(tempDir(), 'copy.db');
  const r = run('backup', file);
  assert.equal(r.code, 0, r.err);
  const copy = new Database(file, { readonly: true });
  assert.equal((copy.prepare('SELECT count(*) AS n FROM bindings').get() as { n: number }).n, 4);
  assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
  copy.close();
});

test('unlink: by Slack identity, and every binding of a person for offboarding', () => {
  const one = run('unlink', '--workspace', 'T1', '--slack-user', 'U2');
  assert.equal(one.code, 0);
  assert.match(one.out, /unlinked U2 \(bob\) in T1 from bob/);
  const person = run('unlink', '--internal-user', 'ann');
  assert.equal(person.code, 0);
  assert.equal(person.out.trim().split('\n').length, 2);
  assert.match(run('list').out, /1 binding\n/);
  assert.equal(run('unlink', '--internal-user', 'ann').code, 1, 'nothing left to remove');
});

test('usage errors exit 2 with the usage; a missing database exits 1 and creates nothing', () => {
  for (const args of [[], ['bogus'], ['show', '--workspace', 'T1'], ['unlink', '--internal-user', 'x', '--workspace', 'T1', '--slack-user', 'U1'], ['backup', 'a', 'b'], ['list', '--nope']]) {
    const r = run(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /usage: npm run admin/);
  }
  assert.equal(run('--help').code, 0);
  const missing = join(tempDir(), 'nope', 'none.db');
  const r = run('stats', '--db', missing);
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot open the database/);
  assert.equal(existsSync(missing), false);
});

test('backup without a FILE writes into backups/ beside the database, 0600, and says where; help and every unlink form', () => {
  const r = run('backup');
  assert.equal(r.code, 0, r.err);
  const written = /backed up to (\S+)/.exec(r.out)![1]!;
  assert.equal(dirname(written), join(dirname(db), 'backups'));
  assert.equal((statSync(written).mode & 0o777).toString(8), '600');
  assert.equal(run('help').code, 0);
  assert.match(run('help').out, /doctor/);
  const unlink = run('unlink', '--workspace', 'T1');
  assert.equal(unlink.code, 2);
  assert.match(unlink.err, /--workspace T --slack-user U \(one binding\), or --internal-user NAME/);
});

test('doctor: the settings in force and each check; a missing setting is a usage error that names it', () => {
  const missing = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', 'doctor'], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH } });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /SLACK_SIGNING_SECRET is required/);
  const env = { PATH: process.env.PATH, SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'xoxb-doctor', PUBLIC_BASE_URL: 'http://localhost:3000', DATABASE_PATH: db, SLACK_API_URL: 'http://127.0.0.1:1/api/' };
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', 'doctor'], { cwd: ROOT, encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /link_verification\s+email/);
  assert.match(r.stdout, /WARN {2}config: PUBLIC_BASE_URL is not https/);
  assert.match(r.stdout, /WARN {2}slack: Slack could not be asked/);
  assert.match(r.stdout, /ok {4}database: .* is writable by uid/);
  assert.doesNotMatch(r.stdout, /xoxb-doctor/);
});
