// POST /slack/commands: verify Slack's signature → parse the slash command → the slash-command
// domain → reply. Our own failures are an ephemeral apology, never a 5xx to Slack.
import { handled, json, mediaType, parseSlackForm, type Route } from '../http.ts';
import { refusal } from '../refusals.ts';
import { parseSlashCommand, type SlashCommand } from '../slack/command-payload.ts';
import { apology } from '../slack/messages.ts';
import { describe, type Logger } from '../lib/log.ts';
import type { SlackGuard } from './slack-guard.ts';
import type { SlashCommands } from '../domain/slash-command.ts';

/** Slack's payloads are a few KiB; anything near this is not from Slack. */
export const MAX_COMMAND_BODY = 64 * 1024;

/** Fields of the other Slack paths: a body carrying them was not signed as a slash command. */
const NOT_A_COMMAND: ReadonlySet<string> = new Set(['payload', 'type', 'event', 'event_id', 'challenge']);

export interface CommandsRouteDeps {
  guard: SlackGuard;
  slashCommands: SlashCommands;
  log: Logger;
}

export function commandsRoute({ guard, slashCommands, log }: CommandsRouteDeps): Route<'commands'> {
  return {
    operation: 'commands',
    async POST(ctx) {
      const body = await guard.readSigned(ctx, MAX_COMMAND_BODY);
      const claim = guard.claimOf(ctx);
      let cmd: SlashCommand;
      try {
        if (mediaType(ctx.req) !== 'application/x-www-form-urlencoded') throw refusal('slack_form_expected');
        const form = parseSlackForm(body, NOT_A_COMMAND);
        // Slack checks our certificate with this; it expects a 200 and nothing else.
        if (form.get('ssl_check') === '1') return handled('ssl_check', { status: 200 });
        const parsed = parseSlashCommand(form);
        if (!parsed.ok) throw refusal('slack_payload_invalid', { detail: parsed.reason });
        cmd = parsed.value;
      } catch (err) {
        // Not a command, but signed: its signature is claimed all the same, so that the same bytes
        // are a replay on every path, whatever they carry. (A command's claim is taken by the domain,
        // with its reads.) A claim that cannot be recorded leaves the refusal as it is.
        if (!(await guard.claimRequest(claim).catch(() => true))) throw guard.replayed(ctx);
        throw err;
      }
      const about = { slack_team: cmd.user.teamId, slack_user: cmd.user.userId };
      let result: Awaited<ReturnType<SlashCommands>>;
      try {
        result = await slashCommands(cmd, ctx.requestId, claim);
      } catch (err) {
        // Slack shows a non-200 as a bare "failed with the error …"; an apology with a request id
        // is something the user can act on and quote to an administrator. (Also when the database
        // is away: on PostgreSQL the replay claim is in it.)
        log.error('command_failed', { request_id: ctx.requestId, slack_user: cmd.user.userId, error: describe(err) });
        return handled('error', json(200, apology(ctx.requestId)), about);
      }
      if (result.outcome === 'replayed') throw guard.replayed(ctx);
      return handled(result.outcome, result.message ? json(200, result.message) : { status: 200 }, result.binding ? { ...about, internal_user: result.binding.internalUser } : about);
    },
  };
}
