// `admin migrate`: SQLite → PostgreSQL, bindings and audit rows, each copy one transaction,
// idempotent (bindings by their Slack identity, audit rows by their id). Open links and pending
// confirmations are not copied: they live minutes, and a user whose link was open makes a new one.
import { openSqliteStore, type SqliteStore } from '../store/sqlite.ts';
import { describeDatabase } from '../config/index.ts';
import type { PostgresStore } from '../store/postgres.ts';
import { UsageError } from './context.ts';
import type { Io } from './print.ts';

/**
 * Exit 1 when a binding differs between the two (PostgreSQL's is kept, as a binding is never
 * replaced), or was changed in PostgreSQL after the source's last word on it (never resurrected).
 */
export async function migrate(from: string, to: string, io: Io): Promise<number> {
  if (!/^postgres(ql)?:\/\/[^/]/i.test(to)) throw new UsageError('migrate --to takes a postgres:// or postgresql:// URL');
  let source: SqliteStore | undefined;
  let target: PostgresStore | undefined;
  try {
    try {
      source = openSqliteStore(from, { mustExist: true });
    } catch (err) {
      throw new Error(`cannot open the database ${from}: ${(err as Error).message}`);
    }
    // Loaded only here: the CLI on SQLite never loads pg. Its errors never hold the password.
    const { openPostgresStore } = await import('../store/postgres.ts');
    target = await openPostgresStore(to, { poolMax: 1 });
    io.out(`migrating ${from} → ${describeDatabase({ databaseUrl: to, databasePath: '' })}`);
    const rows = await source.listBindings();
    const sourceAudit = await source.exportAudit();
    const key = (b: { org: string | null; userId?: string; slackUser?: string | null }) => `${b.org}\0${b.userId ?? b.slackUser}`;
    const latest = new Map<string, number>();
    for (const a of sourceAudit) latest.set(key(a), Math.max(latest.get(key(a)) ?? 0, a.time));
    // Bindings before audit rows: the target's own later history is told apart by time.
    const bindings = await target.importBindings(rows.map((b) => ({ ...b, sourceLatest: Math.max(b.createdAt, latest.get(key(b)) ?? 0) })));
    io.out(`bindings:   ${bindings.copied} copied, ${bindings.already + bindings.differing.length} already there${bindings.superseded.length ? `, ${bindings.superseded.length} not copied (changed later in PostgreSQL)` : ''}`);
    const audit = await target.importAudit(sourceAudit);
    io.out(`audit rows: ${audit.copied} copied, ${audit.already} already there`);
    io.out('keys:       nothing to copy: they are derived from SLACK_SIGNING_SECRET (give the PostgreSQL replicas the same one)');
    io.out('not copied: open links and pending confirmations (they expire within minutes; a user whose link was open makes a new one)');
    const inSource = new Set(rows.map(key));
    const onlyThere = (await target.listBindings()).filter((b) => !inSource.has(key(b))).length;
    if (onlyThere) io.err(`note: ${onlyThere} binding(s) in PostgreSQL are not in ${from} (made there, or unlinked here after an earlier run): kept`);
    for (const b of bindings.differing) {
      io.err(`differs: ${b.userId} in ${b.org} is bound to ${b.internalUser} in ${from}, to someone else in PostgreSQL: PostgreSQL's kept`);
    }
    for (const b of bindings.superseded) {
      io.err(`not copied: ${b.userId} in ${b.org} is bound to ${b.internalUser} in ${from}, but PostgreSQL's audit trail has a later change for them (unlinked or revoked there): PostgreSQL's kept`);
    }
    return bindings.differing.length || bindings.superseded.length ? 1 : 0;
  } finally {
    await source?.close();
    await target?.close();
  }
}
