// The Store on SQLite: one file, the embedded default. better-sqlite3 is synchronous: each method
// does its work in one synchronous transaction (a transaction must never span an `await`) and
// returns a settled Promise, so that callers see the same contract as PostgreSQL's.
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createSeenSet } from './seen-in-memory.ts';
import type { Actor, AuditEvent, Binding, Link, LinkVerification, RevokeReason, RevokeScope, SlackIdentity, SlackUser } from '../model.ts';
import type { AuditFilter, BindingFilter, BindResult, CodeResult, CompleteResult, CreateLinkResult, DeferResult, LinkEnding, NewLink, Purged, PurgeLimits, Rekeyed, Revoked, Store, WorkspaceStats } from './store.ts';
import { auditOf, bindingOf, linkOf, slackUserOf, type AuditRow, type BindingRow, type LinkRow, type PendingRow, type Row } from './rows.ts';
import { LAST_USED_RESOLUTION_MS } from '../model.ts';
import type { ExportedAuditEvent } from './transfer.ts';

/** The schema version schema.sqlite.sql describes; see MIGRATIONS for older files. */
export const SCHEMA_VERSION = 3;

/**
 * SQL that brings a file from version N to N+1, for the steps the schema's idempotent CREATEs
 * cannot take. 1 → 2: the keys that protect what the file holds leave the file (they are derived
 * from a secret the operator provides: src/keys.ts).
 */
const MIGRATIONS: Record<number, string> = {
  1: 'DROP TABLE IF EXISTS server_keys;',
  // 2 → 3: how a binding was verified, and when it was last used.
  2: 'ALTER TABLE bindings ADD COLUMN verified_by TEXT; ALTER TABLE bindings ADD COLUMN last_used_at INTEGER;',
};

const SCHEMA_SQL = readFileSync(new URL('./schema.sqlite.sql', import.meta.url), 'utf8');

/** Links one identity made within this window count against LINK_RATE_LIMIT_PER_MINUTE. */
const RATE_WINDOW_MS = 60_000;

export interface SqliteStore extends Store {
  /** An online, consistent copy (SQLite's backup API): safe while the server writes. */
  backup(file: string): Promise<void>;
  /** The connection, for tests and the benchmark that look at what is really stored. */
  readonly db: Database.Database;
  /** Every audit row with its id, in the order written: what `admin migrate` copies. */
  exportAudit(): Promise<ExportedAuditEvent[]>;
}

/**
 * The file, its WAL and its shared-memory index are readable by their owner only: they hold who is
 * bound to whom. SQLite creates the WAL and SHM with the mode of the database file, so creating
 * that file 0600 first is enough for new files; existing ones are tightened.
 */
function ownerOnly(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(file, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

export function openSqliteStore(path: string, { mustExist = false } = {}): SqliteStore {
  if (path !== ':memory:' && !mustExist) {
    mkdirSync(dirname(path), { recursive: true });
    ownerOnly(path);
  }
  const db = new Database(path, { fileMustExist: mustExist });
  // Every statement is prepared here, once, and lives as long as the store. better-sqlite3 12 on
  // Node 24 (our image) aborts the whole process when the garbage collector frees a statement at
  // the wrong moment (its destructor needs a JavaScript context that a GC run from Node's own
  // callbacks lacks; WiseLibs/better-sqlite3#1515, fixed only in 13, which Node 20 cannot run).
  // So: no db.pragma() (it prepares a statement and drops it), PRAGMAs that set go through exec.
  db.exec('PRAGMA journal_mode = WAL');
  // A confirmed binding must survive a power cut, not only a crash of this process.
  db.exec('PRAGMA synchronous = FULL');
  // Wait for another writer (the admin CLI, a backup) at most this long: Slack gives a slash
  // command 3 seconds, and an apology in time beats a timeout.
  db.exec('PRAGMA busy_timeout = 2000');
  db.exec('PRAGMA foreign_keys = ON');
  const userVersion = db.prepare<[], number>('PRAGMA user_version').pluck();
  migrate(db, path, userVersion.get()!);

  const s = {
    userVersion, // held, not used again: see above
    ping: db.prepare('SELECT 1'),
    getBinding: db.prepare<[string, string], BindingRow>('SELECT * FROM bindings WHERE slack_org = ? AND slack_user_id = ?'),
    insertBinding: db.prepare(`INSERT INTO bindings
      (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain, internal_user, created_at, verified_by, last_used_at)
      VALUES (@org, @userId, @teamId, @enterpriseId, @userName, @teamDomain, @internalUser, @createdAt, @verifiedBy, @lastUsedAt)`),
    touchBinding: db.prepare<[number, string, string, number]>(
      'UPDATE bindings SET last_used_at = ? WHERE slack_org = ? AND slack_user_id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
    ),
    idleBindings: db.prepare<[number], BindingRow>('SELECT * FROM bindings WHERE coalesce(last_used_at, created_at) < ?'),
    insertEvent: db.prepare<[string, number]>('INSERT OR IGNORE INTO slack_events_seen (event_id, received_at) VALUES (?, ?)'),
    purgeEvents: db.prepare<[number]>('DELETE FROM slack_events_seen WHERE received_at < ?'),
    forgetEvent: db.prepare<[string]>('DELETE FROM slack_events_seen WHERE event_id = ?'),
    deleteBinding: db.prepare<[string, string]>('DELETE FROM bindings WHERE slack_org = ? AND slack_user_id = ?'),
    deleteLinkOfUser: db.prepare<[string, string]>('DELETE FROM link_nonces WHERE slack_org = ? AND slack_user_id = ?'),
    insertLink: db.prepare(`INSERT INTO link_nonces
      (nonce_hash, slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain,
       command, pending_text, channel_id, response_url, created_at, expires_at)
      VALUES (@nonceHash, @org, @userId, @teamId, @enterpriseId, @userName, @teamDomain,
       @command, @pendingText, @channelId, @responseUrl, @createdAt, @expiresAt)`),
    getLiveLink: db.prepare<[Buffer, number], LinkRow>('SELECT * FROM link_nonces WHERE nonce_hash = ? AND expires_at > ?'),
    deleteLink: db.prepare<[Buffer]>('DELETE FROM link_nonces WHERE nonce_hash = ?'),
    purgeExpiredLinks: db.prepare<[number]>('DELETE FROM link_nonces WHERE expires_at <= ?'),
    purgeExpiredPending: db.prepare<[number]>('DELETE FROM pending_confirmations WHERE expires_at <= ?'),
    // The latest `linked` row of each live binding stays whatever its age: it says who bound it,
    // when and how, for as long as the binding acts for someone. A binding moved to its enterprise's
    // key when its workspace joined a Grid organisation (rekeyToEnterprise) keeps its workspace as
    // its team: its linked row is under that key. Checked per old row (by the binding's keys and the
    // identity's index), not by grouping the whole trail every minute.
    purgeAudit: db.prepare<[number]>(`DELETE FROM audit_events AS e WHERE e.time < ? AND NOT (e.action = 'linked'
      AND (EXISTS (SELECT 1 FROM bindings b WHERE b.slack_org = e.slack_org AND b.slack_user_id = e.slack_user_id)
        OR EXISTS (SELECT 1 FROM bindings b WHERE b.slack_team_id = e.slack_org AND b.slack_user_id = e.slack_user_id))
      AND NOT EXISTS (SELECT 1 FROM audit_events l WHERE l.slack_org = e.slack_org AND l.slack_user_id = e.slack_user_id AND l.action = 'linked' AND l.seq > e.seq))`),
    upsertPending: db.prepare(`INSERT OR REPLACE INTO pending_confirmations
      (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain,
       command, pending_text, channel_id, response_url, internal_user, code_mac, failed_attempts, created_at, expires_at)
      VALUES (@org, @userId, @teamId, @enterpriseId, @userName, @teamDomain,
       @command, @pendingText, @channelId, @responseUrl, @internalUser, @codeMac, 0, @createdAt, @expiresAt)`),
    getPending: db.prepare<[string, string], PendingRow>('SELECT * FROM pending_confirmations WHERE slack_org = ? AND slack_user_id = ?'),
    deletePending: db.prepare<[string, string]>('DELETE FROM pending_confirmations WHERE slack_org = ? AND slack_user_id = ?'),
    failPending: db.prepare<[string, string], { failed_attempts: number }>(
      'UPDATE pending_confirmations SET failed_attempts = failed_attempts + 1 WHERE slack_org = ? AND slack_user_id = ? RETURNING failed_attempts',
    ),
    listBindings: db.prepare<[BindingFilter], BindingRow>(`SELECT * FROM bindings
      WHERE (@workspace IS NULL OR slack_team_id = @workspace OR slack_org = @workspace)
        AND (@slackUser IS NULL OR slack_user_id = @slackUser)
        AND (@internalUser IS NULL OR internal_user = @internalUser)
      ORDER BY internal_user, slack_org, slack_user_id`),
    // Revocation scopes: what each removes, read before it is deleted (for the audit trail).
    bindingsOfTeam: db.prepare<[string], BindingRow>('SELECT * FROM bindings WHERE slack_team_id = ?'),
    bindingsOfOrg: db.prepare<[string], BindingRow>('SELECT * FROM bindings WHERE slack_org = ?'),
    bindingsOfInternalUser: db.prepare<[string], BindingRow>('SELECT * FROM bindings WHERE internal_user = ?'),
    linksOfTeam: db.prepare<[string], LinkRow>('SELECT * FROM link_nonces WHERE slack_team_id = ?'),
    linksOfOrg: db.prepare<[string], LinkRow>('SELECT * FROM link_nonces WHERE slack_org = ?'),
    linkOfUser: db.prepare<[string, string], LinkRow>('SELECT * FROM link_nonces WHERE slack_org = ? AND slack_user_id = ?'),
    holdsAnything: db
      .prepare<[{ org: string; user: string }], number>(
        `SELECT EXISTS (SELECT 1 FROM bindings WHERE slack_org = @org AND slack_user_id = @user)
             OR EXISTS (SELECT 1 FROM link_nonces WHERE slack_org = @org AND slack_user_id = @user)
             OR EXISTS (SELECT 1 FROM pending_confirmations WHERE slack_org = @org AND slack_user_id = @user)`,
      )
      .pluck(),
    pendingOfTeam: db.prepare<[string], PendingRow>('SELECT * FROM pending_confirmations WHERE slack_team_id = ?'),
    pendingOfOrg: db.prepare<[string], PendingRow>('SELECT * FROM pending_confirmations WHERE slack_org = ?'),
    pendingOfInternalUser: db.prepare<[string], PendingRow>('SELECT * FROM pending_confirmations WHERE internal_user = ?'),
    // A workspace joining a Grid organisation: the Slack users keyed by the workspace, and their rows moved.
    teamKeyedUsers: db.prepare<[string, string, string], string>(`SELECT slack_user_id FROM bindings WHERE slack_org = ?
      UNION SELECT slack_user_id FROM link_nonces WHERE slack_org = ?
      UNION SELECT slack_user_id FROM pending_confirmations WHERE slack_org = ? ORDER BY 1`).pluck(),
    moveBinding: db.prepare<[{ to: string; from: string; user: string }]>('UPDATE bindings SET slack_org = @to, slack_enterprise_id = @to WHERE slack_org = @from AND slack_user_id = @user'),
    moveLink: db.prepare<[{ to: string; from: string; user: string }]>('UPDATE link_nonces SET slack_org = @to, slack_enterprise_id = @to WHERE slack_org = @from AND slack_user_id = @user'),
    movePending: db.prepare<[{ to: string; from: string; user: string }]>('UPDATE pending_confirmations SET slack_org = @to, slack_enterprise_id = @to WHERE slack_org = @from AND slack_user_id = @user'),
    countsByWorkspace: db.prepare<[{ now: number }], WorkspaceStats>(`
      SELECT workspace, sum(b) AS bindings, sum(l) AS open_links, sum(p) AS pending FROM (
        SELECT slack_org AS workspace, 1 AS b, 0 AS l, 0 AS p FROM bindings
        UNION ALL SELECT slack_org, 0, 1, 0 FROM link_nonces WHERE expires_at > @now
        UNION ALL SELECT slack_org, 0, 0, 1 FROM pending_confirmations WHERE expires_at > @now
      ) GROUP BY workspace ORDER BY workspace`),
    insertAudit: db.prepare(`INSERT INTO audit_events
      (id, time, action, reason, slack_org, slack_team_id, slack_user_id, internal_user, actor, request_id, client_address)
      VALUES (@id, @time, @action, @reason, @slack_org, @slack_team_id, @slack_user_id, @internal_user, @actor, @request_id, @client_address)`),
    linksCreatedSince: db.prepare<[string, string, number], number>(
      "SELECT count(*) FROM audit_events WHERE slack_org = ? AND slack_user_id = ? AND time > ? AND action = 'link_created'",
    ).pluck(),
    listAudit: db.prepare<[AuditFilter], AuditRow>(`SELECT * FROM audit_events
      WHERE (@since IS NULL OR time >= @since)
        AND (@internalUser IS NULL OR internal_user = @internalUser)
        AND (@slackUser IS NULL OR slack_user_id = @slackUser)
      ORDER BY time, seq`),
    exportAudit: db.prepare<[], AuditRow & { id: string }>('SELECT * FROM audit_events ORDER BY seq'),
  };

  /** One audit row, written inside the caller's transaction. */
  const audit = (
    time: number,
    action: AuditEvent['action'],
    reason: string | null,
    who: Partial<SlackUser> | null,
    internalUser: string | null,
    by: Actor,
  ): void => {
    s.insertAudit.run({
      id: randomUUID(),
      time,
      action,
      reason,
      slack_org: who?.org ?? null,
      slack_team_id: who?.teamId ?? null,
      slack_user_id: who?.userId ?? null,
      internal_user: internalUser,
      actor: by.actor,
      request_id: by.requestId,
      client_address: by.clientAddress,
    });
  };

  const createLink = groupCommit(db, ({ link, by }: { link: NewLink; by: Actor }): CreateLinkResult => {
    const { user, request, nonceHash, now, ttlMs, perMinute } = link;
    if (perMinute > 0 && s.linksCreatedSince.get(user.org, user.userId, now - RATE_WINDOW_MS)! >= perMinute) return { outcome: 'rate_limited' };
    s.deleteLinkOfUser.run(user.org, user.userId);
    s.insertLink.run({ ...user, ...request, nonceHash, createdAt: now, expiresAt: now + ttlMs });
    audit(now, 'link_created', link.startedOnWebBy ? 'web' : null, user, link.startedOnWebBy ?? null, by);
    return { outcome: 'created' };
  });

  /** The live link with this nonce, deleted: a link is spent by whatever is done with it. */
  const consumeLink = (nonceHash: Buffer, now: number): LinkRow | undefined => {
    const row = s.getLiveLink.get(nonceHash, now);
    if (row) s.deleteLink.run(nonceHash);
    return row;
  };

  /**
   * Binds the Slack identity a link (or pending confirmation) was made for, unless already bound.
   * Any other open link or pending confirmation of that identity is void from now on.
   */
  const bindOnce = (row: LinkRow, internalUser: string, verification: LinkVerification, now: number, by: Actor): BindResult => {
    const existing = s.getBinding.get(row.slack_org, row.slack_user_id);
    if (existing) {
      // The link (or pending confirmation) is spent all the same: say so in the trail.
      audit(now, 'link_cancelled', 'already_bound', slackUserOf(row), internalUser, by);
      return { outcome: 'already_bound', binding: bindingOf(existing) };
    }
    const binding: Binding = { ...slackUserOf(row), internalUser, createdAt: now, verifiedBy: verification, lastUsedAt: null };
    s.insertBinding.run(binding);
    s.deleteLinkOfUser.run(row.slack_org, row.slack_user_id);
    s.deletePending.run(row.slack_org, row.slack_user_id);
    audit(now, 'linked', verification, binding, internalUser, by);
    return { outcome: 'bound', binding, link: linkOf(row) };
  };

  /**
   * Consumes the nonce and writes the binding together. IMMEDIATE takes the write lock before
   * reading, so two processes on one file cannot both see the nonce as live.
   */
  const completeLink = groupCommit(
    db,
    (a: { nonceHash: Buffer; internalUser: string; verification: LinkVerification; now: number; by: Actor }): CompleteResult => {
      const row = consumeLink(a.nonceHash, a.now);
      return row ? bindOnce(row, a.internalUser, a.verification, a.now, a.by) : { outcome: 'gone' };
    },
  );

  const endLink = db.transaction((nonceHash: Buffer, now: number, ending: LinkEnding, by: Actor): Link | undefined => {
    const row = consumeLink(nonceHash, now);
    if (!row) return undefined;
    const link = linkOf(row);
    audit(now, ending.action, ending.reason, link, null, by);
    return link;
  });

  const refuseLink = db.transaction((nonceHash: Buffer, now: number, reason: string, internalUser: string, by: Actor): Link | undefined => {
    const row = s.getLiveLink.get(nonceHash, now);
    if (!row) return undefined;
    const link = linkOf(row);
    audit(now, 'verification_failed', reason, link, internalUser, by);
    return link;
  });

  const deferLink = db.transaction(
    (nonceHash: Buffer, internalUser: string, codeMacFor: (id: SlackIdentity) => Buffer, now: number, ttlMs: number, keep: boolean, by: Actor): DeferResult => {
      const row = consumeLink(nonceHash, now);
      if (!row) return { outcome: 'gone' };
      const existing = s.getBinding.get(row.slack_org, row.slack_user_id);
      if (existing) {
        audit(now, 'link_cancelled', 'already_bound', slackUserOf(row), internalUser, by);
        return { outcome: 'already_bound', binding: bindingOf(existing) };
      }
      const link = linkOf(row);
      if (!keep) link.pendingText = null;
      // created_at stays the time of the slash command: its response_url lives 30 minutes from then.
      s.upsertPending.run({ ...link, internalUser, codeMac: codeMacFor(link), createdAt: link.createdAt, expiresAt: now + ttlMs });
      audit(now, 'code_issued', null, link, internalUser, by);
      return { outcome: 'pending', link };
    },
  );

  const confirmCode = db.transaction(
    (id: SlackIdentity, matches: (codeMac: Buffer) => boolean, now: number, maxFailures: number, by: Actor): CodeResult => {
      const row = s.getPending.get(id.org, id.userId);
      if (!row) return { outcome: 'none' };
      if (row.expires_at <= now) {
        s.deletePending.run(id.org, id.userId);
        audit(now, 'link_cancelled', 'code_expired', slackUserOf(row), row.internal_user, by);
        return { outcome: 'expired' };
      }
      const who = slackUserOf(row);
      if (!matches(row.code_mac)) {
        const { failed_attempts } = s.failPending.get(id.org, id.userId)!;
        if (failed_attempts < maxFailures) {
          audit(now, 'verification_failed', 'wrong_code', who, row.internal_user, by);
          return { outcome: 'wrong', attemptsLeft: maxFailures - failed_attempts };
        }
        s.deletePending.run(id.org, id.userId);
        audit(now, 'verification_failed', 'attempts_exhausted', who, row.internal_user, by);
        return { outcome: 'void' };
      }
      s.deletePending.run(id.org, id.userId);
      return bindOnce(row, row.internal_user, 'code', now, by);
    },
  );

  const unlink = db.transaction((id: SlackIdentity, by: Actor, boundTo: string | undefined): Binding | undefined => {
    const row = s.getBinding.get(id.org, id.userId);
    if (!row || (boundTo !== undefined && row.internal_user !== boundTo)) return undefined;
    s.deleteBinding.run(id.org, id.userId);
    const binding = bindingOf(row);
    audit(Date.now(), 'unlinked', null, binding, binding.internalUser, by);
    return binding;
  });

  /** Everything in a scope, removed, each removal with its audit row. */
  const revoke = db.transaction((scope: RevokeScope, reason: RevokeReason, by: Actor): Revoked => {
    const now = Date.now();
    let bindings: BindingRow[];
    let links: LinkRow[];
    let pending: PendingRow[];
    if ('identity' in scope) {
      const { org, userId } = scope.identity;
      bindings = [s.getBinding.get(org, userId)].filter((r) => r !== undefined);
      links = [s.linkOfUser.get(org, userId)].filter((r) => r !== undefined);
      pending = [s.getPending.get(org, userId)].filter((r) => r !== undefined);
    } else if ('teamId' in scope) {
      bindings = s.bindingsOfTeam.all(scope.teamId);
      links = s.linksOfTeam.all(scope.teamId);
      pending = s.pendingOfTeam.all(scope.teamId);
    } else if ('enterpriseId' in scope) {
      bindings = s.bindingsOfOrg.all(scope.enterpriseId);
      links = s.linksOfOrg.all(scope.enterpriseId);
      pending = s.pendingOfOrg.all(scope.enterpriseId);
    } else {
      bindings = s.bindingsOfInternalUser.all(scope.internalUser);
      links = [];
      pending = s.pendingOfInternalUser.all(scope.internalUser);
    }
    for (const row of bindings) {
      s.deleteBinding.run(row.slack_org, row.slack_user_id);
      audit(now, 'revoked', reason, slackUserOf(row), row.internal_user, by);
    }
    for (const row of links) {
      s.deleteLinkOfUser.run(row.slack_org, row.slack_user_id);
      audit(now, 'link_cancelled', reason, slackUserOf(row), null, by);
    }
    for (const row of pending) {
      s.deletePending.run(row.slack_org, row.slack_user_id);
      audit(now, 'link_cancelled', reason, slackUserOf(row), row.internal_user, by);
    }
    return { bindings: bindings.map(bindingOf), links: links.length + pending.length };
  });

  /** What rekeyOne does in each table: read a row, delete it, move it; how its end is audited. */
  type Rekeyable = Row & { created_at: number; internal_user?: string };
  const REKEY_TABLES = [
    { get: s.getBinding, remove: s.deleteBinding, move: s.moveBinding, ended: 'revoked' },
    { get: s.linkOfUser, remove: s.deleteLinkOfUser, move: s.moveLink, ended: 'link_cancelled' },
    { get: s.getPending, remove: s.deletePending, move: s.movePending, ended: 'link_cancelled' },
  ] as const;
  /**
   * One Slack identity moved from the workspace's key to the enterprise's: its binding, open link
   * and pending confirmation, each with its audit row. Where the enterprise key holds one already,
   * the newer stays (a tie: the enterprise's) and the other ends.
   */
  const rekeyOne = db.transaction((teamId: string, enterpriseId: string, userId: string, by: Actor): Rekeyed => {
    const now = Date.now();
    const out: Rekeyed = { bindings: [], revoked: [], links: 0 };
    for (const table of REKEY_TABLES) {
      const old: Rekeyable | undefined = table.get.get(teamId, userId);
      if (!old) continue;
      const there: Rekeyable | undefined = table.get.get(enterpriseId, userId);
      const loser = !there || old.created_at > there.created_at ? there : old;
      if (loser) {
        table.remove.run(loser.slack_org, userId);
        audit(now, table.ended, 'grid_migration', slackUserOf(loser), loser.internal_user ?? null, by);
        if (table.ended === 'revoked') out.revoked.push(bindingOf(loser as BindingRow));
      }
      if (loser !== old) {
        table.move.run({ to: enterpriseId, from: teamId, user: userId });
        const moved = { ...old, slack_org: enterpriseId, slack_enterprise_id: enterpriseId };
        audit(now, 'rekeyed', 'grid_migration', slackUserOf(moved), old.internal_user ?? null, by);
        if (table.ended === 'revoked') out.bindings.push(bindingOf(moved as BindingRow));
      }
      if (table.ended !== 'revoked') out.links++;
    }
    return out;
  });

  const purgeExpired = db.transaction((now: number, limits: PurgeLimits): Purged => {
    const links = s.purgeExpiredLinks.run(now).changes + s.purgeExpiredPending.run(now).changes;
    if (limits.auditBefore !== undefined) s.purgeAudit.run(limits.auditBefore);
    if (limits.eventsBefore !== undefined) s.purgeEvents.run(limits.eventsBefore);
    const idle = limits.idleBefore === undefined ? [] : s.idleBindings.all(limits.idleBefore).map(bindingOf);
    for (const b of idle) {
      s.deleteBinding.run(b.org, b.userId);
      audit(now, 'revoked', 'idle', b, b.internalUser, { actor: 'system', requestId: null, clientAddress: null });
    }
    return { links, idle };
  });

  const ping = db.transaction(() => s.ping.get() !== undefined);
  const seenRequests = createSeenSet();

  return {
    db,
    // The write lock is taken (and released at once, writing nothing): a service that can read but
    // not create links is not healthy.
    ping: async () => ping.immediate(),
    getBinding: async (id) => {
      const row = s.getBinding.get(id.org, id.userId);
      return row && bindingOf(row);
    },
    getLiveLink: async (nonceHash, now) => {
      const row = s.getLiveLink.get(nonceHash, now);
      return row && linkOf(row);
    },
    createLink: (link, by) => createLink({ link, by }),
    endLink: async (nonceHash, now, ending, by) => endLink.immediate(nonceHash, now, ending, by),
    refuseLink: async (nonceHash, now, reason, internalUser, by) => refuseLink.immediate(nonceHash, now, reason, internalUser, by),
    completeLink: (nonceHash, internalUser, verification, now, by) => completeLink({ nonceHash, internalUser, verification, now, by }),
    deferLink: async (nonceHash, internalUser, codeMacFor, now, ttlMs, keep, by) => deferLink.immediate(nonceHash, internalUser, codeMacFor, now, ttlMs, keep, by),
    confirmCode: async (id, matches, now, maxFailures, by) => confirmCode.immediate(id, matches, now, maxFailures, by),
    unlink: async (id, by, boundTo) => unlink.immediate(id, by, boundTo),
    revoke: async (scope, reason, by) => revoke.immediate(scope, reason, by),
    rekeyToEnterprise: async (teamId, enterpriseId, by, userId) => {
      const out: Rekeyed = { bindings: [], revoked: [], links: 0 };
      if (teamId === enterpriseId) return out;
      for (const user of userId ? [userId] : s.teamKeyedUsers.all(teamId, teamId, teamId)) {
        const one = rekeyOne.immediate(teamId, enterpriseId, user, by);
        out.bindings.push(...one.bindings);
        out.revoked.push(...one.revoked);
        out.links += one.links;
      }
      return out;
    },
    holdsAnything: async (id) => s.holdsAnything.get({ org: id.org, user: id.userId }) === 1,
    purgeExpired: async (now, limits = {}) => purgeExpired.immediate(now, limits),
    // Not one transaction: the claim is in memory, the read is one statement, the touch re-checks
    // its own condition, and a new link joins createLink's group commit (one fsync for all the
    // links of an event-loop turn). A read transaction that then writes could also fail at once
    // (SQLITE_BUSY_SNAPSHOT) when another process wrote in between.
    startCommand: async ({ user, now, claim, link, by }) => {
      if (claim && !seenRequests.claim(claim.key, claim.expiresAt, now)) return { outcome: 'replayed' };
      const row = s.getBinding.get(user.org, user.userId);
      if (row) {
        const touchBefore = now - LAST_USED_RESOLUTION_MS;
        if (row.last_used_at === null || row.last_used_at < touchBefore) s.touchBinding.run(now, user.org, user.userId, touchBefore);
        return { outcome: 'bound', binding: bindingOf(row) };
      }
      if (!link) return { outcome: 'unbound' };
      const created = await createLink({ link: { ...link(), user, now }, by });
      return { outcome: created.outcome === 'created' ? 'link_created' : 'link_rate_limited' };
    },
    touchBinding: async (id, now) => {
      s.touchBinding.run(now, id.org, id.userId, now - LAST_USED_RESOLUTION_MS);
    },
    firstDelivery: async (eventId, now) => s.insertEvent.run(eventId, now).changes === 1,
    forgetDelivery: async (eventId) => {
      s.forgetEvent.run(eventId);
    },
    listBindings: async (filter = {}) => s.listBindings.all({ workspace: null, slackUser: null, internalUser: null, ...filter }).map(bindingOf),
    statsByWorkspace: async (now) => s.countsByWorkspace.all({ now }),
    listAudit: async (filter = {}) => s.listAudit.all({ since: null, internalUser: null, slackUser: null, ...filter }).map(auditOf),
    claimRequest: async (key, expiresAt, now) => seenRequests.claim(key, expiresAt, now),
    claimsRememberedSince: Date.now(),
    get claimsForgottenEarly() {
      return seenRequests.forgottenEarly;
    },
    connectionErrors: 0,
    exportAudit: async () => s.exportAudit.all().map((r) => Object.assign(auditOf(r), { id: r.id })),
    backup: async (file) => {
      // Created owner-only before SQLite writes a byte into it, like the database itself.
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
      await db.backup(file);
    },
    close: async () => {
      // Fold the WAL back into the main file so that a copy of the .db alone is complete.
      db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

/**
 * Group commit: the calls made in one event-loop turn run, in order, in one IMMEDIATE
 * transaction. With synchronous=FULL every commit is an fsync; one fsync for many links or
 * confirmations is what keeps the write paths fast. Each caller's promise settles with its own
 * result once the transaction has committed; if it fails, it fails for all of them and none of it
 * is written.
 */
function groupCommit<A, R>(db: Database.Database, step: (arg: A) => R): (arg: A) => Promise<R> {
  const transaction = db.transaction((args: A[]) => args.map(step));
  let queue: Array<{ arg: A; resolve: (r: R) => void; reject: (err: unknown) => void }> = [];
  const flush = () => {
    const batch = queue;
    queue = [];
    let results: R[];
    try {
      results = transaction.immediate(batch.map((b) => b.arg));
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    for (const [i, b] of batch.entries()) b.resolve(results[i]!);
  };
  return (arg) =>
    new Promise((resolve, reject) => {
      if (!queue.length) setImmediate(flush);
      queue.push({ arg, resolve, reject });
    });
}

function migrate(db: Database.Database, path: string, version: number): void {
  if (version > SCHEMA_VERSION) {
    throw new Error(`${path} has schema version ${version}, newer than this program's ${SCHEMA_VERSION}; run a newer release`);
  }
  db.transaction(() => {
    // A new file (version 0) gets the schema directly; older files first take each step up.
    if (version > 0) for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] ?? '');
    db.exec(SCHEMA_SQL);
  }).immediate();
}
