// SQLite: the one file that holds bindings and open links. Statements are prepared once; every
// multi-step change runs in one transaction so a crash never leaves half of it behind.
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';

/** The schema version schema.sql describes; see MIGRATIONS for older files. */
export const SCHEMA_VERSION = 1;

/**
 * SQL that brings a file from version N to N+1, for the steps schema.sql's idempotent CREATEs
 * cannot take (ALTER TABLE …). Empty until the first release that changes an existing table.
 */
const MIGRATIONS: Record<number, string> = {};

const SCHEMA_SQL = readFileSync(new URL('../schema.sql', import.meta.url), 'utf8');

export interface SlackIdentity {
  /** enterprise_id on Enterprise Grid, else team_id. */
  org: string;
  userId: string;
}

export interface SlackUser extends SlackIdentity {
  teamId: string;
  enterpriseId: string | null;
  userName: string;
  teamDomain: string;
}

export interface Binding extends SlackUser {
  internalUser: string;
  createdAt: number;
}

/** What the slash command that made a link said, kept to finish the user's work once linked. */
export interface LinkRequest {
  command: string;
  pendingText: string | null;
  channelId: string | null;
  responseUrl: string | null;
}

export interface Link extends SlackUser, LinkRequest {
  createdAt: number;
  expiresAt: number;
}

export type CompleteResult =
  | { outcome: 'bound'; binding: Binding; link: Link }
  | { outcome: 'gone' }
  | { outcome: 'already-bound'; binding: Binding };

export interface BindingFilter {
  /** A team id, or an enterprise id on Enterprise Grid. */
  workspace: string | null;
  slackUser: string | null;
  internalUser: string | null;
}

export interface WorkspaceStats {
  workspace: string;
  bindings: number;
  open_links: number;
  pending: number;
}

export type DeferResult = { outcome: 'pending'; link: Link } | { outcome: 'gone' } | { outcome: 'already-bound'; binding: Binding };

export type CodeResult =
  | Exclude<CompleteResult, { outcome: 'gone' }>
  | { outcome: 'none' }
  | { outcome: 'expired' }
  | { outcome: 'wrong'; attemptsLeft: number }
  | { outcome: 'void' };

interface Row {
  slack_org: string;
  slack_user_id: string;
  slack_team_id: string;
  slack_enterprise_id: string | null;
  slack_user_name: string;
  slack_team_domain: string;
}
type BindingRow = Row & { internal_user: string; created_at: number };
type PendingRow = LinkRow & { internal_user: string; code_mac: Buffer; failed_attempts: number };
type LinkRow = Row & {
  command: string;
  pending_text: string | null;
  channel_id: string | null;
  response_url: string | null;
  created_at: number;
  expires_at: number;
};

const slackUserOf = (r: Row): SlackUser => ({
  org: r.slack_org,
  userId: r.slack_user_id,
  teamId: r.slack_team_id,
  enterpriseId: r.slack_enterprise_id,
  userName: r.slack_user_name,
  teamDomain: r.slack_team_domain,
});
// Object.assign, not a spread: on Node 20 this spread took 1 µs, a third of the whole lookup, and
// this runs for every slash command of a bound user.
const bindingOf = (r: BindingRow): Binding => Object.assign(slackUserOf(r), { internalUser: r.internal_user, createdAt: r.created_at });
const linkOf = (r: LinkRow): Link => ({
  ...slackUserOf(r),
  command: r.command,
  pendingText: r.pending_text,
  channelId: r.channel_id,
  responseUrl: r.response_url,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

export type Store = ReturnType<typeof openStore>;

export function openStore(path: string, { mustExist = false } = {}) {
  if (path !== ':memory:' && !mustExist) mkdirSync(dirname(path), { recursive: true });
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
      (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain, internal_user, created_at)
      VALUES (@org, @userId, @teamId, @enterpriseId, @userName, @teamDomain, @internalUser, @createdAt)`),
    deleteBinding: db.prepare('DELETE FROM bindings WHERE slack_org = ? AND slack_user_id = ?'),
    deleteLinkOfUser: db.prepare('DELETE FROM link_nonces WHERE slack_org = ? AND slack_user_id = ?'),
    insertLink: db.prepare(`INSERT INTO link_nonces
      (nonce_hash, slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain,
       command, pending_text, channel_id, response_url, created_at, expires_at)
      VALUES (@nonceHash, @org, @userId, @teamId, @enterpriseId, @userName, @teamDomain,
       @command, @pendingText, @channelId, @responseUrl, @createdAt, @expiresAt)`),
    getLiveLink: db.prepare<[Buffer, number], LinkRow>('SELECT * FROM link_nonces WHERE nonce_hash = ? AND expires_at > ?'),
    deleteLink: db.prepare<[Buffer]>('DELETE FROM link_nonces WHERE nonce_hash = ?'),
    purgeExpiredLinks: db.prepare<[number]>('DELETE FROM link_nonces WHERE expires_at <= ?'),
    purgeExpiredPending: db.prepare<[number]>('DELETE FROM pending_confirmations WHERE expires_at <= ?'),
    upsertPending: db.prepare(`INSERT OR REPLACE INTO pending_confirmations
      (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain,
       command, pending_text, channel_id, response_url, internal_user, code_mac, failed_attempts, created_at, expires_at)
      VALUES (@org, @userId, @teamId, @enterpriseId, @userName, @teamDomain,
       @command, @pendingText, @channelId, @responseUrl, @internalUser, @codeMac, 0, @createdAt, @expiresAt)`),
    getPending: db.prepare<[string, string], PendingRow>('SELECT * FROM pending_confirmations WHERE slack_org = ? AND slack_user_id = ?'),
    deletePending: db.prepare<[string, string]>('DELETE FROM pending_confirmations WHERE slack_org = ? AND slack_user_id = ?'),
    failPending: db.prepare<[string, string]>(
      'UPDATE pending_confirmations SET failed_attempts = failed_attempts + 1 WHERE slack_org = ? AND slack_user_id = ? RETURNING failed_attempts',
    ),
    listBindings: db.prepare<[BindingFilter], BindingRow>(`SELECT * FROM bindings
      WHERE (@workspace IS NULL OR slack_team_id = @workspace OR slack_org = @workspace)
        AND (@slackUser IS NULL OR slack_user_id = @slackUser)
        AND (@internalUser IS NULL OR internal_user = @internalUser)
      ORDER BY internal_user, slack_org, slack_user_id`),
    deleteBindingsOfInternalUser: db.prepare<[string]>('DELETE FROM bindings WHERE internal_user = ?'),
    deletePendingOfInternalUser: db.prepare<[string]>('DELETE FROM pending_confirmations WHERE internal_user = ?'),
    countsByWorkspace: db.prepare<[{ now: number }], WorkspaceStats>(`
      SELECT workspace, sum(b) AS bindings, sum(l) AS open_links, sum(p) AS pending FROM (
        SELECT slack_org AS workspace, 1 AS b, 0 AS l, 0 AS p FROM bindings
        UNION ALL SELECT slack_org, 0, 1, 0 FROM link_nonces WHERE expires_at > @now
        UNION ALL SELECT slack_org, 0, 0, 1 FROM pending_confirmations WHERE expires_at > @now
      ) GROUP BY workspace ORDER BY workspace`),
    getKey: db.prepare<[string], { value: Buffer }>('SELECT value FROM server_keys WHERE name = ?'),
    insertKey: db.prepare('INSERT OR IGNORE INTO server_keys (name, value) VALUES (?, ?)'),
  };

  const getBinding = (id: SlackIdentity): Binding | undefined => {
    const row = s.getBinding.get(id.org, id.userId);
    return row && bindingOf(row);
  };

  /** A new link replaces any open link of the same Slack user: one live link per user. */
  const createLink = groupCommit(db, ({ user, request, nonceHash, now, ttlMs }: NewLink): void => {
    s.deleteLinkOfUser.run(user.org, user.userId);
    s.insertLink.run({ ...user, ...request, nonceHash, createdAt: now, expiresAt: now + ttlMs });
  });

  /**
   * Consumes the nonce and writes the binding together. IMMEDIATE takes the write lock before
   * reading, so two processes on one file cannot both see the nonce as live.
   */
  const completeLink = groupCommit(db, ({ nonceHash, internalUser, now }: { nonceHash: Buffer; internalUser: string; now: number }): CompleteResult => {
    const row = consumeLink(nonceHash, now);
    return row ? bindOnce(row, internalUser, now) : { outcome: 'gone' };
  });

  /** The live link with this nonce, deleted: a link is spent by whatever is done with it. */
  const consumeLink = (nonceHash: Buffer, now: number): LinkRow | undefined => {
    const row = s.getLiveLink.get(nonceHash, now);
    if (row) s.deleteLink.run(nonceHash);
    return row;
  };

  /** Binds the Slack user a link (or pending confirmation) was made for, unless already bound. */
  const bindOnce = (row: LinkRow, internalUser: string, now: number): Exclude<CompleteResult, { outcome: 'gone' }> => {
    const existing = s.getBinding.get(row.slack_org, row.slack_user_id);
    if (existing) return { outcome: 'already-bound', binding: bindingOf(existing) };
    const binding: Binding = { ...slackUserOf(row), internalUser, createdAt: now };
    s.insertBinding.run(binding);
    return { outcome: 'bound', binding, link: linkOf(row) };
  };

  /**
   * LINK_VERIFICATION=code: the browser confirmed; the binding now waits for the code in Slack.
   * `codeMacFor` turns the link's Slack identity into the stored form of the code.
   */
  const deferLink = db.transaction(
    (nonceHash: Buffer, internalUser: string, codeMacFor: (id: SlackIdentity) => Buffer, now: number, ttlMs: number): DeferResult => {
      const row = consumeLink(nonceHash, now);
      if (!row) return { outcome: 'gone' };
      const existing = s.getBinding.get(row.slack_org, row.slack_user_id);
      if (existing) return { outcome: 'already-bound', binding: bindingOf(existing) };
      const link = linkOf(row);
      // created_at stays the time of the slash command: its response_url lives 30 minutes from then.
      s.upsertPending.run({ ...link, internalUser, codeMac: codeMacFor(link), createdAt: link.createdAt, expiresAt: now + ttlMs });
      return { outcome: 'pending', link };
    },
  );

  /** The Slack user typed a code: bind on a match, count a miss, void after `maxFailures`. */
  const confirmCode = db.transaction(
    (id: SlackIdentity, matches: (codeMac: Buffer) => boolean, now: number, maxFailures: number): CodeResult => {
      const row = s.getPending.get(id.org, id.userId);
      if (!row) return { outcome: 'none' };
      if (row.expires_at <= now) {
        s.deletePending.run(id.org, id.userId);
        return { outcome: 'expired' };
      }
      if (!matches(row.code_mac)) {
        const { failed_attempts } = s.failPending.get(id.org, id.userId) as { failed_attempts: number };
        if (failed_attempts < maxFailures) return { outcome: 'wrong', attemptsLeft: maxFailures - failed_attempts };
        s.deletePending.run(id.org, id.userId);
        return { outcome: 'void' };
      }
      s.deletePending.run(id.org, id.userId);
      return bindOnce(row, row.internal_user, now);
    },
  );

  return {
    db,
    /**
     * True when the database can be read and written: the write lock is taken (and released at
     * once, writing nothing), because a service that can read but not create links is not healthy.
     */
    ping: db.transaction(() => s.ping.get() !== undefined).immediate,
    getBinding,
    /** Resolves once the link is durable. */
    createLink: (user: SlackUser, request: LinkRequest, nonceHash: Buffer, now: number, ttlMs: number): Promise<void> =>
      createLink({ user, request, nonceHash, now, ttlMs }),
    getLiveLink: (nonceHash: Buffer, now: number): Link | undefined => {
      const row = s.getLiveLink.get(nonceHash, now);
      return row && linkOf(row);
    },
    /** Resolves once the outcome is durable. */
    completeLink: (nonceHash: Buffer, internalUser: string, now: number): Promise<CompleteResult> => completeLink({ nonceHash, internalUser, now }),
    /** True when a live link was cancelled. */
    cancelLink: (nonceHash: Buffer): boolean => s.deleteLink.run(nonceHash).changes > 0,
    /** The binding that was removed, if there was one. */
    removeBinding: db.transaction((id: SlackIdentity): Binding | undefined => {
      const row = s.getBinding.get(id.org, id.userId);
      if (row) s.deleteBinding.run(id.org, id.userId);
      return row && bindingOf(row);
    }),
    deferLink: (nonceHash: Buffer, internalUser: string, codeMacFor: (id: SlackIdentity) => Buffer, now: number, ttlMs: number) =>
      deferLink.immediate(nonceHash, internalUser, codeMacFor, now, ttlMs),
    confirmCode: (id: SlackIdentity, matches: (codeMac: Buffer) => boolean, now: number, maxFailures: number) =>
      confirmCode.immediate(id, matches, now, maxFailures),
    /** Removes expired links and expired pending confirmations; returns how many. */
    purgeExpired: db.transaction((now: number): number => s.purgeExpiredLinks.run(now).changes + s.purgeExpiredPending.run(now).changes),
    listBindings: (filter: Partial<BindingFilter> = {}): Binding[] =>
      s.listBindings.all({ workspace: null, slackUser: null, internalUser: null, ...filter }).map(bindingOf),
    /** Offboarding: every binding (and pending confirmation) of a person; returns what was removed. */
    removeBindingsOfInternalUser: db.transaction((internalUser: string): Binding[] => {
      const removed = s.listBindings.all({ workspace: null, slackUser: null, internalUser }).map(bindingOf);
      s.deleteBindingsOfInternalUser.run(internalUser);
      s.deletePendingOfInternalUser.run(internalUser);
      return removed;
    }),
    statsByWorkspace: (now: number): WorkspaceStats[] => s.countsByWorkspace.all({ now }),
    /** An online, consistent copy (SQLite's backup API): safe while the server writes. */
    backup: (file: string) => db.backup(file),
    /** A random key generated on first use and kept in the file, so it survives restarts. */
    serverKey: (name: string): Buffer => {
      s.insertKey.run(name, randomBytes(32));
      return s.getKey.get(name)!.value;
    },
    close: () => {
      // Fold the WAL back into the main file so that a copy of the .db alone is complete.
      db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

interface NewLink {
  user: SlackUser;
  request: LinkRequest;
  nonceHash: Buffer;
  now: number;
  ttlMs: number;
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
    batch.forEach((b, i) => b.resolve(results[i]!));
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
    // A new file (version 0) gets schema.sql directly; older files first take each step up.
    for (let v = Math.max(version, 1); v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] ?? '');
    db.exec(SCHEMA_SQL);
  }).immediate();
}
