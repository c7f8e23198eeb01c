// The vocabulary: who is who (a Slack identity, the internal user the SSO proxy names), what binds
// them (a binding, made through a link), who changed what (an actor, an audit event) and why a
// binding ended. Every layer speaks it; it depends on nothing.

export type LinkVerification = 'email' | 'code' | 'confirm' | 'slack';
export const LINK_VERIFICATIONS: readonly LinkVerification[] = ['email', 'code', 'confirm', 'slack'];

export interface SlackIdentity {
  /** enterprise_id on Enterprise Grid (user ids are org-wide there), else team_id. */
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
  /** How the binding was verified; null for bindings made before this was recorded. */
  verifiedBy: LinkVerification | null;
  /** The last command run as this binding (written at most once an hour), or null. */
  lastUsedAt: number | null;
}

/** last_used_at is written at most this often per binding, so that commands stay read-only. */
export const LAST_USED_RESOLUTION_MS = 60 * 60_000;

/**
 * The workspace this app serves: the bot token's, as auth.test names it at the startup self-check.
 * On an org-wide Enterprise Grid install, `enterpriseId` is the organisation every workspace of it shares.
 */
export interface SlackWorkspace {
  teamId: string;
  enterpriseId: string | null;
  /** What people call it: the workspace's slack.com subdomain (acme.slack.com → acme). */
  domain: string;
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

/** Who made a change, for the audit trail: never a secret, a nonce or a code. */
export interface Actor {
  /** e.g. "slack:U123", "internal:alice", "admin_cli", "admin_api", "slack_event", "system". */
  actor: string;
  requestId: string | null;
  /** The browser's address, for changes made in a browser. */
  clientAddress: string | null;
}

/**
 * code_issued: LINK_VERIFICATION=code, the link was confirmed in the browser by internal_user and
 * now waits for the code in Slack. link_cancelled's reason says why a link ended unused (null: its
 * user cancelled; already_bound, code_expired, or a revocation's reason). rekeyed: a binding, link
 * or pending confirmation moved from its workspace's key to its enterprise's (reason
 * grid_migration: the workspace joined an Enterprise Grid organisation).
 */
export const AUDIT_ACTIONS = ['link_created', 'link_cancelled', 'verification_failed', 'code_issued', 'linked', 'unlinked', 'revoked', 'rekeyed'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Why a binding was revoked: each is a trigger README's "When someone leaves" describes. */
export type RevokeReason =
  | 'slack_user_deactivated'
  | 'app_uninstalled'
  | 'tokens_revoked'
  | 'team_access_revoked'
  | 'internal_user_inactive'
  | 'admin_api'
  | 'admin_cli'
  | 'idle'
  /** A workspace joined a Grid organisation where the same person was bound already: the older binding ends. */
  | 'grid_migration';

export interface AuditEvent {
  time: number;
  action: AuditAction;
  reason: string | null;
  org: string | null;
  teamId: string | null;
  slackUser: string | null;
  internalUser: string | null;
  actor: string;
  requestId: string | null;
  clientAddress: string | null;
}

/** What a revocation covers: one Slack identity, a workspace (team or enterprise), or a person. */
export type RevokeScope =
  | { identity: SlackIdentity }
  | { teamId: string }
  | { enterpriseId: string }
  | { internalUser: string };

/** Who the SSO proxy says is signed in on a page behind it. */
export interface InternalIdentity {
  /** The internal user, as the proxy names them. */
  user: string;
  /** Their email, when the proxy passes one (needed by LINK_VERIFICATION=email). */
  email: string | null;
}

/** A binding as the offboarding API and `admin list --json` show it. */
export const bindingJson = (b: Binding) => ({
  workspace: b.org,
  team_id: b.teamId,
  enterprise_id: b.enterpriseId,
  slack_user_id: b.userId,
  slack_user_name: b.userName,
  team_domain: b.teamDomain,
  internal_user: b.internalUser,
  created_at: new Date(b.createdAt).toISOString(),
  verified_by: b.verifiedBy,
  last_used_at: b.lastUsedAt === null ? null : new Date(b.lastUsedAt).toISOString(),
});
