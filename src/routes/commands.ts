// POST /slack/commands: verify Slack's signature → parse the slash command → the slash-command
// domain → reply. Our own failures are an ephemeral apology, never a 5xx to Slack.
import { HttpError, json, mediaType, parseForm, type Route } from '../http.ts';
import { readSignedBody, refuseReplay, type ClaimRequest } from './slack-guard.ts';
import { parseSlashCommand } from '../slack/command-payload.ts';
import { apology } from '../slack/messages.ts';
import { describe, type Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { CommandOutcome } from '../outcomes.ts';
import type { SlashResult } from '../domain/slash-command.ts';
import type { SlashCommand } from '../slack/command-payload.ts';

/** Slack's payloads are a few KiB; anything near this is not from Slack. */
export const MAX_COMMAND_BODY = 64 * 1024;

export interface CommandsRouteDeps {
  signingSecret: string;
  claimRequest: ClaimRequest;
  log: Logger;
  metrics: Metrics;
  handle(cmd: SlashCommand, requestId: string): Promise<SlashResult>;
}

export function commandsRoute({ signingSecret, claimRequest, log, metrics, handle }: CommandsRouteDeps): Route {
  return {
    operation: 'commands',
    async POST(ctx) {
      const record = (outcome: CommandOutcome) => (ctx.fields.outcome = outcome);
      const body = await readSignedBody(ctx, MAX_COMMAND_BODY, signingSecret, log, metrics);
      try {
        await refuseReplay(ctx, claimRequest, log, metrics);
      } catch (err) {
        if (err instanceof HttpError) throw err;
        // The replay claim lives in the database on PostgreSQL: with the database away, the user
        // gets the same apology as for any failure after this point, never a bare 500.
        record('error');
        log.error('command_failed', { request_id: ctx.requestId, error: describe(err) });
        return json(200, apology(ctx.requestId));
      }
      if (mediaType(ctx.req) !== 'application/x-www-form-urlencoded') {
        throw new HttpError(415, 'Slash commands are sent as application/x-www-form-urlencoded.');
      }
      const form = parseForm(body);
      // Slack checks our certificate with this; it expects a 200 and nothing else.
      if (form.get('ssl_check') === '1') {
        record('ssl_check');
        return { status: 200 };
      }
      const cmd = parseSlashCommand(form);
      ctx.fields.slack_team = cmd.user.teamId;
      ctx.fields.slack_user = cmd.user.userId;
      try {
        const result = await handle(cmd, ctx.requestId);
        record(result.outcome);
        if (result.binding) ctx.fields.internal_user = result.binding.internalUser;
        return json(200, result.message);
      } catch (err) {
        record('error');
        // Slack shows a non-200 as a bare "failed with the error …"; an apology with a request id
        // is something the user can act on and quote to an administrator.
        log.error('command_failed', { request_id: ctx.requestId, slack_user: cmd.user.userId, error: describe(err) });
        return json(200, apology(ctx.requestId));
      }
    },
  };
}
