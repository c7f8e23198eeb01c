// The domain of linking: start a link, show and confirm it (for each LINK_VERIFICATION mode),
// confirm a code, unlink, revoke, and what follows a new binding. Each operation returns a typed
// outcome and knows nothing of HTTP; the routes authenticate and parse, call, and render.
import { hashNonce, newNonce } from './secrets.ts';
import { CODE_TTL_MS, MAX_CODE_FAILURES, codeMac, codeMatches, newCode, sameEmail } from './link-proofs.ts';
import { linkedDm, revokedDm } from '../slack/messages.ts';
import { describe } from '../lib/log.ts';
import type { Config } from '../config.ts';
import type { ServerKeys } from './secrets.ts';
import { tokenRejected, type SlackApi } from '../slack/api.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Background } from '../lib/background.ts';
import type { CommandAnswerer } from './run-as-user.ts';
import type { Identity } from '../sso/identity.ts';
import type { Actor, Binding, Link, LinkRequest, Purged, RevokeReason, RevokeScope, Revoked, SlackIdentity, SlackUser, Store } from '../store/store.ts';

export interface LinkingDeps {
  config: Pick<Config, 'publicBaseUrl' | 'nonceTtlSeconds' | 'linkRateLimitPerMinute' | 'linkVerification' | 'auditRetentionDays' | 'bindingMaxIdleDays'>;
  store: Store;
  keys: ServerKeys;
  slack: SlackApi;
  log: Logger;
  metrics: Metrics;
  background: Background;
  answerer: CommandAnswerer;
  /** A binding was made or ended: its user's App Home is republished (best effort, background). */
  onChanged(user: SlackIdentity, requestId: string | null): void;
}

export type StartOutcome = { outcome: 'link_created'; url: string } | { outcome: 'link_rate_limited' };

export type ShowOutcome = { outcome: 'confirm_shown'; link: Link } | { outcome: 'link_gone' } | { outcome: 'already_bound'; binding: Binding };

export type ConfirmOutcome =
  | { outcome: 'bound'; binding: Binding }
  | { outcome: 'link_gone' }
  | { outcome: 'already_bound'; binding: Binding }
  | { outcome: 'code_shown'; link: Link; code: string; minutes: number }
  | { outcome: 'email_mismatch'; link: Link }
  | { outcome: 'no_email' }
  | { outcome: 'slack_email_hidden'; link: Link }
  | { outcome: 'slack_unavailable'; link: Link }
  | { outcome: 'slack_misconfigured'; link: Link };

export type CancelOutcome = { outcome: 'cancelled'; link: Link } | { outcome: 'link_gone' };

export type CodeOutcome =
  | { outcome: 'code_bound'; binding: Binding }
  | { outcome: 'code_already_bound'; binding: Binding }
  | { outcome: 'code_wrong'; attemptsLeft: number }
  | { outcome: 'code_void' }
  | { outcome: 'code_expired' }
  | { outcome: 'code_none' };

export type UnlinkOutcome = { outcome: 'unlinked'; binding: Binding } | { outcome: 'not_linked' };

export type Linking = ReturnType<typeof createLinking>;

const DAY_MS = 86_400_000;
/** Seen event ids are kept this long: Slack retries a delivery for about an hour. */
const EVENT_MEMORY_MS = DAY_MS;

/**
 * Revocations after which the Slack user is told by DM. Not after an uninstall, a revoked token or
 * a deactivation (nobody is there to tell, or no token to tell them with), nor when the internal
 * application said the account is gone (the user was just told in the command's reply), nor by the
 * CLI (a process without the bot token).
 */
const DM_AFTER: ReadonlySet<RevokeReason> = new Set(['admin_api', 'idle']);
/** Revocations after which the App Home can still be republished (the app is still installed). */
const HOME_AFTER: ReadonlySet<RevokeReason> = new Set(['admin_api', 'admin_cli', 'idle', 'internal_user_inactive']);

export function createLinking({ config, store, keys, slack, log, metrics, background, answerer, onChanged }: LinkingDeps) {
  const ttlMs = config.nonceTtlSeconds * 1000;

  /**
   * The DM and the pending command that follow every new binding, in the background. The command
   * typed before linking runs only when `runPending`: otherwise the DM asks to run it again.
   */
  const afterBinding = (binding: Binding, link: Link, runPending: boolean, requestId: string | null): void => {
    const fields = { request_id: requestId ?? undefined, slack_team: binding.teamId, slack_user: binding.userId };
    log.info('binding_created', { ...fields, internal_user: binding.internalUser });
    metrics.inc('links_completed_total');
    onChanged(binding, requestId);
    const typed = link.pendingText ? `${link.command} ${link.pendingText}` : null;
    const pending = runPending ? answerer.runPending(binding, link, requestId ?? '') : typed ? { again: typed } : null;
    const started = background.run('slack_dm', fields, async () => {
      try {
        await slack.dm(binding.userId, linkedDm(link.command, binding, pending, `${config.publicBaseUrl}/links`));
      } catch (err) {
        metrics.inc('slack_dm_failures_total');
        if (tokenRejected(err)) log.error('slack_token_rejected', { ...fields, fix: 'SLACK_BOT_TOKEN is wrong or revoked: npm run admin -- doctor' });
        throw err;
      }
      log.info('slack_dm', { ...fields, outcome: 'sent' });
    });
    if (!started) metrics.inc('slack_dm_failures_total');
  };

  const announceRevoked = (bindings: Binding[], reason: RevokeReason, by: Actor): void => {
    for (const b of bindings) {
      const fields = { request_id: by.requestId ?? undefined, reason, slack_team: b.teamId, slack_user: b.userId, internal_user: b.internalUser, actor: by.actor };
      log.warn('binding_revoked', fields);
      metrics.inc('bindings_revoked_total', { reason });
      if (HOME_AFTER.has(reason)) onChanged(b, by.requestId);
      if (!DM_AFTER.has(reason)) continue;
      background.run('slack_dm', { request_id: fields.request_id, slack_user: b.userId }, async () => {
        await slack.dm(b.userId, revokedDm(b, reason));
        log.info('slack_dm', { request_id: fields.request_id, slack_user: b.userId, outcome: 'sent' });
      });
    }
  };

  /** email mode: the Slack user's profile email must be the signed-in user's. */
  const confirmByEmail = async (nonceHash: Buffer, identity: Identity, runPending: boolean, by: Actor): Promise<ConfirmOutcome> => {
    if (!identity.email) {
      log.warn('link_verification_failed', { request_id: by.requestId ?? undefined, reason: 'no email from the proxy', internal_user: identity.user });
      return { outcome: 'no_email' };
    }
    // Checked before the transaction (it needs Slack); the transaction still finds the link live or not.
    const link = await store.getLiveLink(nonceHash, Date.now());
    if (!link) return { outcome: 'link_gone' };
    let slackEmail: string | null;
    try {
      slackEmail = await slack.userEmail(link.userId);
    } catch (err) {
      // Fail closed: without Slack's answer we cannot tell the owner of the link from anyone else.
      if (tokenRejected(err)) {
        log.error('slack_token_rejected', { request_id: by.requestId ?? undefined, error: describe(err), fix: 'SLACK_BOT_TOKEN is wrong or revoked: npm run admin -- doctor' });
        return { outcome: 'slack_misconfigured', link };
      }
      log.error('slack_users_info_failed', { request_id: by.requestId ?? undefined, slack_user: link.userId, error: describe(err) });
      return { outcome: 'slack_unavailable', link };
    }
    if (!slackEmail || !sameEmail(slackEmail, identity.email)) {
      // Someone else's link, most likely forwarded to this user: void it, bind nothing, and say so
      // loudly in the log, where a security team can alert on it.
      const reason = slackEmail ? 'email_mismatch' : 'slack_email_hidden';
      await store.endLink(nonceHash, Date.now(), { action: 'verification_failed', reason }, by);
      log.warn('security_link_email_mismatch', {
        request_id: by.requestId ?? undefined,
        slack_team: link.teamId,
        slack_user: link.userId,
        internal_user: identity.user,
        slack_email_visible: slackEmail !== null,
      });
      return { outcome: reason, link };
    }
    return bind(nonceHash, identity.user, 'email', runPending, by);
  };

  const bind = async (nonceHash: Buffer, internalUser: string, verification: 'email' | 'confirm', runPending: boolean, by: Actor): Promise<ConfirmOutcome> => {
    const result = await store.completeLink(nonceHash, internalUser, verification, Date.now(), by);
    if (result.outcome === 'gone') return { outcome: 'link_gone' };
    if (result.outcome === 'already_bound') return result;
    afterBinding(result.binding, result.link, runPending, by.requestId);
    return { outcome: 'bound', binding: result.binding };
  };

  /**
   * code mode: the binding waits for the Slack user to type the code shown in the browser. A
   * pending command not chosen to run is dropped from the pending confirmation.
   */
  const deferToCode = async (nonceHash: Buffer, identity: Identity, runPending: boolean, by: Actor): Promise<ConfirmOutcome> => {
    const code = newCode();
    const result = await store.deferLink(nonceHash, identity.user, (id) => codeMac(keys.code, id, code), Date.now(), CODE_TTL_MS, runPending, by);
    if (result.outcome === 'gone') return { outcome: 'link_gone' };
    if (result.outcome === 'already_bound') return result;
    return { outcome: 'code_shown', link: result.link, code, minutes: CODE_TTL_MS / 60_000 };
  };

  return {
    /** A new single-use link for a Slack user who is not bound (replacing any open one). */
    async start(user: SlackUser, request: LinkRequest, by: Actor): Promise<StartOutcome> {
      const nonce = newNonce();
      const created = await store.createLink(
        { user, request, nonceHash: hashNonce(nonce)!, now: Date.now(), ttlMs, perMinute: config.linkRateLimitPerMinute },
        by,
      );
      if (created.outcome === 'rate_limited') return { outcome: 'link_rate_limited' };
      metrics.inc('links_created_total');
      return { outcome: 'link_created', url: `${config.publicBaseUrl}/associate?nonce=${nonce}` };
    },

    /** What the confirmation page shows; changes nothing (link scanners and previews fetch URLs). */
    async show(nonceHash: Buffer | undefined): Promise<ShowOutcome> {
      const link = nonceHash && (await store.getLiveLink(nonceHash, Date.now()));
      if (!link) return { outcome: 'link_gone' };
      const existing = await store.getBinding(link);
      if (existing) return { outcome: 'already_bound', binding: existing };
      return { outcome: 'confirm_shown', link };
    },

    /**
     * The signed-in user confirmed: bind once, after the check LINK_VERIFICATION asks for. The
     * command typed before linking runs only with `runPending` (the page's "Link and run").
     */
    async confirm(nonceHash: Buffer, identity: Identity, runPending: boolean, by: Actor): Promise<ConfirmOutcome> {
      switch (config.linkVerification) {
        case 'email':
          return confirmByEmail(nonceHash, identity, runPending, by);
        case 'code':
          return deferToCode(nonceHash, identity, runPending, by);
        case 'confirm':
          return bind(nonceHash, identity.user, 'confirm', runPending, by);
      }
    },

    async cancel(nonceHash: Buffer, by: Actor): Promise<CancelOutcome> {
      const link = await store.endLink(nonceHash, Date.now(), { action: 'link_cancelled', reason: null }, by);
      return link ? { outcome: 'cancelled', link } : { outcome: 'link_gone' };
    },

    /** code mode: the Slack user typed the code their browser showed them. */
    async confirmCode(id: SlackIdentity, code: string, by: Actor): Promise<CodeOutcome> {
      const result = await store.confirmCode(id, codeMatches(keys.code, id, code), Date.now(), MAX_CODE_FAILURES, by);
      switch (result.outcome) {
        case 'bound':
          // The pending confirmation keeps the command only if the browser chose "Link and run".
          afterBinding(result.binding, result.link, true, by.requestId);
          return { outcome: 'code_bound', binding: result.binding };
        case 'already_bound':
          return { outcome: 'code_already_bound', binding: result.binding };
        case 'wrong':
          return { outcome: 'code_wrong', attemptsLeft: result.attemptsLeft };
        case 'void':
          log.warn('security_code_attempts_exhausted', { request_id: by.requestId ?? undefined, slack_user: id.userId });
          return { outcome: 'code_void' };
        default:
          return { outcome: `code_${result.outcome}` };
      }
    },

    /** The user's own unlink; with `boundTo`, only while the binding is still to that internal user. */
    async unlink(id: SlackIdentity, by: Actor, boundTo?: string): Promise<UnlinkOutcome> {
      const binding = await store.unlink(id, by, boundTo);
      if (!binding) return { outcome: 'not_linked' };
      onChanged(binding, by.requestId);
      log.info('binding_removed', { request_id: by.requestId ?? undefined, slack_team: binding.teamId, slack_user: binding.userId, internal_user: binding.internalUser, actor: by.actor });
      return { outcome: 'unlinked', binding };
    },

    /**
     * Someone left: everything of theirs (or of a workspace) in `scope` is removed and audited, each
     * removal logged (a warning: security relevant), counted, and told by DM where that makes sense.
     */
    async revoke(scope: RevokeScope, reason: RevokeReason, by: Actor): Promise<Revoked> {
      const revoked = await store.revoke(scope, reason, by);
      announceRevoked(revoked.bindings, reason, by);
      return revoked;
    },

    /**
     * The periodic clean-up: expired links and pending codes, audit rows past AUDIT_RETENTION_DAYS,
     * event ids past a day, and bindings idle for BINDING_MAX_IDLE_DAYS (when set).
     */
    async purge(now: number): Promise<Purged> {
      const purged = await store.purgeExpired(now, {
        auditBefore: now - config.auditRetentionDays * DAY_MS,
        eventsBefore: now - EVENT_MEMORY_MS,
        idleBefore: config.bindingMaxIdleDays ? now - config.bindingMaxIdleDays * DAY_MS : undefined,
      });
      announceRevoked(purged.idle, 'idle', { actor: 'system', requestId: null, clientAddress: null });
      return purged;
    },
  };
}
