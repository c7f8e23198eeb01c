// POST /slack/interactions, the interactivity request URL: verify Slack's signature → parse the
// payload → the buttons domain, which acknowledges at once and works in the background.
import { handled, mediaType, parseSlackForm, type Route } from '../http.ts';
import { refusal } from '../refusals.ts';
import { parseInteraction } from '../slack/interaction-payload.ts';
import { parseJsonObject } from '../lib/json.ts';
import { MAX_COMMAND_BODY } from './commands.ts';
import type { SlackGuard } from './slack-guard.ts';
import type { Buttons } from '../domain/buttons.ts';

/** A slash command's fields: a body carrying them was not signed as a click. */
const NOT_AN_INTERACTION: ReadonlySet<string> = new Set(['command', 'text', 'user_id', 'team_id', 'ssl_check', 'type', 'event', 'event_id', 'challenge']);

export interface InteractionsRouteDeps {
  /** Replay protection, as for commands: a click must not run twice (Slack never resends one). */
  guard: SlackGuard;
  buttons: Buttons;
}

export function interactionsRoute({ guard, buttons }: InteractionsRouteDeps): Route<'interactions'> {
  return {
    operation: 'interactions',
    async POST(ctx) {
      const body = await guard.readSigned(ctx, MAX_COMMAND_BODY);
      await guard.refuseReplay(ctx);
      if (mediaType(ctx.req) !== 'application/x-www-form-urlencoded') throw refusal('slack_form_expected');
      const raw = parseSlackForm(body, NOT_AN_INTERACTION).get('payload');
      const parsed = parseInteraction(raw ? parseJsonObject(raw) : undefined);
      if (!parsed.ok) throw refusal('slack_payload_invalid', { detail: parsed.reason });
      const clicked = buttons.handle(parsed.value, ctx.requestId);
      return handled(clicked.outcome, { status: 200 }, { slack_team: clicked.who?.teamId, slack_user: clicked.who?.userId, detail: clicked.detail });
    },
  };
}
