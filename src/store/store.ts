// The Store contract: everything this service keeps, behind one interface with two
// implementations (SQLite, embedded; PostgreSQL, for several replicas). Every method that touches
// the database returns a Promise, so that a network database implements the same interface. The
// things it keeps (bindings, links, audit events…) are the vocabulary of src/model.ts; this file
// is the interface and its arguments only.
//
// Guarantees every implementation gives, checked by one contract suite (test/store.contract.test.ts):
// - a nonce is consumed atomically: of many concurrent completions of one link, one binds;
// - one live link per Slack identity: a new link replaces the old one;
// - a binding is written once: never replaced, only removed (unlink, revoke) and made anew;
// - every change to a binding or link is one transaction with its audit row: if the audit row
//   cannot be written, the change is not made either;
// - link rate limits are counted in the database (from the audit trail), so that they hold
//   across every process that shares it.
import type { Actor, AuditEvent, Binding, Link, LinkRequest, LinkVerification, RevokeReason, RevokeScope, SlackIdentity, SlackUser } from '../model.ts';

export interface NewLink {
  user: SlackUser;
  request: LinkRequest;
  nonceHash: Buffer;
  now: number;
  ttlMs: number;
  /** Links one Slack identity may create per minute; 0: no limit. */
  perMinute: number;
  /**
   * Linking started on the web ("My Slack links") by this signed-in internal user, after Sign in
   * with Slack named the Slack user: audited as link_created with reason `web`. Absent: a slash command.
   */
  startedOnWebBy?: string;
}

export type CreateLinkResult = { outcome: 'created' } | { outcome: 'rate_limited' };

/** A signed Slack request's replay claim: its key (the signature), remembered until `expiresAt` (ms). */
export interface RequestClaim {
  key: string;
  expiresAt: number;
}

export interface CommandStart {
  user: SlackUser;
  now: number;
  /** The request's replay claim; null when the transport has none (Socket Mode: the socket is authenticated, envelopes are not signed). */
  claim: RequestClaim | null;
  /**
   * The link to create if the user turns out not to be bound; null when the command needs none
   * (help, confirm). Called only when it is needed, or when the store must send it ahead (PostgreSQL).
   */
  link: (() => Omit<NewLink, 'user' | 'now'>) | null;
  by: Actor;
}

export type CommandStarted =
  | { outcome: 'replayed' }
  | { outcome: 'bound'; binding: Binding }
  | { outcome: 'unbound' }
  | { outcome: 'link_created' }
  | { outcome: 'link_rate_limited' };

export type BindResult = { outcome: 'bound'; binding: Binding; link: Link } | { outcome: 'already_bound'; binding: Binding };
export type CompleteResult = BindResult | { outcome: 'gone' };
export type DeferResult = { outcome: 'pending'; link: Link } | { outcome: 'gone' } | { outcome: 'already_bound'; binding: Binding };
export type CodeResult =
  | BindResult
  | { outcome: 'none' }
  | { outcome: 'expired' }
  | { outcome: 'wrong'; attemptsLeft: number }
  | { outcome: 'void' };

/** How a link ended without a binding. */
export type LinkEnding = { action: 'link_cancelled'; reason: string | null } | { action: 'verification_failed'; reason: string };

export interface Revoked {
  bindings: Binding[];
  /** Open links and pending code confirmations removed with them. */
  links: number;
}

/** What a workspace's move into a Grid organisation did (rekeyToEnterprise). */
export interface Rekeyed {
  /** Bindings now keyed by the enterprise (as they are now). */
  bindings: Binding[];
  /** Bindings that ended because the same person was bound under both keys: the older of the two. */
  revoked: Binding[];
  /** Open links and pending confirmations moved (or, when the enterprise had a newer one, ended). */
  links: number;
}

export interface BindingFilter {
  /** A team id, or an enterprise id on Enterprise Grid. */
  workspace: string | null;
  slackUser: string | null;
  internalUser: string | null;
}

export interface AuditFilter {
  since: number | null;
  internalUser: string | null;
  slackUser: string | null;
}

export interface PurgeLimits {
  /**
   * Audit rows older than this are deleted (AUDIT_RETENTION_DAYS), except the `linked` row that
   * explains a binding that still exists (the identity's latest), whatever its age.
   */
  auditBefore?: number;
  /** Bindings unused since before this are revoked with reason `idle` (BINDING_MAX_IDLE_DAYS). */
  idleBefore?: number;
  /** Event ids seen before this are forgotten. */
  eventsBefore?: number;
}

export interface Purged {
  /** Expired links and pending confirmations. */
  links: number;
  /** Bindings revoked for being idle. */
  idle: Binding[];
}

export interface WorkspaceStats {
  workspace: string;
  bindings: number;
  open_links: number;
  pending: number;
}

export interface Store {
  /** True when the database can be read and written (a service that cannot write is not healthy). */
  ping(): Promise<boolean>;
  getBinding(id: SlackIdentity): Promise<Binding | undefined>;
  getLiveLink(nonceHash: Buffer, now: number): Promise<Link | undefined>;
  /** A new link replaces any open link of the same Slack identity. Resolves once it is durable. */
  createLink(link: NewLink, by: Actor): Promise<CreateLinkResult>;
  /** Ends a live link without a binding (cancelled, or failed verification); the link, if it was live. */
  endLink(nonceHash: Buffer, now: number, ending: LinkEnding, by: Actor): Promise<Link | undefined>;
  /**
   * A verification of a live link failed but the link stays usable by its owner (Sign in with Slack
   * as someone else): only the audit row `verification_failed` with `reason`, naming who tried.
   * The link, if it was live.
   */
  refuseLink(nonceHash: Buffer, now: number, reason: string, internalUser: string, by: Actor): Promise<Link | undefined>;
  /**
   * Consumes the link and binds its Slack identity to `internalUser`, unless it is bound already.
   * A binding voids the identity's other open links and pending confirmations.
   */
  completeLink(nonceHash: Buffer, internalUser: string, verification: LinkVerification, now: number, by: Actor): Promise<CompleteResult>;
  /**
   * LINK_VERIFICATION=code: the browser confirmed; the link becomes a pending confirmation that
   * waits for the code. `codeMacFor` turns the link's identity into the stored form of the code;
   * without `keepPendingCommand` the command typed before linking is dropped.
   */
  deferLink(
    nonceHash: Buffer,
    internalUser: string,
    codeMacFor: (id: SlackIdentity) => Buffer,
    now: number,
    ttlMs: number,
    keepPendingCommand: boolean,
    by: Actor,
  ): Promise<DeferResult>;
  /** The Slack user typed a code: bind on a match, count a miss, void after `maxFailures`. */
  confirmCode(id: SlackIdentity, matches: (codeMac: Buffer) => boolean, now: number, maxFailures: number, by: Actor): Promise<CodeResult>;
  /**
   * The user's own unlink: the binding that was removed, if there was one. With `boundTo`, only a
   * binding to that internal user is removed (the web page's unlink: whoever signed in may remove
   * their own bindings, never one that changed hands since the page read it).
   */
  unlink(id: SlackIdentity, by: Actor, boundTo?: string): Promise<Binding | undefined>;
  /** Someone left: every binding, open link and pending confirmation in `scope`, removed. */
  revoke(scope: RevokeScope, reason: RevokeReason, by: Actor): Promise<Revoked>;
  /**
   * A workspace joined a Grid organisation: what is keyed by `teamId` (bindings, open links, pending
   * confirmations; only `userId`'s when given) moves to the key `enterpriseId`, one transaction per
   * Slack identity with its audit rows (`rekeyed`, reason `grid_migration`). Never bound twice: when
   * the enterprise key holds a binding (or link, or pending confirmation) of the same user already,
   * the newer of the two stays and the other ends (`revoked` / `link_cancelled`, `grid_migration`).
   */
  rekeyToEnterprise(teamId: string, enterpriseId: string, by: Actor, userId?: string): Promise<Rekeyed>;
  /**
   * Whether anything rekeyToEnterprise would move is kept under this identity's key: a binding, a
   * link or a pending confirmation (expired or not). One read, so that a Grid user's first payload
   * can tell whether their workspace's key holds something of theirs before moving it.
   */
  holdsAnything(id: SlackIdentity): Promise<boolean>;
  /** Removes expired links and pending confirmations, and what `limits` says is too old. */
  purgeExpired(now: number, limits?: PurgeLimits): Promise<Purged>;
  /**
   * What a slash command needs from the store, in one call (on PostgreSQL one round trip): the
   * replay claim; then the user's binding, as read, its last use recorded unless it was less than an
   * hour ago; or, for a user who is not bound, the link `link` describes (as createLink makes it).
   * A replayed claim does nothing else. Any failure rejects (PostgreSQL then keeps nothing of the
   * call; SQLite keeps its claim, made in memory first).
   */
  startCommand(start: CommandStart): Promise<CommandStarted>;
  /** Records that a binding was used, unless that was recorded less than an hour ago. */
  touchBinding(id: SlackIdentity, now: number): Promise<void>;
  /** Events API: true the first time an event_id is seen, false for a retry or a duplicate. */
  firstDelivery(eventId: string, now: number): Promise<boolean>;
  /** Events API: the work of a delivery failed; forget it so that Slack's retry does the work. */
  forgetDelivery(eventId: string): Promise<void>;
  listBindings(filter?: Partial<BindingFilter>): Promise<Binding[]>;
  statsByWorkspace(now: number): Promise<WorkspaceStats[]>;
  listAudit(filter?: Partial<AuditFilter>): Promise<AuditEvent[]>;
  /**
   * Replay protection: true the first time `key` (a Slack request's signature) is claimed before
   * `expiresAt`, false for a repeat. SQLite keeps claims in the memory of its one serving process
   * (bounded: src/store/seen-in-memory.ts; expiries rounded up to the whole second, as Slack's
   * timestamps are); a store shared by replicas keeps them in the database.
   */
  claimRequest(key: string, expiresAt: number, now: number): Promise<boolean>;
  /**
   * Claims made before this time (ms) are not remembered: SQLite's live in this process's memory,
   * so it is when the store was opened; PostgreSQL's are in the database (0).
   */
  readonly claimsRememberedSince: number;
  /** SQLite: claims dropped while still within their window (src/store/seen-in-memory.ts); PostgreSQL: 0. */
  readonly claimsForgottenEarly: number;
  /** PostgreSQL: pooled connections that failed and were replaced; SQLite: 0. */
  readonly connectionErrors: number;
  close(): Promise<void>;
}
