// The internal application's one endpoint: we POST a bound user's command, it answers with a
// Slack message. Whatever comes back is checked before Slack sees it; every failure becomes a
// clear ephemeral message, never an exception.
import type { SlackMessage } from './slack/messages.ts';
import { mrkdwn } from './slack/messages.ts';

export interface CommandRequest {
  internal_user: string;
  command: string;
  text: string;
  slack: { team_id: string; enterprise_id: string | null; user_id: string; user_name: string; channel_id: string | null };
}

export type Outcome = 'ok' | 'forbidden' | 'app_error' | 'timeout' | 'unreachable' | 'invalid_response';

export interface CommandResult {
  outcome: Outcome;
  message: SlackMessage;
  /** Log-only detail of a failure. */
  detail?: string;
}

export type CommandRunner = (req: CommandRequest, requestId: string) => Promise<CommandResult>;

export interface InternalAppOptions {
  url: string;
  token: string;
  timeoutMs: number;
}

/** Slack refuses more than 50 blocks; a reply larger than this is not a chat message. */
const MAX_RESPONSE_BYTES = 256 * 1024;
const MAX_BLOCKS = 50;
const MAX_TEXT = 40_000;

const failure = (outcome: Outcome, text: string, detail?: string): CommandResult => ({
  outcome,
  message: { response_type: 'ephemeral', text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] },
  detail,
});

export function createInternalApp({ url, token, timeoutMs }: InternalAppOptions): CommandRunner {
  return async (req, requestId) => {
    const label = `\`${mrkdwn(`${req.command} ${req.text}`.trim())}\``;
    let res: Response;
    let body: string;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json',
          'x-request-id': requestId,
        },
        body: JSON.stringify(req),
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
      body = await readLimited(res, MAX_RESPONSE_BYTES);
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError') {
        return failure('timeout', `${label} did not finish within ${Math.round(timeoutMs / 1000)} seconds. (request ${requestId})`, e.message);
      }
      if (e.name === 'ResponseTooLarge') return failure('invalid_response', `${label} answered with more than Slack can show. (request ${requestId})`, e.message);
      return failure('unreachable', `The internal application cannot be reached right now. Please try again later. (request ${requestId})`, describeFetchError(e));
    }

    const parsed = parseJson(body);
    if (!res.ok) {
      const reason = typeof parsed?.error === 'string' ? parsed.error.slice(0, 500) : undefined;
      if (res.status === 401 || res.status === 403) {
        return failure('forbidden', `You are not allowed to run ${label}${reason ? `: ${mrkdwn(reason)}` : '.'}`, `HTTP ${res.status}`);
      }
      return failure(
        'app_error',
        `${label} failed in the internal application${reason ? `: ${mrkdwn(reason)}` : ` (HTTP ${res.status})`}. (request ${requestId})`,
        `HTTP ${res.status}`,
      );
    }
    const message = parsed && toSlackMessage(parsed);
    if (!message) {
      return failure('invalid_response', `${label} returned an answer Slack cannot show. (request ${requestId})`, 'response is not a valid message');
    }
    return { outcome: 'ok', message };
  };
}

/** `{ text, blocks?, response_type? }`, checked field by field; undefined when malformed. */
export function toSlackMessage(value: Record<string, unknown>): SlackMessage | undefined {
  const { text, blocks, response_type } = value;
  if (typeof text !== 'string' || !text || text.length > MAX_TEXT) return undefined;
  if (blocks !== undefined && !(Array.isArray(blocks) && blocks.length <= MAX_BLOCKS && blocks.every(isBlock))) return undefined;
  if (response_type !== undefined && response_type !== 'ephemeral' && response_type !== 'in_channel') return undefined;
  return { response_type: response_type ?? 'ephemeral', text, ...(blocks ? { blocks } : {}) };
}

const isBlock = (b: unknown): boolean =>
  typeof b === 'object' && b !== null && !Array.isArray(b) && typeof (b as { type?: unknown }).type === 'string';

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function readLimited(res: Response, limit: number): Promise<string> {
  if (Number(res.headers.get('content-length')) > limit) throw tooLarge(limit);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(limit: number): Error {
  const err = new Error(`response larger than ${limit} bytes`);
  err.name = 'ResponseTooLarge';
  return err;
}

const describeFetchError = (e: Error): string => {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? e.message;
};
