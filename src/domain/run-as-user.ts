// Acting as a bound user in the internal application: their slash commands (inline within Slack's 3
// seconds, else "working on it" at once and the answer posted to the response_url when it comes)
// and their clicks on the application's own buttons. One rule for both: a 410 ends the binding, and
// every use is noted (at most once an hour). Knows nothing of HTTP: it returns messages and outcomes.
import { within } from '../lib/within.ts';
import * as messages from '../slack/messages.ts';
import { describe, type Logger } from '../lib/log.ts';
import { LAST_USED_RESOLUTION_MS, type Binding, type Link } from '../model.ts';
import type { SlackApi } from '../slack/api.ts';
import type { ActionRequest, CommandRequest, CommandResult, CommandRunner } from '../runners/runner.ts';
import type { Store } from '../store/store.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Background } from '../lib/background.ts';
import type { CommandOutcome } from '../outcomes.ts';
import type { Revocation } from './revocation.ts';
import type { DeliverAnswer } from './answer-delivery.ts';

/** Slack waits 3 s for the HTTP answer; what is not ready by then goes to response_url. */
export const INLINE_WAIT_MS = 2000;
/** Slack accepts posts to a response_url for 30 minutes after the command. */
export const RESPONSE_URL_LIFETIME_MS = 30 * 60_000;

export interface CommandContext {
  command: string;
  text: string;
  channelId: string | null;
  responseUrl: string | null;
}

/** A click on one of the internal application's own buttons, and where it happened. */
export interface ActionContext {
  action: ActionRequest['action'];
  channelId: string | null;
  messageTs: string | null;
}

export interface Answer {
  outcome: CommandOutcome;
  /** null: nothing in the HTTP answer (an in_channel answer goes through the response_url instead). */
  message: messages.SlackMessage | null;
}

export interface RunAsUserDeps {
  runner: CommandRunner;
  revocation: Pick<Revocation, 'revoke'>;
  store: Pick<Store, 'touchBinding'>;
  slack: Pick<SlackApi, 'responseUrlAllowed'>;
  deliver: DeliverAnswer;
  log: Logger;
  metrics: Metrics;
  background: Background;
}

export type RunAsUser = ReturnType<typeof createRunAsUser>;

export function createRunAsUser({ runner, revocation, store, slack, deliver, log, metrics, background }: RunAsUserDeps) {
  const slackOf = (b: Binding) => ({ team_id: b.teamId, enterprise_id: b.enterpriseId, user_id: b.userId });

  /** What every call of the runner is followed by: its log line, its latency, and the 410 rule. */
  const settle = async (binding: Binding, result: CommandResult, ms: number, event: string, requestId: string): Promise<CommandResult> => {
    if (result.outcome === 'user_gone') {
      await revocation.revoke({ identity: binding }, 'internal_user_inactive', { actor: 'internal_app', requestId, clientAddress: null });
    }
    if (result.outcome === 'misconfigured') log.error('internal_app_token_rejected', { request_id: requestId, fix: 'INTERNAL_APP_TOKEN is not the token the internal application expects' });
    metrics.observeInternalApp(ms / 1000);
    log[result.outcome === 'ok' ? 'info' : 'warn'](event, {
      request_id: requestId,
      slack_team: binding.teamId,
      slack_user: binding.userId,
      internal_user: binding.internalUser,
      outcome: result.outcome,
      detail: result.detail,
      duration_ms: Math.round(ms),
    });
    return result;
  };

  const run = async (binding: Binding, cmd: CommandContext, requestId: string): Promise<CommandResult> => {
    const request: CommandRequest = {
      type: 'command',
      internal_user: binding.internalUser,
      command: cmd.command,
      text: cmd.text,
      slack: { ...slackOf(binding), user_name: binding.userName, channel_id: cmd.channelId },
    };
    const started = performance.now();
    const result = await runner.run(request, requestId);
    return settle(binding, result, performance.now() - started, 'internal_app_call', requestId);
  };

  /** False when the delivery could not even start (too much background work in flight). */
  const deliverLater = (binding: Binding, responseUrl: string, work: () => Promise<CommandResult>, requestId: string): boolean =>
    background.run('command_delivery', { request_id: requestId, slack_user: binding.userId }, async () => {
      await deliver(responseUrl, (await work()).message, { requestId, slackUser: binding.userId });
      log.info('command_delivery', { request_id: requestId, slack_user: binding.userId, outcome: 'sent' });
    });

  /**
   * A use of the binding (a command, a click): "last used" is written at most once an hour per
   * binding and never awaited, so that a bound user's commands stay reads.
   */
  const noteUse = (binding: Binding, requestId: string, now = Date.now()): void => {
    if (binding.lastUsedAt !== null && binding.lastUsedAt >= now - LAST_USED_RESOLUTION_MS) return;
    store.touchBinding(binding, now).catch((err) => log.warn('last_used_not_recorded', { request_id: requestId, error: describe(err) }));
  };

  return {
    noteUse,

    /** The answer to a bound user's slash command, within Slack's 3 seconds. */
    async answer(binding: Binding, cmd: CommandContext, requestId: string): Promise<Answer> {
      const work = run(binding, cmd, requestId);
      const inline = await within(work, INLINE_WAIT_MS, undefined);
      if (inline) {
        // An in_channel answer returned inline is posted by Slack, which tells us nothing when the
        // channel refuses it (its posting restrictions): through the response_url, a refusal is
        // seen and the answer reaches its user ephemerally instead. Without one, inline as before.
        const outcome: CommandOutcome = `command_${inline.outcome}`;
        if (inline.message.response_type === 'in_channel' && slack.responseUrlAllowed(cmd.responseUrl) && deliverLater(binding, cmd.responseUrl, async () => inline, requestId)) {
          return { outcome, message: null };
        }
        return { outcome, message: inline.message };
      }
      if (!slack.responseUrlAllowed(cmd.responseUrl)) {
        // Nowhere we may post the answer: let the work finish (it is under way) but say so now.
        log.warn('response_url_refused', { request_id: requestId, slack_user: binding.userId });
        return { outcome: 'command_undeliverable', message: messages.cannotDeliverLater(cmd.command, cmd.text, requestId) };
      }
      if (!deliverLater(binding, cmd.responseUrl, () => work, requestId)) {
        return { outcome: 'command_undeliverable', message: messages.tooBusyToDeliver(cmd.command, cmd.text, requestId) };
      }
      return { outcome: 'command_delayed', message: messages.working(cmd.command, cmd.text, binding) };
    },

    /**
     * The command a user typed before they were linked, run now that they are, its answer posted
     * to the original response_url. Not run when the answer could not be shown (then the user is
     * asked to run it again): a command whose result nobody sees is worse than none.
     */
    runPending(binding: Binding, link: Link, requestId: string, now = Date.now()): messages.PendingNote {
      if (!link.pendingText) return null;
      const typed = `${link.command} ${link.pendingText}`;
      if (!slack.responseUrlAllowed(link.responseUrl) || now - link.createdAt >= RESPONSE_URL_LIFETIME_MS) return { again: typed };
      const cmd = { command: link.command, text: link.pendingText, channelId: link.channelId, responseUrl: link.responseUrl };
      // The command starts only if its delivery has room: a command whose answer is dropped is not run.
      const started = deliverLater(binding, link.responseUrl, () => run(binding, cmd, requestId), requestId);
      return started ? { ran: typed } : { again: typed };
    },

    /** A click on the internal application's own message, run as the bound user: its answer. */
    async runAction(binding: Binding, click: ActionContext, requestId: string): Promise<CommandResult> {
      const request: ActionRequest = {
        type: 'action',
        internal_user: binding.internalUser,
        action: click.action,
        slack: { ...slackOf(binding), channel_id: click.channelId, message_ts: click.messageTs },
      };
      const started = performance.now();
      const result = await runner.runAction(request, requestId);
      if (result.outcome !== 'user_gone') noteUse(binding, requestId);
      return settle(binding, result, performance.now() - started, 'internal_app_action', requestId);
    },
  };
}
