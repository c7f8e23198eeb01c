// POST /slack/events, the Events API request URL: verify Slack's signature → parse the envelope →
// the events domain (once per event_id) → 200. A failure is a 500, so that Slack retries.
import { handled, json, mediaType, type Route } from '../http.ts';
import { HttpError, refusal } from '../refusals.ts';
import { parseSlackEvent } from '../slack/event-payload.ts';
import { parseJsonObject } from '../lib/json.ts';
import type { SlackGuard } from './slack-guard.ts';
import type { SlackEvents } from '../domain/slack-events.ts';

/** Event payloads are small; 1 MiB is far beyond any of Slack's. */
export const MAX_EVENT_BODY = 1024 * 1024;

export interface EventsRouteDeps {
  guard: SlackGuard;
  events: SlackEvents;
}

export function eventsRoute({ guard, events }: EventsRouteDeps): Route<'events'> {
  return {
    operation: 'events',
    async POST(ctx) {
      const body = await guard.readSigned(ctx, MAX_EVENT_BODY);
      // Claimed like a command or a click: the same signed bytes must not be accepted twice on any
      // path (a retry of an event is signed anew). A claim that cannot be recorded is a 500: Slack retries.
      try {
        await guard.refuseReplay(ctx);
      } catch (err) {
        if (err instanceof HttpError) throw err;
        throw refusal('slack_event_failed', { about: { detail: 'replay claim' } });
      }
      if (mediaType(ctx.req) !== 'application/json') throw refusal('slack_json_expected');
      const parsed = parseSlackEvent(parseJsonObject(body.toString('utf8')));
      if (!parsed.ok) throw refusal('slack_payload_invalid', { detail: parsed.reason });
      const event = parsed.value;
      if (event.kind === 'url_verification') return handled('url_verification', json(200, { challenge: event.challenge }));
      let result: Awaited<ReturnType<SlackEvents['handle']>>;
      try {
        result = await events.handle(event, ctx.requestId);
      } catch {
        // Logged by the domain, which has forgotten the delivery: Slack's retry (after a minute,
        // then five, then thirty) does the work.
        throw refusal('slack_event_failed', { about: { detail: event.kind } });
      }
      return handled(result.outcome, { status: 200 }, { slack_team: result.who?.teamId, slack_user: result.who?.userId, detail: result.detail });
    },
  };
}
