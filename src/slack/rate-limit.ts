// Slack's 429s, honoured. Slack limits each Web API method (and response_urls) separately and says
// how long to wait in Retry-After. A call that is limited waits and tries again while its total
// wait stays under MAX_WAIT_MS; after that it gives up (a DM a minute late is worse than none). Calls
// that arrive while a method is limited do not each hit Slack to learn it: they queue behind the
// limit, spaced SPACING_MS apart once it lifts, so that a flood (a thousand app_home_opened) never
// turns into a burst of retries.
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';

export const MAX_WAIT_MS = 30_000;
const SPACING_MS = 100;

/** What a limited call reports: its method, how long Slack asked to wait, and whether it gave up. */
export type RateLimitReport = (event: { method: string; retryAfterMs: number; gaveUp: boolean }) => void;

/** A call Slack refused with 429, with how long it asked us to wait. */
export class RateLimited extends Error {
  readonly method: string;
  readonly retryAfterMs: number;
  constructor(method: string, retryAfterMs: number) {
    super(`Slack rate-limited ${method} (retry after ${Math.ceil(retryAfterMs / 1000)} s)`);
    this.method = method;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Retry-After as Slack sends it (whole seconds), in ms; a missing or odd value counts as 1 s. */
export function retryAfterMs(header: string | number | null | undefined): number {
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 3600) * 1000 : 1000;
}

export function createRateLimits(report: RateLimitReport = () => {}, now: () => number = Date.now) {
  /** Per method: no call before `until`; queued calls take slots after `lastSlot`. */
  const limits = new Map<string, { until: number; lastSlot: number }>();
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** The time this call may go, or null when it would wait beyond its budget. */
  const slot = (method: string, deadline: number): number | null => {
    const limit = limits.get(method);
    const at = now();
    if (!limit || (at >= limit.until && at >= limit.lastSlot)) return at;
    const next = Math.max(limit.until, limit.lastSlot + SPACING_MS);
    if (next > deadline) return null;
    limit.lastSlot = next;
    return next;
  };

  return {
    /** `call` once Slack lets us, again after each 429 within the budget; throws RateLimited when it gives up. */
    async call<T>(method: string, call: () => Promise<T>, limitOf: (err: unknown) => number | null): Promise<T> {
      const deadline = now() + MAX_WAIT_MS;
      let asked = 0;
      for (;;) {
        const at = slot(method, deadline);
        if (at === null) {
          report({ method, retryAfterMs: asked, gaveUp: true });
          throw new RateLimited(method, asked);
        }
        if (at > now()) await sleep(at - now());
        try {
          return await call();
        } catch (err) {
          const wait = limitOf(err);
          if (wait === null) throw err;
          asked = wait;
          const limit = limits.get(method) ?? { until: 0, lastSlot: 0 };
          limit.until = Math.max(limit.until, now() + wait);
          limits.set(method, limit);
          report({ method, retryAfterMs: wait, gaveUp: false });
        }
      }
    },
  };
}

/** The server's report: a warn line and slack_rate_limited_total{method,outcome}. */
export const reportRateLimits =
  (log: Logger, metrics: Pick<Metrics, 'inc'>): RateLimitReport =>
  ({ method, retryAfterMs, gaveUp }) => {
    metrics.inc('slack_rate_limited_total', { method, outcome: gaveUp ? 'gave_up' : 'waited' });
    log.warn('slack_rate_limited', { method, retry_after_ms: retryAfterMs, outcome: gaveUp ? 'gave_up' : 'waited' });
  };
