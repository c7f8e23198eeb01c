// Slack's request signature: v0=hex(HMAC-SHA256(signing secret, "v0:{timestamp}:{raw body}")).
// A pure function so that it can be tested against Slack's published example with a fixed clock.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { accept, refuse, type Checked } from '../lib/checked.ts';

/** Slack's own advice: refuse requests more than five minutes old (or from the future) as replays. */
export const MAX_CLOCK_SKEW_SECONDS = 5 * 60;

export interface SignedRequest {
  signingSecret: string;
  /** X-Slack-Request-Timestamp, as sent. */
  timestamp: string | undefined;
  /** X-Slack-Signature, as sent. */
  signature: string | undefined;
  rawBody: Buffer | string;
  nowSeconds: number;
}

export type Verdict = Checked<void>;

export function slackSignature(signingSecret: string, timestamp: string, rawBody: Buffer | string): string {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`v0:${timestamp}:`);
  hmac.update(rawBody);
  return `v0=${hmac.digest('hex')}`;
}

export function verifySlackRequest(r: SignedRequest): Verdict {
  if (!r.signature) return refuse('missing X-Slack-Signature header');
  if (!r.timestamp) return refuse('missing X-Slack-Request-Timestamp header');
  if (!/^\d{1,12}$/.test(r.timestamp)) return refuse('X-Slack-Request-Timestamp is not a number');
  const skew = r.nowSeconds - Number(r.timestamp);
  if (skew > MAX_CLOCK_SKEW_SECONDS) return refuse('X-Slack-Request-Timestamp is more than 5 minutes old');
  if (-skew > MAX_CLOCK_SKEW_SECONDS) return refuse('X-Slack-Request-Timestamp is more than 5 minutes in the future');
  if (!/^v0=[0-9a-f]{64}$/.test(r.signature)) return refuse('X-Slack-Signature is not a v0 signature');
  const expected = Buffer.from(slackSignature(r.signingSecret, r.timestamp, r.rawBody));
  const given = Buffer.from(r.signature);
  // Both are "v0=" + 64 hex digits here, so the lengths match and the comparison is constant-time.
  if (!timingSafeEqual(expected, given)) return refuse('X-Slack-Signature does not match');
  return accept(undefined);
}
