// POST /slack/events, the Events API request URL: verify Slack's signature → parse the envelope →
// deduplicate by event_id → the domain → 200. People leaving end their bindings here.
import { HttpError, json, mediaType, type Context, type Route } from '../http.ts';
import { parseSlackEvent, type SlackEvent } from '../slack/event-payload.ts';
import { readSignedBody } from './slack-guard.ts';
import { describe, type Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Linking } from '../domain/linking.ts';
import type { Store } from '../store/store.ts';
import type { OutcomeOf } from '../outcomes.ts';

/** Event payloads are small; 1 MiB is far beyond any of Slack's. */
export const MAX_EVENT_BODY = 1024 * 1024;

export interface EventsRouteDeps {
  signingSecret: string;
  store: Pick<Store, 'firstDelivery' | 'forgetDelivery'>;
  linking: Pick<Linking, 'revoke'>;
  /** What opening the App Home does (publishes the Home tab); null until it is wired. */
  onAppHomeOpened: ((event: Extract<SlackEvent, { kind: 'app_home_opened' }>, requestId: string) => Promise<void>) | null;
  log: Logger;
  metrics: Metrics;
}

export function eventsRoute({ signingSecret, store, linking, onAppHomeOpened, log, metrics }: EventsRouteDeps): Route {
  const record = (ctx: Context, outcome: OutcomeOf<'events'>) => (ctx.fields.outcome = outcome);

  /** The work an event asks for, done before Slack gets its 200 (a transaction or two: well within 3 s). */
  const handle = async (ctx: Context, event: Exclude<SlackEvent, { kind: 'url_verification' }>): Promise<void> => {
    const by = { actor: 'slack_event', requestId: ctx.requestId, clientAddress: null };
    switch (event.kind) {
      case 'user_deactivated': {
        ctx.fields.slack_user = event.user.userId;
        const { bindings, links } = await linking.revoke({ identity: event.user }, 'slack_user_deactivated', by);
        record(ctx, bindings.length || links ? 'revoked' : 'nothing_to_revoke');
        return;
      }
      case 'workspace_lost': {
        let removed = 0;
        for (const scope of event.scopes) {
          const { bindings, links } = await linking.revoke(scope, event.reason, by);
          removed += bindings.length + links;
        }
        record(ctx, removed ? 'revoked' : 'nothing_to_revoke');
        return;
      }
      case 'app_home_opened':
        ctx.fields.slack_user = event.user.userId;
        if (!onAppHomeOpened) {
          record(ctx, 'ignored');
          return;
        }
        await onAppHomeOpened(event, ctx.requestId);
        record(ctx, 'home_published');
        return;
      case 'ignored':
        record(ctx, 'ignored');
        log.info('slack_event_ignored', { request_id: ctx.requestId, event_type: event.type });
        return;
    }
  };

  return {
    operation: 'events',
    async POST(ctx) {
      const body = await readSignedBody(ctx, MAX_EVENT_BODY, signingSecret, log, metrics);
      if (mediaType(ctx.req) !== 'application/json') throw new HttpError(400, 'Events are sent as application/json.');
      const parsed = parseSlackEvent(body);
      if (!parsed.ok) throw new HttpError(400, 'The event is not a valid Events API payload.', {}, parsed.problem);
      const { event } = parsed;
      if (event.kind === 'url_verification') {
        record(ctx, 'url_verification');
        return json(200, { challenge: event.challenge });
      }
      ctx.fields.detail = event.kind === 'ignored' ? event.type : event.kind;
      // A retry (X-Slack-Retry-Num), also after a restart, or a duplicate delivery does nothing twice.
      if (!(await store.firstDelivery(event.eventId, Date.now()))) {
        record(ctx, 'duplicate');
        return { status: 200 };
      }
      try {
        await handle(ctx, event);
      } catch (err) {
        // Our own failure (the database busy or away): the delivery is forgotten and Slack told with a
        // 500, so that its retry (after a minute, then five, then thirty) does the work. A revocation
        // must not be lost to a passing outage; doing it twice is harmless.
        record(ctx, 'error');
        log.error('slack_event_failed', { request_id: ctx.requestId, event_id: event.eventId, kind: event.kind, error: describe(err) });
        await store.forgetDelivery(event.eventId).catch(() => undefined);
        throw new HttpError(500, 'The event could not be handled; Slack will retry it.');
      }
      return { status: 200 };
    },
  };
}
