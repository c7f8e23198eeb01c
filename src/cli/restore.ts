// `admin restore FILE`: a backup (`admin backup`) back in the database's place, while the server is
// stopped. The backup is checked before anything is touched (an SQLite file, intact, a schema this
// program can run); the file it replaces is kept; the new file is written owner-only.
//
// "A server holds the database" is asked of SQLite itself: every connection to a WAL database keeps
// a shared lock on it while it is open, so leaving WAL mode (journal_mode=DELETE, with no waiting)
// succeeds only when no other process has the file open, and also folds the WAL into the file, so
// that the copy kept is complete. The exclusive lock taken then is held until the new file is in
// place: a server started meanwhile finds the database locked instead of a file half replaced.
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from '../store/sqlite.ts';
import { UsageError } from './context.ts';
import type { Io } from './print.ts';

const stamp = (): string => new Date().toISOString().replace(/[:.]/g, '-');

/** An owner-only copy of `from` at `to` (created 0600 before a byte is written). */
function copyOwnerOnly(from: string, to: string): void {
  closeSync(openSync(to, 'w', 0o600));
  chmodSync(to, 0o600);
  copyFileSync(from, to);
  chmodSync(to, 0o600);
}

/** What is wrong with `file` as a database to run on, or null; also how many bindings it holds. */
function inspect(file: string): { problem: string } | { version: number; bindings: number } {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    db.exec('PRAGMA busy_timeout = 0');
    const integrity = db.prepare<[], string>('PRAGMA integrity_check').pluck().all();
    if (integrity.join() !== 'ok') return { problem: `it is damaged (PRAGMA integrity_check: ${integrity.slice(0, 3).join('; ')})` };
    const version = db.prepare<[], number>('PRAGMA user_version').pluck().get()!;
    const hasBindings = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bindings'").get();
    if (version < 1 || !hasBindings) return { problem: 'it is not a database of this service (no schema version, no bindings table)' };
    if (version > SCHEMA_VERSION) return { problem: `its schema version is ${version}, newer than this program's ${SCHEMA_VERSION}: restore it with the release that wrote it` };
    const bindings = db.prepare<[], number>('SELECT count(*) FROM bindings').pluck().get()!;
    return { version, bindings };
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { problem: code === 'SQLITE_NOTADB' ? 'it is not an SQLite database' : (err as Error).message };
  } finally {
    db?.close();
  }
}

/**
 * Holds `target` for the restore: null when it does not exist yet; throws when another process
 * (a running server, an admin command) has it open.
 */
function holdTarget(target: string): Database.Database | null {
  if (!existsSync(target)) return null;
  const db = new Database(target, { fileMustExist: true });
  try {
    db.exec('PRAGMA busy_timeout = 0');
    db.prepare('PRAGMA journal_mode = DELETE').get();
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    return db;
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY' || (err as { code?: string }).code === 'SQLITE_LOCKED') {
      throw new UsageError(
        `${target} is open in another process (a running server, or an admin command): stop the server first ` +
          '(systemctl stop …, docker stop …), then restore; nothing was changed',
      );
    }
    throw err;
  }
}

export function restore(given: string, targetPath: string, io: Io): number {
  const file = resolve(given);
  const target = resolve(targetPath);
  if (file === target) throw new UsageError(`restore FILE is the database itself (${target}): give the backup to restore`);
  if (!existsSync(file)) throw new UsageError(`${file} does not exist`);
  // A backup from `admin backup` is one complete file; a WAL beside it means a live or unclean database.
  if (existsSync(`${file}-wal`)) throw new UsageError(`${file}-wal exists beside ${basename(file)}: that file is open or was not closed cleanly; make a copy with "admin backup" and restore that`);

  const folder = dirname(target);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  // The backup is copied beside the database first and checked there: the source may be on a
  // read-only mount, and the rename at the end is then within one file system.
  const incoming = join(folder, `.${basename(target)}.restoring-${process.pid}`);
  copyOwnerOnly(file, incoming);
  let held: Database.Database | null = null;
  try {
    const found = inspect(incoming);
    if ('problem' in found) {
      io.err(`restore: ${file} cannot be restored: ${found.problem}; nothing was changed`);
      return 1;
    }
    held = holdTarget(target);
    // With no database in place, a WAL or SHM left beside its name would be replayed into the new file.
    if (!held) for (const extra of ['-wal', '-shm', '-journal']) rmSync(`${target}${extra}`, { force: true });
    let kept: string | null = null;
    if (held) {
      const backups = join(folder, 'backups');
      mkdirSync(backups, { recursive: true, mode: 0o700 });
      kept = join(backups, `replaced-by-restore-${stamp()}.db`);
      copyOwnerOnly(target, kept);
    }
    renameSync(incoming, target);
    chmodSync(target, 0o600);
    io.out(`restored ${file} into ${target}: ${found.bindings} binding${found.bindings === 1 ? '' : 's'}, schema version ${found.version}${found.version < SCHEMA_VERSION ? ` (the server upgrades it to ${SCHEMA_VERSION} at start)` : ''}`);
    if (kept) io.out(`the file it replaced is kept at ${kept}`);
    io.out('start the server again');
    return 0;
  } finally {
    held?.close();
    rmSync(incoming, { force: true });
  }
}
