// Running a bound user's command inside Slack's 3 seconds: answer inline when the internal
// application is quick, otherwise say "working on it" at once and post the answer to the
// command's response_url when it arrives.
import { json, type Context, type Reply } from './http.ts';
import * as messages from './slack/messages.ts';
import type { CommandRequest, CommandResult } from './internal-app.ts';
import type { Services } from './services.ts';
import type { Binding, Link } from './store.ts';

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

export type CommandAnswerer = ReturnType<typeof createCommandAnswerer>;

export function createCommandAnswerer({ log, slack, background, runCommand, metrics }: Services) {
  const run = async (binding: Binding, cmd: CommandContext, requestId: string): Promise<CommandResult> => {
    const request: CommandRequest = {
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
    const result = await runCommand(request, requestId);
    const ms = performance.now() - started;
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

  const deliverLater = (binding: Binding, responseUrl: string, work: Promise<CommandResult>, requestId: string) =>
    background.run('command_delivery', { request_id: requestId, slack_user: binding.userId }, async () => {
      await slack.respond(responseUrl, (await work).message);
      log.info('command_delivery', { request_id: requestId, slack_user: binding.userId, outcome: 'sent' });
    });

  return {
    /** The HTTP answer to a bound user's slash command. */
    async answer(ctx: Context, binding: Binding, cmd: CommandContext): Promise<Reply> {
      const work = run(binding, cmd, ctx.requestId);
      let timer: NodeJS.Timeout | undefined;
      const inline = await Promise.race([work, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), INLINE_WAIT_MS)))]);
      clearTimeout(timer);
      if (inline) {
        ctx.logFields.outcome = `command_${inline.outcome}`;
        return json(200, inline.message);
      }
      if (!slack.responseUrlAllowed(cmd.responseUrl)) {
        // Nowhere we may post the answer: let the work finish (it is under way) but say so now.
        log.warn('response_url_refused', { request_id: ctx.requestId, slack_user: binding.userId });
        ctx.logFields.outcome = 'command_undeliverable';
        void work.catch(() => undefined);
        return json(200, messages.cannotDeliverLater(cmd.command, cmd.text, ctx.requestId));
      }
      ctx.logFields.outcome = 'command_delayed';
      deliverLater(binding, cmd.responseUrl, work, ctx.requestId);
      return json(200, messages.working(cmd.command, cmd.text, binding));
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
      deliverLater(binding, link.responseUrl, run(binding, cmd, requestId), requestId);
      return { ran: typed };
    },
  };
}
