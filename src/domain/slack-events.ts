// What an Events API event does, whichever transport brought it: people leaving end their
// bindings, opening the App Home publishes it. Each event is acted on once (by event_id, also
// across restarts); a revocation is done before Slack gets its acknowledgement, and when it fails the
// delivery is forgotten so that Slack's retry does it (a revocation must not be lost to a passing
// outage; doing it twice is harmless).
import { describe, type Logger } from '../lib/log.ts';
import type { SlackEvent } from '../slack/event-payload.ts';
import type { Store } from '../store/store.ts';
import type { SlackIdentity } from '../model.ts';
import type { OutcomeOf } from '../outcomes.ts';
import type { Revocation } from './revocation.ts';
import type { Home } from './home.ts';
import type { GridMigration } from './grid-migration.ts';

export interface SlackEventsDeps {
  store: Pick<Store, 'firstDelivery' | 'forgetDelivery'>;
  revocation: Pick<Revocation, 'revoke'>;
  home: Pick<Home, 'refresh'>;
  grid: Pick<GridMigration, 'migrate'>;
  log: Logger;
}

/** An event that carries work (url_verification is the HTTP transport's own handshake). */
export type EventCallback = Exclude<SlackEvent, { kind: 'url_verification' }>;

export interface Handled {
  outcome: OutcomeOf<'events'>;
  who?: Partial<SlackIdentity> & { teamId?: string };
  /** For the log: the kind of event. */
  detail: string;
}

export type SlackEvents = ReturnType<typeof createSlackEvents>;

/** For the log: the kind of event we act on, or Slack's type of one we do not. */
const detailOf = (event: EventCallback): string => (event.kind === 'ignored' || event.kind === 'unusable' ? event.type : event.kind);

export function createSlackEvents({ store, revocation, home, grid, log }: SlackEventsDeps) {
  const act = async (event: EventCallback, requestId: string): Promise<Handled> => {
    const by = { actor: 'slack_event', requestId, clientAddress: null };
    const detail = detailOf(event);
    switch (event.kind) {
      case 'user_deactivated': {
        const { bindings, links } = await revocation.revoke({ identity: event.user }, 'slack_user_deactivated', by);
        return { outcome: bindings.length || links ? 'revoked' : 'nothing_to_revoke', who: event.user, detail };
      }
      case 'workspace_lost': {
        let removed = 0;
        for (const scope of event.scopes) {
          const { bindings, links } = await revocation.revoke(scope, event.reason, by);
          removed += bindings.length + links;
        }
        return { outcome: removed ? 'revoked' : 'nothing_to_revoke', detail };
      }
      case 'grid_migrated': {
        // An enterprise we never saw is the usual case (the workspace is new to it): nothing to move is no error.
        const { bindings, revoked, links } = await grid.migrate(event.teamId, event.enterpriseId, by);
        return { outcome: bindings.length || revoked.length || links ? 'rekeyed' : 'nothing_to_rekey', who: { teamId: event.teamId }, detail };
      }
      case 'app_home_opened':
        // In the background: a Home tab is best effort (opening it again publishes it again), and
        // waiting out Slack's rate limit here would hold the acknowledgement past Slack's 3 s.
        home.refresh(event.user, requestId);
        return { outcome: 'home_published', who: event.user, detail };
      case 'ignored':
        log.info('slack_event_ignored', { request_id: requestId, event_type: event.type });
        return { outcome: 'ignored', detail };
      case 'unusable':
        // Signed by Slack yet naming nothing we can act on: acknowledged, since Slack's retry would
        // carry the same payload; the log says what was missing.
        log.warn('slack_event_unusable', { request_id: requestId, event_type: event.type, reason: event.reason });
        return { outcome: 'unusable', detail };
    }
  };

  return {
    /** Acts on the event once; rejects (having forgotten the delivery) when its work failed. */
    async handle(event: EventCallback, requestId: string): Promise<Handled> {
      // A retry (also after a restart) or a duplicate delivery does nothing twice.
      if (!(await store.firstDelivery(event.eventId, Date.now()))) return { outcome: 'duplicate', detail: detailOf(event) };
      try {
        return await act(event, requestId);
      } catch (err) {
        log.error('slack_event_failed', { request_id: requestId, event_id: event.eventId, kind: event.kind, error: describe(err) });
        await store.forgetDelivery(event.eventId).catch(() => undefined);
        throw err;
      }
    },
  };
}
