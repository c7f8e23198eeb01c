// Running a bound user's command inside Slack's 3 seconds: answer inline when the runner is
// quick, otherwise say "working on it" at once and post the answer to the command's response_url
// when it arrives. Knows nothing of HTTP: it returns the message and its outcome.
import * as messages from '../slack/messages.ts';
import type { SlackApi } from '../slack/api.ts';
import type { CommandRequest, CommandResult, CommandRunner } from '../runners/runner.ts';
import type { Binding, Link } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Background } from '../lib/background.ts';
import type { CommandOutcome } from '../outcomes.ts';

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

export interface Answer {
  outcome: CommandOutcome;
  message: messages.SlackMessage;
}

export interface RunCommandDeps {
  runner: CommandRunner;
  /** The internal application says the binding's user no longer exists (410): end the binding. */
  onUserGone(binding: Binding, requestId: string): Promise<unknown>;
  slack: SlackApi;
  log: Logger;
  metrics: Metrics;
  background: Background;
}

export type CommandAnswerer = ReturnType<typeof createCommandAnswerer>;

export function createCommandAnswerer({ runner, onUserGone, slack, log, metrics, background }: RunCommandDeps) {
  const run = async (binding: Binding, cmd: CommandContext, requestId: string): Promise<CommandResult> => {
    const request: CommandRequest = {
      type: 'command',
      internal_user: binding.internalUser,
      command: cmd.command,
      text: cmd.text,
      slack: {
        team_id: binding.teamId,
        enterprise_id: binding.enterpriseId,
        user_id: binding.userId,
        user_name: binding.userName,
        channel_id: cmd.channelId,
      },
    };
    const started = performance.now();
    const result = await runner.run(request, requestId);
    const ms = performance.now() - started;
    if (result.outcome === 'user_gone') await onUserGone(binding, requestId);
    if (result.outcome === 'misconfigured') log.error('internal_app_token_rejected', { request_id: requestId, fix: 'INTERNAL_APP_TOKEN is not the token the internal application expects' });
    metrics.observeInternalApp(ms / 1000);
    log[result.outcome === 'ok' ? 'info' : 'warn']('internal_app_call', {
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

  /** False when the delivery could not even start (too much background work in flight). */
  const deliverLater = (binding: Binding, responseUrl: string, work: () => Promise<CommandResult>, requestId: string): boolean =>
    background.run('command_delivery', { request_id: requestId, slack_user: binding.userId }, async () => {
      await slack.respond(responseUrl, (await work()).message);
      log.info('command_delivery', { request_id: requestId, slack_user: binding.userId, outcome: 'sent' });
    });

  return {
    /** The answer to a bound user's slash command, within Slack's 3 seconds. */
    async answer(binding: Binding, cmd: CommandContext, requestId: string): Promise<Answer> {
      const work = run(binding, cmd, requestId);
      let timer: NodeJS.Timeout | undefined;
      const inline = await Promise.race([work, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), INLINE_WAIT_MS)))]);
      clearTimeout(timer);
      if (inline) return { outcome: `command_${inline.outcome}`, message: inline.message };
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
  };
}
