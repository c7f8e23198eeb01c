// The internal application's one endpoint: we POST a bound user's command, it answers with a
// Slack message. Whatever comes back is checked before Slack sees it; every failure becomes a
// clear ephemeral message, never an exception.
import { ephemeralText, mrkdwn, type SlackMessage } from '../slack/messages.ts';
import { parseJsonObject, readLimitedText, type JsonObject } from '../lib/json.ts';
import { unreachableReason } from '../lib/unreachable.ts';
import type { ActionRequest, CommandRequest, CommandResult, CommandRunner, RunOutcome } from './runner.ts';

export interface InternalAppOptions {
  url: string;
  token: string;
  timeoutMs: number;
}

/** Slack refuses more than 50 blocks; a reply larger than this is not a chat message. */
const MAX_RESPONSE_BYTES = 256 * 1024;
const MAX_BLOCKS = 50;
const MAX_TEXT = 40_000;

const failure = (outcome: RunOutcome, text: string, detail?: string): CommandResult => ({ outcome, message: ephemeralText(text), detail });

export function createInternalApp({ url, token, timeoutMs }: InternalAppOptions): CommandRunner {
  /** One POST to the application's endpoint; every failure becomes an outcome with a message. */
  const call = async (body: CommandRequest | ActionRequest, label: string, requestId: string): Promise<CommandResult> => {
    let res: Response;
    let text: string | undefined;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json',
          'x-request-id': requestId,
        },
        body: JSON.stringify(body),
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await readLimitedText(res, MAX_RESPONSE_BYTES);
    } catch (err) {
      const e = err as Error;
      // The log's detail in the startup check's words, never the error's own text (it may quote the URL).
      const reason = unreachableReason(new URL(url), e, timeoutMs);
      if (e.name === 'TimeoutError') {
        return failure('timeout', `${label} did not finish within ${Math.round(timeoutMs / 1000)} seconds. (request ${requestId})`, reason);
      }
      return failure('unreachable', `The internal application cannot be reached right now. Please try again later. (request ${requestId})`, reason);
    }
    if (text === undefined) {
      return failure('invalid_response', `${label} answered with more than Slack can show. (request ${requestId})`, `response larger than ${MAX_RESPONSE_BYTES} bytes`);
    }

    const parsed = parseJsonObject(text);
    if (!res.ok) {
      const reason = typeof parsed?.error === 'string' ? parsed.error.slice(0, 500) : undefined;
      if (res.status === 401) {
        // Our token was refused: the administrator's problem, not a permission of this user.
        return failure(
          'misconfigured',
          `This service is misconfigured and cannot run commands right now. Please tell your administrator (request ${requestId}).`,
          'HTTP 401: the internal application rejected INTERNAL_APP_TOKEN',
        );
      }
      if (res.status === 403) {
        return failure('forbidden', `You are not allowed to run ${label}${reason ? `: ${mrkdwn(reason)}` : '.'}`, `HTTP ${res.status}`);
      }
      if (res.status === 410) {
        return failure(
          'user_gone',
          `The internal application says your account *${mrkdwn(body.internal_user)}* no longer exists, so this Slack user is no longer linked to it. (request ${requestId})`,
          'HTTP 410: internal user gone',
        );
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

  return {
    builtins: null,
    run: (req, requestId) => call(req, `\`${mrkdwn(`${req.command} ${req.text}`.trim())}\``, requestId),
    runAction: (req, requestId) => call(req, `that button (\`${mrkdwn(req.action.action_id)}\`)`, requestId),
  };
}

/** `{ text, blocks?, response_type?, replace_original? }`, checked field by field; undefined when malformed. */
export function toSlackMessage(value: JsonObject): SlackMessage | undefined {
  const { text, blocks, response_type, replace_original } = value;
  if (typeof text !== 'string' || !text || text.length > MAX_TEXT) return undefined;
  if (blocks !== undefined && !(Array.isArray(blocks) && blocks.length <= MAX_BLOCKS && blocks.every(isBlock))) return undefined;
  if (response_type !== undefined && response_type !== 'ephemeral' && response_type !== 'in_channel') return undefined;
  if (replace_original !== undefined && typeof replace_original !== 'boolean') return undefined;
  return { response_type: response_type ?? 'ephemeral', text, ...(blocks ? { blocks } : {}), ...(replace_original !== undefined ? { replace_original } : {}) };
}

const isBlock = (b: unknown): boolean =>
  typeof b === 'object' && b !== null && !Array.isArray(b) && typeof (b as { type?: unknown }).type === 'string';

