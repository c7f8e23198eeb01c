// What every route Slack calls (commands, events, interactions) checks before it reads a payload:
// the body, within its limit, carries Slack's signature; and a signature is not seen twice.
import type { IncomingMessage } from 'node:http';
import { readBody, type Context } from '../http.ts';
import { refusal, type HttpError } from '../refusals.ts';
import { MAX_CLOCK_SKEW_SECONDS, verifySlackRequest, type Verdict } from '../slack/signature.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { RequestClaim } from '../store/store.ts';

/** Replay protection: true the first time a signature is seen within its window. */
export type ClaimRequest = (key: string, expiresAt: number, now: number) => Promise<boolean>;

/** Slack's signature check for a request as it arrived: its two headers, its raw body, now. */
export const verifySlackSignature = (req: IncomingMessage, rawBody: Buffer, signingSecret: string): Verdict =>
  verifySlackRequest({
    signingSecret,
    timestamp: req.headers['x-slack-request-timestamp'] as string | undefined,
    signature: req.headers['x-slack-signature'] as string | undefined,
    rawBody,
    nowSeconds: Math.floor(Date.now() / 1000),
  });

export interface SlackGuardDeps {
  signingSecret: string;
  claimRequest: ClaimRequest;
  /** Claims made before this time (ms) are forgotten (SQLite keeps them in memory): requests signed before it are refused. */
  claimsRememberedSince: number;
  log: Logger;
  metrics: Metrics;
}

const SIGNATURE_SETTING = "SLACK_SIGNING_SECRET: the Signing Secret of the app that sends these requests (Basic Information → App Credentials)";

export type SlackGuard = ReturnType<typeof createSlackGuard>;

export function createSlackGuard({ signingSecret, claimRequest, claimsRememberedSince, log, metrics }: SlackGuardDeps) {
  // In whole seconds, as Slack signs: a request signed in the second the claims began is accepted
  // (else the first second after a start would refuse everything); any earlier one may have been
  // claimed by the process before a restart, whose claims are gone.
  const signedSince = Math.floor(claimsRememberedSince / 1000);
  return {
    /** The raw body of a request Slack signed, or a 401 (logged and counted) when it is not. */
    async readSigned(ctx: Context, limit: number): Promise<Buffer> {
      const body = await readBody(ctx.req, limit);
      const verdict = verifySlackSignature(ctx.req, body, signingSecret);
      if (!verdict.ok) {
        // The setting to check is named: a wrong SLACK_SIGNING_SECRET shows only as every request refused.
        log.warn('slack_signature_rejected', { request_id: ctx.requestId, path: ctx.path, reason: verdict.reason, check: SIGNATURE_SETTING });
        metrics.inc('slack_signature_failures_total');
        throw refusal('slack_signature_invalid');
      }
      return body;
    },

    /**
     * The replay claim of a signed request, for the store to take (the slash-command domain takes
     * it with its own reads, in one call). A request signed before the claims began is refused here.
     */
    claimOf(ctx: Context): RequestClaim {
      const timestamp = Number(ctx.req.headers['x-slack-request-timestamp']);
      if (timestamp < signedSince) throw this.replayed(ctx, 'signed before the replay claims began (a restart on SQLite)');
      return { key: ctx.req.headers['x-slack-signature'] as string, expiresAt: (timestamp + MAX_CLOCK_SKEW_SECONDS) * 1000 };
    },

    /** The claim was taken before: logged and counted, the 401 to throw. */
    replayed(ctx: Context, reason?: string): HttpError {
      log.warn('slack_request_replayed', { request_id: ctx.requestId, path: ctx.path, reason });
      metrics.inc('slack_replays_refused_total');
      return refusal('slack_replayed');
    },

    /**
     * A signed request seen before is refused (401): the signature covers the timestamp and the body,
     * so a repeat within the five minutes the timestamp allows is a replay (Slack never sends one
     * request twice; each command and click has its own trigger_id). Rejects when the claim cannot be
     * recorded (the database away), for the route to answer as it answers its own failures.
     */
    async refuseReplay(ctx: Context): Promise<void> {
      if (!(await this.claimRequest(this.claimOf(ctx)))) throw this.replayed(ctx);
    },

    /** Takes a claim alone: true the first time. */
    claimRequest: ({ key, expiresAt }: RequestClaim): Promise<boolean> => claimRequest(key, expiresAt, Date.now()),
  };
}
