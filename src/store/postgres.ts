// The Store on PostgreSQL, for several replicas sharing one database. What SQLite gets from having
// one writer at a time, this gets from the database: a nonce is consumed by a DELETE … RETURNING
// that only one transaction can win, a binding is written once by INSERT … ON CONFLICT DO NOTHING,
// and an identity's link changes are serialised by an advisory lock (the rate limit counts what
// the previous holder committed). Every change is one transaction on one pooled connection, with
// its audit row, so a failed audit write undoes the change.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { PoolClient } from 'pg';
import type { Actor, AuditAction, Binding, LinkVerification, RevokeScope, SlackUser } from '../model.ts';
import type { BindResult, CommandStarted, Rekeyed, Store, WorkspaceStats } from './store.ts';
import { preparedOn, type Prepared } from './prepared.ts';
import { auditOf, bindingOf, linkOf, slackUserOf, type AuditRow, type BindingRow, type LinkRow, type PendingRow, type Row } from './rows.ts';
import { LAST_USED_RESOLUTION_MS } from '../model.ts';
import type { BindingToImport, ExportedAuditEvent, ImportedAudit, ImportedBindings } from './transfer.ts';

/** The schema version schema.postgres.sql describes; see MIGRATIONS for older databases. */
export const SCHEMA_VERSION = 4;

/** SQL that brings a database from version N to N+1, for steps the schema's idempotent CREATEs cannot take. */
const MIGRATIONS: Record<number, string> = {
  // LINK_VERIFICATION=slack: bindings verified by Sign in with Slack.
  1: `ALTER TABLE bindings DROP CONSTRAINT IF EXISTS bindings_verified_by_check;
      ALTER TABLE bindings ADD CONSTRAINT bindings_verified_by_check CHECK (verified_by IN ('email', 'code', 'confirm', 'slack'));`,
  // audit_retention_floor and audit_events_retention(): created by the schema's own idempotent statements.
  2: 'SELECT 1',
  // 3 → 4: the function start_command, which the schema's CREATE OR REPLACE adds.
  3: 'SELECT 1',
};

const SCHEMA_SQL = readFileSync(new URL('./schema.postgres.sql', import.meta.url), 'utf8');

/** The advisory lock (ours, arbitrary) held while the schema is applied: replicas starting together migrate once. */
const SCHEMA_LOCK = 7_301_946_215;

/** Links one identity made within this window count against LINK_RATE_LIMIT_PER_MINUTE. */
const RATE_WINDOW_MS = 60_000;

/** Waiting for a connection (a new one, or a free one from a busy pool) ends after this: a down database fails fast. */
const CONNECT_TIMEOUT_MS = 2_000;

/** A migration may take longer than a request's statement timeout. */
const MIGRATION_TIMEOUT_MS = 60_000;

/**
 * How much longer than the statement timeout the client waits for any answer at all. The server
 * cancels a slow statement itself (a clean error, the connection reusable); this is for a server
 * that says nothing (stopped with SIGSTOP, a network cut that leaves the socket open), where a query
 * on a pooled connection would otherwise wait forever and the slash command with it.
 */
const QUERY_TIMEOUT_GRACE_MS = 250;

/** pg's error for query_timeout: the connection is in an unknown state and is thrown away. */
const QUERY_TIMEOUT = 'Query read timeout';

/** Rows per statement when importing (admin migrate): well below PostgreSQL's 65,535 parameters. */
const IMPORT_BATCH = 1000;

/**
 * bigint (int8) columns and count(*) arrive as numbers, not pg's default strings: every bigint here
 * is a time in ms or a count, far below 2^53. Per pool, so that other pg users in the process keep
 * pg's defaults.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Rows a DELETE … RETURNING gave in no particular order, in SQLite's (key) order, so both stores audit alike. */
const byIdentity = <R extends Row>(rows: R[]): R[] =>
  rows.sort((a, b) => (a.slack_org === b.slack_org ? cmp(a.slack_user_id, b.slack_user_id) : cmp(a.slack_org, b.slack_org)));
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** One audit row to write; the time and the actor are the transaction's. */
interface AuditEntry {
  action: AuditAction;
  reason: string | null;
  who: Partial<SlackUser> | null;
  internalUser: string | null;
}

export interface PostgresStore extends Store {
  /** The pool, for tests that look at what is really stored. */
  readonly pool: pg.Pool;
  /** False once a pooler was found not to keep prepared statements (src/store/prepared.ts). */
  readonly preparedStatements: boolean;
  /**
   * admin migrate: bindings from another store, in one transaction. A binding already there is
   * kept as it is (never replaced), counted as already there, or as differing when bound to
   * someone else.
   */
  importBindings(bindings: BindingToImport[]): Promise<ImportedBindings>;
  /** admin migrate: audit rows from another store, keeping their ids; a row whose id is there is skipped. */
  importAudit(rows: ExportedAuditEvent[]): Promise<ImportedAudit>;
}

export interface PostgresOptions {
  poolMax?: number;
  statementTimeoutMs?: number;
  /** Called once if prepared statements turn out not to be kept (src/store/prepared.ts), with the SQLSTATE. */
  onPreparedStatementsOff?: (sqlstate: string) => void;
}

export async function openPostgresStore(url: string, { poolMax = 10, statementTimeoutMs = 2000, onPreparedStatementsOff }: PostgresOptions = {}): Promise<PostgresStore> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolMax,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // Below Slack's 3 seconds: an apology in time beats a timeout. Sent at connect, so every
    // pooled connection has it.
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + QUERY_TIMEOUT_GRACE_MS,
    // A transaction left open (a bug, a stalled process) must not hold row and advisory locks.
    idle_in_transaction_session_timeout: 10 * statementTimeoutMs,
    application_name: 'slack-account-binding',
    keepAlive: true,
    types,
  });
  // A connection that fails emits 'error' on itself, and again on the pool if it was idle there:
  // unheard, either would crash the process. Counted (once, on the connection), never logged:
  // nothing in them is worth a secret's risk. The next query fails or gets a new connection.
  let connectionErrors = 0;
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => void connectionErrors++));
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw openError(url, err);
  }
  const prepared = preparedOn(pool, onPreparedStatementsOff);
  return {
    ...storeOn(pool, prepared),
    ...importsOn(pool),
    pool,
    get connectionErrors() {
      return connectionErrors;
    },
    get preparedStatements() {
      return prepared.on;
    },
  };
}

/**
 * The schema, applied when the database's version is older than ours, under an advisory lock held
 * to the end of the transaction: replicas that start together wait for the first, then find the
 * schema current. A database from a newer release is refused rather than damaged.
 */
async function migrate(pool: pg.Pool): Promise<void> {
  await inTransaction(pool, async (c) => {
    // The client's query_timeout too: waiting for another replica's migration, or migrating, is slow.
    // pg reads a query's own query_timeout (client.js), which @types/pg does not declare.
    const slow = (text: string, values?: unknown[]) =>
      c.query({ text, values, query_timeout: MIGRATION_TIMEOUT_MS + QUERY_TIMEOUT_GRACE_MS } as pg.QueryConfig);
    await slow(`SET LOCAL statement_timeout = ${MIGRATION_TIMEOUT_MS}`);
    await slow('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    const current = await schemaVersion(c);
    if (current > SCHEMA_VERSION) {
      throw new Error(`the database has schema version ${current}, newer than this program's ${SCHEMA_VERSION}; run a newer release`);
    }
    if (current === SCHEMA_VERSION) return;
    // A new database (version 0) gets the schema directly; older ones first take each step up
    // (a step may ALTER a table that a new database does not have yet).
    if (current > 0) for (let v = current; v < SCHEMA_VERSION; v++) await slow(MIGRATIONS[v] ?? '');
    await slow(SCHEMA_SQL);
    const applied = await schemaVersion(c);
    if (applied !== SCHEMA_VERSION) throw new Error(`schema.postgres.sql says version ${applied}, the program ${SCHEMA_VERSION}`);
  });
}

async function schemaVersion(c: PoolClient): Promise<number> {
  const { rows } = await c.query<{ exists: boolean }>("SELECT to_regclass('schema_version') IS NOT NULL AS exists");
  if (!rows[0]?.exists) return 0;
  const version = await c.query<{ version: number }>('SELECT version FROM schema_version');
  return version.rows[0]?.version ?? 0;
}

/**
 * `work` in one transaction on one pooled connection: committed if it returns, rolled back if it
 * throws. A connection that cannot even roll back is destroyed rather than pooled again.
 */
async function inTransaction<T>(pool: pg.Pool, work: (c: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    broken = await abandon(client, err);
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * After a failure inside a transaction: roll back. A connection that stopped answering is not asked
 * to (that would wait as long again): destroyed, it ends the transaction on the server's side. The
 * error to release the client with, when it must not go back to the pool.
 */
async function abandon(client: PoolClient, err: unknown): Promise<Error | undefined> {
  if ((err as Error | undefined)?.message === QUERY_TIMEOUT) return err as Error;
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (e) {
    return e as Error;
  }
}

/**
 * An error that says which database could not be opened without its password: the URL's password
 * is never in a message (pg's own errors do not carry it; a parse error's input is redacted by pg).
 */
function openError(url: string, err: unknown): Error {
  let target = 'DATABASE_URL';
  let password = '';
  try {
    const u = new URL(url);
    password = decodeURIComponent(u.password);
    target = `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    // unparseable: pg has said so in its own words
  }
  let message = err instanceof Error ? err.message : String(err);
  if (password) message = message.split(password).join('***');
  const error = new Error(`cannot open PostgreSQL at ${target}: ${message}`);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? Object.assign(error, { code }) : error;
}

/** Which rows a revocation covers: constant SQL, the scope's values as parameters. */
function scopeOf(scope: RevokeScope): { where: string; values: string[]; links: boolean } {
  if ('identity' in scope) return { where: 'slack_org = $1 AND slack_user_id = $2', values: [scope.identity.org, scope.identity.userId], links: true };
  if ('teamId' in scope) return { where: 'slack_team_id = $1', values: [scope.teamId], links: true };
  if ('enterpriseId' in scope) return { where: 'slack_org = $1', values: [scope.enterpriseId], links: true };
  // Links carry no internal user: a person's open links are not theirs until confirmed.
  return { where: 'internal_user = $1', values: [scope.internalUser], links: false };
}

const SYSTEM: Actor = { actor: 'system', requestId: null, clientAddress: null };

/** The store's calls; the connection-error count is the pool's, added by openPostgresStore. */
function storeOn(pool: pg.Pool, prepared: Prepared): Omit<Store, 'connectionErrors'> {
  /** Audit rows, written inside the caller's transaction in the order given (one statement). */
  const audit = async (c: PoolClient, time: number, by: Actor, entries: AuditEntry[]): Promise<void> => {
    if (!entries.length) return;
    const column = (f: (e: AuditEntry) => string | null | undefined) => entries.map((e) => f(e) ?? null);
    await c.query(
      `INSERT INTO audit_events
         (id, time, action, reason, slack_org, slack_team_id, slack_user_id, internal_user, actor, request_id, client_address)
       SELECT e.id, $1, e.action, e.reason, e.org, e.team, e.usr, e.internal, $2, $3, $4
       FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
         WITH ORDINALITY AS e (id, action, reason, org, team, usr, internal, n)
       ORDER BY e.n`,
      [
        time,
        by.actor,
        by.requestId,
        by.clientAddress,
        entries.map(() => randomUUID()),
        column((e) => e.action),
        column((e) => e.reason),
        column((e) => e.who?.org),
        column((e) => e.who?.teamId),
        column((e) => e.who?.userId),
        column((e) => e.internalUser),
      ],
    );
  };

  const getBinding = async (c: pg.Pool | PoolClient, org: string, userId: string): Promise<BindingRow | undefined> =>
    (await c.query<BindingRow>('SELECT * FROM bindings WHERE slack_org = $1 AND slack_user_id = $2', [org, userId])).rows[0];

  /** The live link with this nonce, deleted: of many transactions, one gets the row, the rest wait and get none. */
  const consumeLink = async (c: PoolClient, nonceHash: Buffer, now: number): Promise<LinkRow | undefined> =>
    (await c.query<LinkRow>('DELETE FROM link_nonces WHERE nonce_hash = $1 AND expires_at > $2 RETURNING *', [nonceHash, now])).rows[0];

  /**
   * Binds the Slack identity a link (or pending confirmation) was made for, unless already bound.
   * Any other open link or pending confirmation of that identity is void from now on.
   */
  const bindOnce = async (c: PoolClient, row: LinkRow, internalUser: string, verification: LinkVerification, now: number, by: Actor): Promise<BindResult> => {
    // Twice at most: the existing binding can vanish (an unlink) between the INSERT and the SELECT.
    for (let attempt = 0; attempt < 2; attempt++) {
      const inserted = await c.query<BindingRow>(
        `INSERT INTO bindings
           (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain, internal_user, created_at, verified_by, last_used_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)
         ON CONFLICT (slack_org, slack_user_id) DO NOTHING RETURNING *`,
        [row.slack_org, row.slack_user_id, row.slack_team_id, row.slack_enterprise_id, row.slack_user_name, row.slack_team_domain, internalUser, now, verification],
      );
      const fresh = inserted.rows[0];
      if (!fresh) {
        const existing = await getBinding(c, row.slack_org, row.slack_user_id);
        if (existing) {
          // The link (or pending confirmation) is spent all the same: say so in the trail.
          await audit(c, now, by, [{ action: 'link_cancelled', reason: 'already_bound', who: slackUserOf(row), internalUser }]);
          return { outcome: 'already_bound', binding: bindingOf(existing) };
        }
        continue;
      }
      const binding = bindingOf(fresh);
      await c.query('DELETE FROM link_nonces WHERE slack_org = $1 AND slack_user_id = $2', [row.slack_org, row.slack_user_id]);
      await c.query('DELETE FROM pending_confirmations WHERE slack_org = $1 AND slack_user_id = $2', [row.slack_org, row.slack_user_id]);
      await audit(c, now, by, [{ action: 'linked', reason: verification, who: binding, internalUser }]);
      return { outcome: 'bound', binding, link: linkOf(row) };
    }
    throw new Error('the binding changed twice while being written; try again');
  };

  /**
   * One Slack identity moved from the workspace's key to the enterprise's, in `c`'s transaction: in
   * each table, the row under either key locked, the newer kept (a tie: the enterprise's), the other
   * ended, the workspace's moved when it is the one kept. Audit rows in SQLite's order.
   */
  const rekeyOne = async (c: PoolClient, teamId: string, enterpriseId: string, userId: string, by: Actor): Promise<Rekeyed> => {
    const out: Rekeyed = { bindings: [], revoked: [], links: 0 };
    const entries: AuditEntry[] = [];
    for (const table of ['bindings', 'link_nonces', 'pending_confirmations'] as const) {
      const { rows } = await c.query<BindingRow & PendingRow>(`SELECT * FROM ${table} WHERE slack_org = ANY($1::text[]) AND slack_user_id = $2 FOR UPDATE`, [
        [teamId, enterpriseId],
        userId,
      ]);
      const old = rows.find((r) => r.slack_org === teamId);
      if (!old) continue;
      const there = rows.find((r) => r.slack_org === enterpriseId);
      const loser = !there || old.created_at > there.created_at ? there : old;
      const internalUser = table === 'link_nonces' ? null : old.internal_user;
      if (loser) {
        await c.query(`DELETE FROM ${table} WHERE slack_org = $1 AND slack_user_id = $2`, [loser.slack_org, userId]);
        entries.push({ action: table === 'bindings' ? 'revoked' : 'link_cancelled', reason: 'grid_migration', who: slackUserOf(loser), internalUser: table === 'link_nonces' ? null : loser.internal_user });
        if (table === 'bindings') out.revoked.push(bindingOf(loser));
      }
      if (loser !== old) {
        await c.query(`UPDATE ${table} SET slack_org = $1, slack_enterprise_id = $1 WHERE slack_org = $2 AND slack_user_id = $3`, [enterpriseId, teamId, userId]);
        const moved = { ...old, slack_org: enterpriseId, slack_enterprise_id: enterpriseId };
        entries.push({ action: 'rekeyed', reason: 'grid_migration', who: slackUserOf(moved), internalUser });
        if (table === 'bindings') out.bindings.push(bindingOf(moved));
      }
      if (table !== 'bindings') out.links++;
    }
    await audit(c, Date.now(), by, entries);
    return out;
  };

  return {
    // Read and written, as the contract says: a standby or a read-only session answers SELECT 1
    // but cannot create a link.
    ping: async () => {
      const { rows } = await pool.query<{ writable: boolean }>(
        "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off' AS writable",
      );
      return rows[0]?.writable === true;
    },

    getBinding: async (id) => {
      const row = await getBinding(pool, id.org, id.userId);
      return row && bindingOf(row);
    },

    getLiveLink: async (nonceHash, now) => {
      const { rows } = await pool.query<LinkRow>('SELECT * FROM link_nonces WHERE nonce_hash = $1 AND expires_at > $2', [nonceHash, now]);
      return rows[0] && linkOf(rows[0]);
    },

    createLink: (link, by) =>
      inTransaction(pool, async (c) => {
        const { user, request, nonceHash, now, ttlMs, perMinute } = link;
        // Serialises this identity's link changes across replicas until commit: the count below
        // sees every link the previous holder made, and the old link is replaced, never doubled.
        await c.query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2::text, 0))", [user.org, user.userId]);
        if (perMinute > 0) {
          const { rows } = await c.query<{ n: number }>(
            "SELECT count(*) AS n FROM audit_events WHERE slack_org = $1 AND slack_user_id = $2 AND time > $3 AND action = 'link_created'",
            [user.org, user.userId, now - RATE_WINDOW_MS],
          );
          if (rows[0]!.n >= perMinute) return { outcome: 'rate_limited' as const };
        }
        await c.query('DELETE FROM link_nonces WHERE slack_org = $1 AND slack_user_id = $2', [user.org, user.userId]);
        await c.query(
          `INSERT INTO link_nonces
             (nonce_hash, slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain,
              command, pending_text, channel_id, response_url, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
          [
            nonceHash,
            user.org,
            user.userId,
            user.teamId,
            user.enterpriseId,
            user.userName,
            user.teamDomain,
            request.command,
            request.pendingText,
            request.channelId,
            request.responseUrl,
            now,
            now + ttlMs,
          ],
        );
        await audit(c, now, by, [{ action: 'link_created', reason: link.startedOnWebBy ? 'web' : null, who: user, internalUser: link.startedOnWebBy ?? null }]);
        return { outcome: 'created' as const };
      }),

    endLink: (nonceHash, now, ending, by) =>
      inTransaction(pool, async (c) => {
        const row = await consumeLink(c, nonceHash, now);
        if (!row) return undefined;
        const link = linkOf(row);
        await audit(c, now, by, [{ action: ending.action, reason: ending.reason, who: link, internalUser: null }]);
        return link;
      }),

    refuseLink: (nonceHash, now, reason, internalUser, by) =>
      inTransaction(pool, async (c) => {
        const { rows } = await c.query<LinkRow>('SELECT * FROM link_nonces WHERE nonce_hash = $1 AND expires_at > $2', [nonceHash, now]);
        if (!rows[0]) return undefined;
        const link = linkOf(rows[0]);
        await audit(c, now, by, [{ action: 'verification_failed', reason, who: link, internalUser }]);
        return link;
      }),

    completeLink: (nonceHash, internalUser, verification, now, by) =>
      inTransaction(pool, async (c) => {
        const row = await consumeLink(c, nonceHash, now);
        return row ? bindOnce(c, row, internalUser, verification, now, by) : { outcome: 'gone' as const };
      }),

    deferLink: (nonceHash, internalUser, codeMacFor, now, ttlMs, keepPendingCommand, by) =>
      inTransaction(pool, async (c) => {
        const row = await consumeLink(c, nonceHash, now);
        if (!row) return { outcome: 'gone' as const };
        const existing = await getBinding(c, row.slack_org, row.slack_user_id);
        if (existing) {
          await audit(c, now, by, [{ action: 'link_cancelled', reason: 'already_bound', who: slackUserOf(row), internalUser }]);
          return { outcome: 'already_bound' as const, binding: bindingOf(existing) };
        }
        const link = linkOf(row);
        if (!keepPendingCommand) link.pendingText = null;
        // created_at stays the time of the slash command: its response_url lives 30 minutes from then.
        await c.query(
          `INSERT INTO pending_confirmations
             (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain,
              command, pending_text, channel_id, response_url, internal_user, code_mac, failed_attempts, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $14)
           ON CONFLICT (slack_org, slack_user_id) DO UPDATE SET
             slack_team_id = excluded.slack_team_id, slack_enterprise_id = excluded.slack_enterprise_id,
             slack_user_name = excluded.slack_user_name, slack_team_domain = excluded.slack_team_domain,
             command = excluded.command, pending_text = excluded.pending_text, channel_id = excluded.channel_id,
             response_url = excluded.response_url, internal_user = excluded.internal_user, code_mac = excluded.code_mac,
             failed_attempts = 0, created_at = excluded.created_at, expires_at = excluded.expires_at`,
          [
            link.org,
            link.userId,
            link.teamId,
            link.enterpriseId,
            link.userName,
            link.teamDomain,
            link.command,
            link.pendingText,
            link.channelId,
            link.responseUrl,
            internalUser,
            codeMacFor(link),
            link.createdAt,
            now + ttlMs,
          ],
        );
        await audit(c, now, by, [{ action: 'code_issued', reason: null, who: link, internalUser }]);
        return { outcome: 'pending' as const, link };
      }),

    confirmCode: (id, matches, now, maxFailures, by) =>
      inTransaction(pool, async (c) => {
        // FOR UPDATE: guesses typed at once are counted one after another, never both against the same count.
        const { rows } = await c.query<PendingRow>(
          'SELECT * FROM pending_confirmations WHERE slack_org = $1 AND slack_user_id = $2 FOR UPDATE',
          [id.org, id.userId],
        );
        const row = rows[0];
        if (!row) return { outcome: 'none' as const };
        const deletePending = () => c.query('DELETE FROM pending_confirmations WHERE slack_org = $1 AND slack_user_id = $2', [id.org, id.userId]);
        if (row.expires_at <= now) {
          await deletePending();
          await audit(c, now, by, [{ action: 'link_cancelled', reason: 'code_expired', who: slackUserOf(row), internalUser: row.internal_user }]);
          return { outcome: 'expired' as const };
        }
        const who = slackUserOf(row);
        if (!matches(row.code_mac)) {
          const failed = await c.query<{ failed_attempts: number }>(
            'UPDATE pending_confirmations SET failed_attempts = failed_attempts + 1 WHERE slack_org = $1 AND slack_user_id = $2 RETURNING failed_attempts',
            [id.org, id.userId],
          );
          const attempts = failed.rows[0]!.failed_attempts;
          if (attempts < maxFailures) {
            await audit(c, now, by, [{ action: 'verification_failed', reason: 'wrong_code', who, internalUser: row.internal_user }]);
            return { outcome: 'wrong' as const, attemptsLeft: maxFailures - attempts };
          }
          await deletePending();
          await audit(c, now, by, [{ action: 'verification_failed', reason: 'attempts_exhausted', who, internalUser: row.internal_user }]);
          return { outcome: 'void' as const };
        }
        await deletePending();
        return bindOnce(c, row, row.internal_user, 'code', now, by);
      }),

    unlink: (id, by, boundTo) =>
      inTransaction(pool, async (c) => {
        const { rows } = await c.query<BindingRow>(
          'DELETE FROM bindings WHERE slack_org = $1 AND slack_user_id = $2 AND ($3::text IS NULL OR internal_user = $3) RETURNING *',
          [id.org, id.userId, boundTo ?? null],
        );
        if (!rows[0]) return undefined;
        const binding = bindingOf(rows[0]);
        await audit(c, Date.now(), by, [{ action: 'unlinked', reason: null, who: binding, internalUser: binding.internalUser }]);
        return binding;
      }),

    revoke: (scope, reason, by) =>
      inTransaction(pool, async (c) => {
        const { where, values, links: withLinks } = scopeOf(scope);
        const remove = async <R extends Row>(table: string) => byIdentity((await c.query<R>(`DELETE FROM ${table} WHERE ${where} RETURNING *`, values)).rows);
        const bindings = await remove<BindingRow>('bindings');
        const links = withLinks ? await remove<LinkRow>('link_nonces') : [];
        const pending = await remove<PendingRow>('pending_confirmations');
        await audit(c, Date.now(), by, [
          ...bindings.map((r) => ({ action: 'revoked' as const, reason, who: slackUserOf(r), internalUser: r.internal_user })),
          ...links.map((r) => ({ action: 'link_cancelled' as const, reason, who: slackUserOf(r), internalUser: null })),
          ...pending.map((r) => ({ action: 'link_cancelled' as const, reason, who: slackUserOf(r), internalUser: r.internal_user })),
        ]);
        return { bindings: bindings.map(bindingOf), links: links.length + pending.length };
      }),

    rekeyToEnterprise: async (teamId, enterpriseId, by, userId) => {
      const out: Rekeyed = { bindings: [], revoked: [], links: 0 };
      if (teamId === enterpriseId) return out;
      const users = userId
        ? [userId]
        : (
            await pool.query<{ slack_user_id: string }>(
              `SELECT slack_user_id FROM bindings WHERE slack_org = $1
               UNION SELECT slack_user_id FROM link_nonces WHERE slack_org = $1
               UNION SELECT slack_user_id FROM pending_confirmations WHERE slack_org = $1 ORDER BY 1`,
              [teamId],
            )
          ).rows.map((r) => r.slack_user_id);
      for (const user of users) {
        const one = await inTransaction(pool, (c) => rekeyOne(c, teamId, enterpriseId, user, by));
        out.bindings.push(...one.bindings);
        out.revoked.push(...one.revoked);
        out.links += one.links;
      }
      return out;
    },

    holdsAnything: async (id) => {
      const { rows } = await pool.query<{ held: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM bindings WHERE slack_org = $1 AND slack_user_id = $2)
             OR EXISTS (SELECT 1 FROM link_nonces WHERE slack_org = $1 AND slack_user_id = $2)
             OR EXISTS (SELECT 1 FROM pending_confirmations WHERE slack_org = $1 AND slack_user_id = $2) AS held`,
        [id.org, id.userId],
      );
      return rows[0]!.held;
    },

    purgeExpired: (now, limits = {}) =>
      inTransaction(pool, async (c) => {
        const expiredLinks = await c.query('DELETE FROM link_nonces WHERE expires_at <= $1', [now]);
        const expiredPending = await c.query('DELETE FROM pending_confirmations WHERE expires_at <= $1', [now]);
        await c.query('DELETE FROM request_claims WHERE expires_at <= $1', [now]);
        // Through the schema's function (the latest `linked` row of each live binding stays, as in
        // sqlite.ts): the application's role may be denied DELETE on audit_events.
        if (limits.auditBefore !== undefined) await c.query('SELECT audit_events_retention($1)', [limits.auditBefore]);
        if (limits.eventsBefore !== undefined) await c.query('DELETE FROM slack_events_seen WHERE received_at < $1', [limits.eventsBefore]);
        let idle: BindingRow[] = [];
        if (limits.idleBefore !== undefined) {
          const removed = await c.query<BindingRow>('DELETE FROM bindings WHERE coalesce(last_used_at, created_at) < $1 RETURNING *', [limits.idleBefore]);
          idle = byIdentity(removed.rows);
          await audit(c, now, SYSTEM, idle.map((r) => ({ action: 'revoked', reason: 'idle', who: slackUserOf(r), internalUser: r.internal_user })));
        }
        return { links: (expiredLinks.rowCount ?? 0) + (expiredPending.rowCount ?? 0), idle: idle.map(bindingOf) };
      }),

    // One round trip: the whole command is one call of start_command (schema.postgres.sql), in
    // one implicit transaction. Measured with the bench (bound commands and new links, against
    // SQLite in the same run): see docs/performance.md.
    startCommand: async ({ user, now, claim, link, by }) => {
      if (claim && !Number.isSafeInteger(claim.expiresAt)) throw new TypeError('a claim expires at a time in whole ms');
      const l = link?.();
      const { rows } = await prepared.query<{ outcome: CommandStarted['outcome']; binding: BindingRow | null }>(
        'start_command',
        'SELECT * FROM start_command($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)',
        [
          claim?.key ?? null,
          claim?.expiresAt ?? null,
          now,
          user.org,
          user.userId,
          now - LAST_USED_RESOLUTION_MS,
          l?.nonceHash ?? null,
          user.teamId,
          user.enterpriseId,
          user.userName,
          user.teamDomain,
          l?.request.command ?? null,
          l?.request.pendingText ?? null,
          l?.request.channelId ?? null,
          l?.request.responseUrl ?? null,
          l ? now + l.ttlMs : null,
          l?.perMinute ?? 0,
          now - RATE_WINDOW_MS,
          l ? randomUUID() : null,
          by.actor,
          by.requestId,
          by.clientAddress,
        ],
      );
      const { outcome, binding } = rows[0]!;
      return outcome === 'bound' ? { outcome, binding: bindingOf(binding!) } : { outcome };
    },

    touchBinding: async (id, now) => {
      await pool.query(
        'UPDATE bindings SET last_used_at = $1 WHERE slack_org = $2 AND slack_user_id = $3 AND (last_used_at IS NULL OR last_used_at < $4)',
        [now, id.org, id.userId, now - LAST_USED_RESOLUTION_MS],
      );
    },

    firstDelivery: async (eventId, now) => {
      const inserted = await pool.query('INSERT INTO slack_events_seen (event_id, received_at) VALUES ($1, $2) ON CONFLICT DO NOTHING', [eventId, now]);
      return inserted.rowCount === 1;
    },

    forgetDelivery: async (eventId) => {
      await pool.query('DELETE FROM slack_events_seen WHERE event_id = $1', [eventId]);
    },

    listBindings: async (filter = {}) => {
      const f = { workspace: null, slackUser: null, internalUser: null, ...filter };
      // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
      const { rows } = await pool.query<BindingRow>(
        `SELECT * FROM bindings
         WHERE ($1::text IS NULL OR slack_team_id = $1 OR slack_org = $1)
           AND ($2::text IS NULL OR slack_user_id = $2)
           AND ($3::text IS NULL OR internal_user = $3)
         ORDER BY internal_user COLLATE "C", slack_org COLLATE "C", slack_user_id COLLATE "C"`,
        [f.workspace, f.slackUser, f.internalUser],
      );
      return rows.map(bindingOf);
    },

    statsByWorkspace: async (now) => {
      const { rows } = await pool.query<WorkspaceStats>(
        `SELECT workspace, sum(b) AS bindings, sum(l) AS open_links, sum(p) AS pending FROM (
           SELECT slack_org AS workspace, 1 AS b, 0 AS l, 0 AS p FROM bindings
           UNION ALL SELECT slack_org, 0, 1, 0 FROM link_nonces WHERE expires_at > $1
           UNION ALL SELECT slack_org, 0, 0, 1 FROM pending_confirmations WHERE expires_at > $1
         ) AS counted GROUP BY workspace ORDER BY workspace COLLATE "C"`,
        [now],
      );
      return rows;
    },

    listAudit: async (filter = {}) => {
      const f = { since: null, internalUser: null, slackUser: null, ...filter };
      const { rows } = await pool.query<AuditRow>(
        `SELECT * FROM audit_events
         WHERE ($1::bigint IS NULL OR time >= $1)
           AND ($2::text IS NULL OR internal_user = $2)
           AND ($3::text IS NULL OR slack_user_id = $3)
         ORDER BY time, seq`,
        [f.since, f.internalUser, f.slackUser],
      );
      return rows.map(auditOf);
    },

    // synchronous_commit off: the claim is not waited for on disk. If the database server crashes,
    // the claims of its last fraction of a second may be lost, and a replay of one of those requests
    // would be accepted for what remains of its timestamp's five-minute window: a small, short risk,
    // for one fsync less on every slash command. An expired claim is taken over, not refused.
    //
    // One round trip, not three: this runs before every slash command, and each round trip costs
    // both processes a wake-up and a few hundred µs of CPU between them. Measured with the bench's
    // load on its 2-vCPU machine: the bound-user command went from 4 round trips to 2, from about
    // 1,200 to 1,700 req/s, node's CPU per request from 620 to 480 µs and PostgreSQL's from 580 to
    // 430. The whole transaction is one simple-protocol message, so its values are literals: the
    // key escaped by pg, the times checked to be whole numbers. (Also one transaction through
    // PgBouncer in transaction mode, which a session-level setting would not be.)
    claimsRememberedSince: 0,
    claimsForgottenEarly: 0,
    claimRequest: async (key, expiresAt, now) => {
      if (!Number.isSafeInteger(expiresAt) || !Number.isSafeInteger(now)) throw new TypeError('claimRequest takes times in whole ms');
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        const results = (await client.query(
          `BEGIN; SET LOCAL synchronous_commit = off;
           INSERT INTO request_claims (key, expires_at) VALUES (${client.escapeLiteral(key)}, ${expiresAt})
           ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE request_claims.expires_at <= ${now};
           COMMIT`,
        )) as unknown as pg.QueryResult[];
        return results[2]!.rowCount === 1;
      } catch (err) {
        // Failed inside the transaction: it is left aborted, to be rolled back (or the connection dropped).
        broken = await abandon(client, err);
        throw err;
      } finally {
        client.release(broken);
      }
    },

    close: async () => {
      await pool.end();
    },
  };
}

/** Batches of at most IMPORT_BATCH. */
const batches = <T>(xs: T[]): T[][] => Array.from({ length: Math.ceil(xs.length / IMPORT_BATCH) }, (_, i) => xs.slice(i * IMPORT_BATCH, (i + 1) * IMPORT_BATCH));

function importsOn(pool: pg.Pool): Pick<PostgresStore, 'importBindings' | 'importAudit'> {
  return {
    importBindings: (bindings) =>
      inTransaction(pool, async (c) => {
        const result: ImportedBindings = { copied: 0, already: 0, differing: [], superseded: [] };
        for (const all of batches(bindings)) {
          // A later change on the target (an unlink after an earlier run) wins: never resurrected.
          const later = await c.query<{ slack_org: string; slack_user_id: string }>(
            `SELECT DISTINCT a.slack_org, a.slack_user_id FROM audit_events a
               JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS k (org, usr, since) ON a.slack_org = k.org AND a.slack_user_id = k.usr
             WHERE a.time > k.since`,
            [all.map((b) => b.org), all.map((b) => b.userId), all.map((b) => b.sourceLatest)],
          );
          const changedThere = new Set(later.rows.map((r) => `${r.slack_org}\0${r.slack_user_id}`));
          const heldBack = all.filter((b) => changedThere.has(`${b.org}\0${b.userId}`));
          const batch = all.filter((b) => !changedThere.has(`${b.org}\0${b.userId}`));
          const col = <K extends keyof Binding>(k: K) => batch.map((b) => b[k]);
          const inserted = await c.query<{ slack_org: string; slack_user_id: string }>(
            `INSERT INTO bindings
               (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain, internal_user, created_at, verified_by, last_used_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::bigint[])
             ON CONFLICT (slack_org, slack_user_id) DO NOTHING
             RETURNING slack_org, slack_user_id`,
            [
              col('org'),
              col('userId'),
              col('teamId'),
              col('enterpriseId'),
              col('userName'),
              col('teamDomain'),
              col('internalUser'),
              col('createdAt'),
              col('verifiedBy'),
              col('lastUsedAt'),
            ],
          );
          result.copied += inserted.rowCount ?? 0;
          const fresh = new Set(inserted.rows.map((r) => `${r.slack_org}\0${r.slack_user_id}`));
          const rest = [...batch.filter((b) => !fresh.has(`${b.org}\0${b.userId}`)), ...heldBack];
          if (!rest.length) continue;
          // Read after the INSERT: a binding another transaction committed meanwhile is seen too.
          const existing = await c.query<BindingRow>(
            'SELECT b.* FROM bindings b JOIN unnest($1::text[], $2::text[]) AS k (org, usr) ON b.slack_org = k.org AND b.slack_user_id = k.usr',
            [rest.map((b) => b.org), rest.map((b) => b.userId)],
          );
          const there = new Map(existing.rows.map((r) => [`${r.slack_org}\0${r.slack_user_id}`, r]));
          for (const b of rest) {
            const row = there.get(`${b.org}\0${b.userId}`);
            if (row && row.internal_user === b.internalUser) result.already++;
            else if (row) result.differing.push(b);
            else result.superseded.push(b);
          }
        }
        return result;
      }),

    importAudit: (rows) =>
      inTransaction(pool, async (c) => {
        let copied = 0;
        for (const batch of batches(rows)) {
          const col = <K extends keyof ExportedAuditEvent>(k: K) => batch.map((r) => r[k]);
          // In the given order (WITH ORDINALITY), so that seq keeps the source's order among them.
          const inserted = await c.query(
            `INSERT INTO audit_events
               (id, time, action, reason, slack_org, slack_team_id, slack_user_id, internal_user, actor, request_id, client_address)
             SELECT id, time, action, reason, org, team, usr, internal, actor, request_id, client_address
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
               WITH ORDINALITY AS e (id, time, action, reason, org, team, usr, internal, actor, request_id, client_address, n)
             ORDER BY n
             ON CONFLICT (id) DO NOTHING`,
            [
              col('id'),
              col('time'),
              col('action'),
              col('reason'),
              col('org'),
              col('teamId'),
              col('slackUser'),
              col('internalUser'),
              col('actor'),
              col('requestId'),
              col('clientAddress'),
            ],
          );
          copied += inserted.rowCount ?? 0;
        }
        return { copied, already: rows.length - copied };
      }),
  };
}
