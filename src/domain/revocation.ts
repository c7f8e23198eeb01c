// Bindings that end without their user's unlink: someone left (Slack deactivated them, the app lost
// a workspace, the internal application says the account is gone, an operator offboarded them) or
// a binding went unused too long. Each removal is audited by the store in the same transaction;
// here it is logged as a warning, counted, and told to the user where that makes sense.
import { revokedDm } from '../slack/messages.ts';
import type { Config } from '../config/index.ts';
import type { SlackApi } from '../slack/api.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Background } from '../lib/background.ts';
import type { Purged, Revoked, Store } from '../store/store.ts';
import type { Actor, Binding, RevokeReason, RevokeScope } from '../model.ts';
import type { Home } from './home.ts';

export interface RevocationDeps {
  config: Pick<Config, 'auditRetentionDays' | 'bindingMaxIdleDays'>;
  store: Pick<Store, 'revoke' | 'purgeExpired'>;
  slack: Pick<SlackApi, 'dm'>;
  home: Pick<Home, 'refresh'>;
  log: Logger;
  metrics: Metrics;
  background: Background;
}

export type Revocation = ReturnType<typeof createRevocation>;

const DAY_MS = 86_400_000;
/** Seen event ids are kept this long: Slack retries a delivery for about an hour. */
const EVENT_MEMORY_MS = DAY_MS;
const SYSTEM: Actor = { actor: 'system', requestId: null, clientAddress: null };

/**
 * Revocations after which the Slack user is told by DM. Not after an uninstall, a revoked token or
 * a deactivation (nobody is there to tell, or no token to tell them with), nor when the internal
 * application said the account is gone (the user was just told in the command's reply), nor by the
 * CLI (an operator's act, told in the Home tab).
 */
const DM_AFTER: ReadonlySet<RevokeReason> = new Set(['admin_api', 'idle']);
/** Revocations after which the App Home can still be republished (the app is still installed). */
const HOME_AFTER: ReadonlySet<RevokeReason> = new Set(['admin_api', 'admin_cli', 'idle', 'internal_user_inactive']);

/** Every revoked binding, whatever revoked it: a warning (security relevant) and bindings_revoked_total{reason}. */
export function reportRevoked(log: Logger, metrics: Pick<Metrics, 'inc'>, b: Binding, reason: RevokeReason, by: Actor) {
  const fields = { request_id: by.requestId ?? undefined, reason, slack_team: b.teamId, slack_user: b.userId, internal_user: b.internalUser, actor: by.actor };
  log.warn('binding_revoked', fields);
  metrics.inc('bindings_revoked_total', { reason });
  return fields;
}

export function createRevocation({ config, store, slack, home, log, metrics, background }: RevocationDeps) {
  const announce = (bindings: Binding[], reason: RevokeReason, by: Actor): void => {
    for (const b of bindings) {
      const fields = reportRevoked(log, metrics, b, reason, by);
      if (HOME_AFTER.has(reason)) home.refresh(b, by.requestId);
      if (!DM_AFTER.has(reason)) continue;
      background.run('slack_dm', { request_id: fields.request_id, slack_user: b.userId }, async () => {
        await slack.dm(b.userId, revokedDm(b, reason));
        log.info('slack_dm', { request_id: fields.request_id, slack_user: b.userId, outcome: 'sent' });
      });
    }
  };

  return {
    /**
     * Everything in `scope` (one Slack identity, a workspace, a person) removed and audited, each
     * removal logged (a warning: security relevant), counted, and told by DM where that makes sense.
     */
    async revoke(scope: RevokeScope, reason: RevokeReason, by: Actor): Promise<Revoked> {
      const revoked = await store.revoke(scope, reason, by);
      announce(revoked.bindings, reason, by);
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
      announce(purged.idle, 'idle', SYSTEM);
      return purged;
    },
  };
}
