// Posting an answer to a response_url, the one place that knows what to do when Slack refuses it: an
// in_channel answer that a channel's posting restrictions keep out (an announcement-only channel,
// #general limited to admins, an archived channel, a private one the app is not in) reaches its
// user all the same, ephemerally, with one line saying why. Anything else refused is thrown.
import * as messages from '../slack/messages.ts';
import { ResponseUrlRefused, type SlackApi } from '../slack/api.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';

export interface AnswerDeliveryDeps {
  slack: Pick<SlackApi, 'respond'>;
  log: Logger;
  metrics: Pick<Metrics, 'inc'>;
}

/** Refusals counted under their own name; any other under `other` (the label's values stay few). */
const KNOWN_REFUSALS: ReadonlySet<string> = new Set([
  'posting_to_general_channel_denied',
  'restricted_action',
  'action_prohibited',
  'channel_not_found',
  'channel_is_archived',
  'is_archived',
]);

export type DeliverAnswer = (responseUrl: string, message: messages.SlackMessage, about: { requestId: string; slackUser: string }) => Promise<void>;

export function createAnswerDelivery({ slack, log, metrics }: AnswerDeliveryDeps): DeliverAnswer {
  return async (responseUrl, message, { requestId, slackUser }) => {
    try {
      await slack.respond(responseUrl, message);
    } catch (err) {
      if (!(err instanceof ResponseUrlRefused) || message.response_type !== 'in_channel') throw err;
      log.warn('in_channel_refused', { request_id: requestId, slack_user: slackUser, reason: err.error, status: err.status });
      metrics.inc('slack_in_channel_refused_total', { reason: KNOWN_REFUSALS.has(err.error) ? err.error : 'other' });
      await slack.respond(responseUrl, messages.notPostedInChannel(message, err.error));
    }
  };
}
