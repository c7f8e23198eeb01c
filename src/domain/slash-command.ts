// What a slash command means: which subcommand the text asks for (a pure function, with a table
// test of its precedence), and what follows for a bound or an unbound user. Returns the message and
// the outcome; a transport (the HTTP route, the socket) verifies, parses and replies.
import * as messages from '../slack/messages.ts';
import { fitMessage } from '../slack/block-kit-limits.ts';
import { describeVerification } from './link-proofs.ts';
import type { SlashCommand } from '../slack/command-payload.ts';
import type { Linking } from './linking.ts';
import type { RunAsUser } from './run-as-user.ts';
import type { CommandRunner } from '../runners/runner.ts';
import type { Config } from '../config/index.ts';
import type { Actor, Binding } from '../model.ts';
import type { Store } from '../store/store.ts';
import type { CommandOutcome } from '../outcomes.ts';

export type Subcommand =
  | { kind: 'help' }
  | { kind: 'confirm'; code: string | undefined }
  | { kind: 'link' }
  | { kind: 'whoami' }
  | { kind: 'unlink' }
  /** Anything else: a command for the internal application. */
  | { kind: 'run'; word: string };

/**
 * Precedence: an empty text or `help` is help, always; `confirm` is ours only in code mode and only
 * for a user who is not bound yet (a bound user's `confirm …` belongs to the internal
 * application); then `link`, `whoami`, `unlink`; anything else is run. Case-insensitive.
 */
export function chooseSubcommand(text: string, { codeMode, bound }: { codeMode: boolean; bound: boolean }): Subcommand {
  const [word = '', arg] = text.split(/\s+/, 2);
  const sub = word.toLowerCase();
  if (sub === '' || sub === 'help') return { kind: 'help' };
  if (sub === 'confirm' && codeMode && !bound) return { kind: 'confirm', code: arg };
  if (sub === 'link' || sub === 'whoami' || sub === 'unlink') return { kind: sub };
  return { kind: 'run', word };
}

export interface SlashResult {
  outcome: CommandOutcome;
  /** null: an empty acknowledgement (the answer follows through the response_url). */
  message: messages.SlackMessage | null;
  /** The binding the command acted as, when there is one (for the log line). */
  binding?: Binding;
}

export interface SlashCommandsDeps {
  config: Pick<Config, 'linkVerification' | 'linkRateLimitPerMinute' | 'nonceTtlSeconds'>;
  store: Pick<Store, 'getBinding'>;
  linking: Pick<Linking, 'start' | 'confirmCode' | 'unlink'>;
  runAsUser: Pick<RunAsUser, 'answer' | 'noteUse'>;
  runner: Pick<CommandRunner, 'builtins'>;
}

export type SlashCommands = ReturnType<typeof createSlashCommands>;

export function createSlashCommands({ config, store, linking, runAsUser, runner }: SlashCommandsDeps) {
  const codeMode = config.linkVerification === 'code';

  const startLinking = async (cmd: SlashCommand, by: Actor, reason: string, pendingText: string | null = null): Promise<SlashResult> => {
    const started = await linking.start(cmd.user, { command: cmd.command, pendingText, channelId: cmd.channelId, responseUrl: cmd.responseUrl }, by);
    if (started.outcome === 'link_rate_limited') return { outcome: started.outcome, message: messages.tooManyLinks(config.linkRateLimitPerMinute) };
    return { outcome: started.outcome, message: messages.linkPrompt(started.url, reason, config.nonceTtlSeconds) };
  };

  const confirmCode = async (cmd: SlashCommand, code: string | undefined, by: Actor): Promise<SlashResult> => {
    if (!code) return { outcome: 'code_usage', message: messages.codeOutcome(cmd.command, 'usage') };
    const result = await linking.confirmCode(cmd.user, code, by);
    switch (result.outcome) {
      case 'code_bound':
        return { ...result, message: messages.linkedReply(result.binding) };
      case 'code_already_bound':
        return { ...result, message: messages.alreadyLinked(cmd.command, result.binding) };
      case 'code_wrong':
        return { outcome: result.outcome, message: messages.codeOutcome(cmd.command, 'wrong', result.attemptsLeft) };
      case 'code_void':
        return { outcome: result.outcome, message: messages.codeOutcome(cmd.command, 'void') };
      case 'code_expired':
        return { outcome: result.outcome, message: messages.codeOutcome(cmd.command, 'expired') };
      case 'code_none':
        return { outcome: result.outcome, message: messages.codeOutcome(cmd.command, 'none') };
    }
  };

  const handle = async (cmd: SlashCommand, requestId: string): Promise<SlashResult> => {
    const binding = await store.getBinding(cmd.user);
    const sub = chooseSubcommand(cmd.text, { codeMode, bound: binding !== undefined });
    if (binding) runAsUser.noteUse(binding, requestId);
    const by: Actor = { actor: `slack:${cmd.user.userId}`, requestId, clientAddress: null };

    if (sub.kind === 'help') {
      const help = messages.help(cmd.command, binding, {
        verification: describeVerification(config.linkVerification, cmd.command),
        withConfirm: codeMode,
        builtins: runner.builtins,
      });
      return { outcome: 'help', message: help, binding };
    }
    if (sub.kind === 'confirm') return confirmCode(cmd, sub.code, by);
    if (!binding) {
      switch (sub.kind) {
        case 'link':
          return startLinking(cmd, by, 'Link your Slack user to your account.');
        case 'whoami':
          return startLinking(cmd, by, 'You are not linked to an account yet.');
        case 'unlink':
          return startLinking(cmd, by, 'You are not linked to an account, so there is nothing to unlink.');
        case 'run':
          return startLinking(cmd, by, `To run \`${cmd.command} ${sub.word}\` as yourself, link your account first.`, cmd.text);
      }
    }
    switch (sub.kind) {
      case 'whoami':
        return { outcome: 'whoami', message: messages.whoami(binding), binding };
      case 'link':
        return { outcome: 'already_linked', message: messages.alreadyLinked(cmd.command, binding), binding };
      case 'unlink': {
        const removed = await linking.unlink(cmd.user, by);
        // Removed meanwhile by someone else (an offboarding): the user is unlinked either way.
        return { outcome: 'unlinked', message: messages.unlinked(cmd.command, removed.outcome === 'unlinked' ? removed.binding : binding), binding };
      }
      case 'run':
        return { ...(await runAsUser.answer(binding, cmd, requestId)), binding };
    }
  };

  /** The reply as Slack will take it (Block Kit's limits): a long answer is cut, never refused by Slack. */
  return async (cmd: SlashCommand, requestId: string): Promise<SlashResult> => {
    const result = await handle(cmd, requestId);
    return result.message ? { ...result, message: fitMessage(result.message) } : result;
  };
}
