// POST /slack/commands: verify Slack's signature → parse the slash command → the slash-command
// domain → reply. Our own failures are an ephemeral apology, never a 5xx to Slack.
import type { IncomingMessage } from 'node:http';
import { HttpError, json, mediaType, parseForm, readBody, type Route } from '../http.ts';
import { MAX_CLOCK_SKEW_SECONDS, verifySlackRequest, type Verdict } from '../slack/verify.ts';
import { parseSlashCommand } from '../slack/payload.ts';
import { apology } from '../slack/messages.ts';
import { describe, type Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { CommandOutcome } from '../outcomes.ts';
import type { SlashResult } from '../commands.ts';
import type { SlashCommand } from '../slack/payload.ts';

/** Slack's payloads are a few KiB; anything near this is not from Slack. */
export const MAX_COMMAND_BODY = 64 * 1024;

/** Slack's signature check for a request as it arrived: its two headers, its raw body, now. */
export const verifySlackSignature = (req: IncomingMessage, rawBody: Buffer, signingSecret: string): Verdict =>
  verifySlackRequest({
    signingSecret,
    timestamp: req.headers['x-slack-request-timestamp'] as string | undefined,
    signature: req.headers['x-slack-signature'] as string | undefined,
    rawBody,
    nowSeconds: Math.floor(Date.now() / 1000),
  });

export interface CommandsRouteDeps {
  signingSecret: string;
  /** Replay protection: true the first time a signature is seen within its window. */
  claimRequest(key: string, expiresAt: number, now: number): Promise<boolean>;
  log: Logger;
  metrics: Metrics;
  handle(cmd: SlashCommand, requestId: string): Promise<SlashResult>;
}

/**
 * A signed request seen before is refused: the signature covers the timestamp and the body, so a
 * repeat within the five minutes the timestamp allows is a replay (Slack never sends one request
 * twice; each slash command has its own trigger_id).
 */
export async function refuseReplay(req: IncomingMessage, claim: CommandsRouteDeps['claimRequest']): Promise<boolean> {
  const signature = req.headers['x-slack-signature'] as string;
  const timestamp = Number(req.headers['x-slack-request-timestamp']);
  const now = Date.now();
  return !(await claim(signature, (timestamp + MAX_CLOCK_SKEW_SECONDS) * 1000, now));
}

export function commandsRoute({ signingSecret, claimRequest, log, metrics, handle }: CommandsRouteDeps): Route {
  return {
    operation: 'commands',
    async POST(ctx) {
      const record = (outcome: CommandOutcome) => (ctx.fields.outcome = outcome);
      const body = await readBody(ctx.req, MAX_COMMAND_BODY);
      const verdict = verifySlackSignature(ctx.req, body, signingSecret);
      if (!verdict.ok) {
        log.warn('slack_signature_rejected', { request_id: ctx.requestId, reason: verdict.reason });
        metrics.inc('slack_signature_failures_total');
        throw new HttpError(401, 'Invalid Slack request signature.');
      }
      let replayed: boolean;
      try {
        replayed = await refuseReplay(ctx.req, claimRequest);
      } catch (err) {
        // The replay claim lives in the database on PostgreSQL: with the database away, the user
        // gets the same apology as for any failure after this point, never a bare 500.
        record('error');
        log.error('command_failed', { request_id: ctx.requestId, error: describe(err) });
        return json(200, apology(ctx.requestId));
      }
      if (replayed) {
        log.warn('slack_request_replayed', { request_id: ctx.requestId });
        metrics.inc('slack_replays_refused_total');
        throw new HttpError(401, 'This signed request was already received.');
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
