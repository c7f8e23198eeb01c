// Slack's Web API and response_urls: everything we send to Slack on our own initiative.
import type { WebClient } from '@slack/web-api';
import type { SlackMessage } from './messages.ts';
import { createRateLimits, retryAfterMs, type RateLimitReport } from './rate-limit.ts';
import { fitBlocks, fitMessage, LIMITS } from './block-kit-limits.ts';

/** The contract the rest of the service relies on; tests may stand in for it in-process. */
export interface SlackApi {
  /** True only for response_urls we may post to: Slack's hooks host, or what the operator allows. */
  responseUrlAllowed(raw: string | null): raw is string;
  /** A delayed answer to a slash command (valid 30 minutes after the command, up to 5 times). */
  respond(responseUrl: string, message: SlackMessage): Promise<void>;
  /** The user's email from their Slack profile (scope users:read.email), or null when hidden. */
  userEmail(userId: string): Promise<string | null>;
  /** The user's Slack name, as slash commands give it in user_name (scope users:read), or null when Slack has none. */
  userName(userId: string): Promise<string | null>;
  /** A direct message from the app to the user. */
  dm(userId: string, message: SlackMessage): Promise<void>;
  /** The user's App Home tab (views.publish; no scope beyond the Home tab being enabled). */
  publishHome(userId: string, view: HomeView): Promise<void>;
}

export interface HomeView {
  type: 'home';
  blocks: unknown[];
}

export interface SlackApiOptions {
  botToken: string;
  slackApiUrl: string;
  /** URL prefixes besides Slack's own hooks host that response_urls may point at. */
  responseUrlAllow: string[];
  /** Told of every 429 Slack answers (for the log and a metric). */
  onRateLimited?: RateLimitReport;
}

const RESPONSE_URL_TIMEOUT_MS = 10_000;

/** For every WebClient we make: its own console logger would print outside our JSON lines. */
export const QUIET_LOGGER = { debug() {}, info() {}, warn() {}, error() {}, setLevel() {}, getLevel: () => 'error' as never, setName() {} };

/** How long a Web API error asks us to wait when it is a 429, else null. */
const webApiLimit = (err: unknown): number | null => {
  const e = err as { code?: unknown; retryAfter?: unknown } | null;
  return e?.code === 'slack_webapi_rate_limited_error' ? retryAfterMs(e.retryAfter as number) : null;
};

/**
 * A response_url refused the post: Slack answers like an incoming webhook, an HTTP 4xx whose body is
 * the error's name (api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks:
 * `action_prohibited` 403, `channel_not_found` 404, `channel_is_archived` 410…), or a JSON
 * `{"ok": false, "error": …}` (e.g. `posting_to_general_channel_denied`, `restricted_action`).
 */
export class ResponseUrlRefused extends Error {
  readonly status: number;
  /** Slack's name for the refusal (`[a-z0-9_]`, at most 64 characters), else `http_<status>`. */
  readonly error: string;
  constructor(status: number, error: string) {
    super(`response_url answered HTTP ${status} (${error})`);
    this.status = status;
    this.error = error;
  }
}

const SLACK_ERROR = /^[a-z0-9_]{1,64}$/;

/** The error a response_url's answer names, or null when it names none (a success, or an unreadable body). */
export function responseUrlError(body: string): string | null {
  const trimmed = body.trim();
  if (SLACK_ERROR.test(trimmed) && trimmed !== 'ok') return trimmed;
  try {
    const parsed = JSON.parse(trimmed) as { ok?: unknown; error?: unknown } | null;
    return parsed?.ok === false && typeof parsed.error === 'string' && SLACK_ERROR.test(parsed.error) ? parsed.error : null;
  } catch {
    return null;
  }
}

class ResponseUrlLimited extends Error {
  readonly waitMs: number;
  constructor(waitMs: number) {
    super('response_url answered 429');
    this.waitMs = waitMs;
  }
}

export function createSlackApi({ botToken, slackApiUrl, responseUrlAllow, onRateLimited }: SlackApiOptions): SlackApi {
  const limits = createRateLimits(onRateLimited);
  // Loaded at the first Web API call (a DM, an email lookup, a Home tab), not at startup: it and
  // its HTTP client are 10 MB of memory and 60 ms before ready that a server answering only
  // commands never uses (docs/performance.md).
  let loaded: Promise<WebClient> | undefined;
  const webClient = (): Promise<WebClient> =>
    (loaded ??= import('@slack/web-api').then(
      ({ WebClient }) =>
        new WebClient(botToken, {
          slackApiUrl,
          // WebClient's default retries for about 30 minutes; a DM that late is worse than none.
          retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000 },
          // 429s come back to us: rate-limit.ts waits as Slack says, per method, within 30 s.
          rejectRateLimitedCalls: true,
          timeout: 10_000,
          logger: QUIET_LOGGER,
        }),
    ).catch((err: unknown) => {
      // Not remembered: the next call tries again (a failed load is not a reason to stop DMs for good).
      loaded = undefined;
      throw err;
    }));

  /**
   * A response_url comes from the request body, so it is only as trustworthy as the signature over
   * it: we still never POST anywhere but Slack's hooks host (or what the operator allows), so
   * that a replayed or crafted payload cannot point our server at an internal address.
   */
  const responseUrlAllowed = (raw: string | null): raw is string => {
    if (!raw) return false;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return false;
    }
    if (url.username || url.password) return false;
    if (url.protocol === 'https:' && url.hostname === 'hooks.slack.com' && url.port === '') return true;
    return responseUrlAllow.some((prefix) => url.href.startsWith(prefix));
  };

  return {
    responseUrlAllowed,

    async respond(responseUrl: string, message: SlackMessage): Promise<void> {
      if (!responseUrlAllowed(responseUrl)) throw new Error('response_url is not on an allowed host');
      const body = JSON.stringify({ replace_original: false, ...fitMessage(message) });
      const post = async () => {
        const res = await fetch(responseUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(RESPONSE_URL_TIMEOUT_MS),
        });
        // Slack's answers are a word or a small JSON object: more than this is not worth reading.
        const answer = (await res.text()).slice(0, 4096);
        if (res.status === 429) throw new ResponseUrlLimited(retryAfterMs(res.headers.get('retry-after')));
        const error = responseUrlError(answer);
        if (!res.ok || error) throw new ResponseUrlRefused(res.status, error ?? `http_${res.status}`);
      };
      await limits.call('response_url', post, (err) => (err instanceof ResponseUrlLimited ? err.waitMs : null));
    },

    async userEmail(userId: string): Promise<string | null> {
      const client = await webClient();
      const res = await limits.call('users.info', () => client.users.info({ user: userId }), webApiLimit);
      const email = res.user?.profile?.email;
      return typeof email === 'string' && email ? email : null;
    },

    async userName(userId: string): Promise<string | null> {
      const client = await webClient();
      const res = await limits.call('users.info', () => client.users.info({ user: userId }), webApiLimit);
      const name = res.user?.name;
      return typeof name === 'string' && name ? name : null;
    },

    // A user id as the channel posts into the app's DM with that user (its App Home's Messages
    // tab): chat:write is enough, no conversations.open (and no im:write scope) first.
    async dm(userId: string, message: SlackMessage): Promise<void> {
      const client = await webClient();
      const { text, blocks } = fitMessage(message);
      await limits.call('chat.postMessage', () => client.chat.postMessage({ channel: userId, text, blocks: blocks as never }), webApiLimit);
    },

    async publishHome(userId: string, view: HomeView): Promise<void> {
      const client = await webClient();
      const fitted = { ...view, blocks: fitBlocks(view.blocks, LIMITS.homeBlocks) };
      await limits.call('views.publish', () => client.views.publish({ user_id: userId, view: fitted as never }), webApiLimit);
    },
  };
}

/** Slack's answers that mean a token itself is wrong: a configuration error, not an outage. */
export const TOKEN_REJECTED: ReadonlySet<string> = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired', 'not_allowed_token_type']);

/** The error name Slack answered a Web API call with (`channel_not_found`, `ratelimited`…), or null. */
export function slackErrorName(err: unknown): string | null {
  const data = (err as { data?: { error?: unknown } } | null)?.data;
  return typeof data?.error === 'string' ? data.error : null;
}

/** True when a Web API call failed because Slack rejected SLACK_BOT_TOKEN. */
export function tokenRejected(err: unknown): boolean {
  const name = slackErrorName(err);
  return name !== null && TOKEN_REJECTED.has(name);
}
