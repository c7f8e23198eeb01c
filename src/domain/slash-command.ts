// What a slash command means: which subcommand the text asks for (a pure function, with a table
// test of its precedence), and what follows for a bound or an unbound user. Returns the message and
// the outcome; a transport (the HTTP route, the socket) verifies, parses and replies.
import * as messages from '../slack/messages.ts';
import { fitMessage } from '../slack/block-kit-limits.ts';
import { describeVerification } from './link-proofs.ts';
import type { SlashCommand } from '../slack/command-payload.ts';
import type { LinkOffer, Linking, StartOutcome } from './linking.ts';
import type { GridMigration } from './grid-migration.ts';
import type { RunAsUser } from './run-as-user.ts';
import type { CommandRunner } from '../runners/runner.ts';
import type { Config } from '../config/index.ts';
import type { Actor, Binding } from '../model.ts';
import type { RequestClaim, Store } from '../store/store.ts';
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

/** The request's replay claim was taken already: the transport refuses it. */
export interface Replayed {
  outcome: 'replayed';
}

export interface SlashCommandsDeps {
  config: Pick<Config, 'linkVerification' | 'linkRateLimitPerMinute' | 'nonceTtlSeconds'>;
  store: Pick<Store, 'startCommand'>;
  /** On Enterprise Grid, a binding under the workspace's key from before it joined the organisation. */
  grid: Pick<GridMigration, 'getBinding'>;
  linking: Pick<Linking, 'offer' | 'offered' | 'start' | 'confirmCode' | 'unlink'>;
  runAsUser: Pick<RunAsUser, 'answer' | 'noteUse'>;
  runner: Pick<CommandRunner, 'builtins'>;
}

export type SlashCommands = ReturnType<typeof createSlashCommands>;

/** What an unbound user is told with their new link, for each subcommand that makes one. */
function linkReason(cmd: SlashCommand, sub: Subcommand): string {
  switch (sub.kind) {
    case 'run':
      return `To run \`${cmd.command} ${sub.word}\` as yourself, link your account first.`;
    case 'whoami':
      return 'You are not linked to an account yet.';
    case 'unlink':
      return 'You are not linked to an account, so there is nothing to unlink.';
    default:
      return 'Link your Slack user to your account.';
  }
}

export function createSlashCommands({ config, store, grid, linking, runAsUser, runner }: SlashCommandsDeps) {
  const codeMode = config.linkVerification === 'code';

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

  /**
   * A slash command, with the request's replay claim when the transport has one (signed HTTP).
   * The store claims, looks the user up and, for an unbound user whose command needs a link,
   * creates it, all in one call: a bound user's command is one round trip on PostgreSQL, and so is
   * a new link.
   */
  const handle = async (cmd: SlashCommand, requestId: string, claim: RequestClaim | null): Promise<SlashResult | Replayed> => {
    const by: Actor = { actor: `slack:${cmd.user.userId}`, requestId, clientAddress: null };
    // What the command means if the user is not bound; a bound user's `confirm` may mean otherwise.
    const unbound = chooseSubcommand(cmd.text, { codeMode, bound: false });
    const makesLink = unbound.kind !== 'help' && unbound.kind !== 'confirm';
    const request = { command: cmd.command, pendingText: unbound.kind === 'run' ? cmd.text : null, channelId: cmd.channelId, responseUrl: cmd.responseUrl };
    const linkReply = (made: StartOutcome): SlashResult =>
      made.outcome === 'link_rate_limited'
        ? { outcome: made.outcome, message: messages.tooManyLinks(config.linkRateLimitPerMinute) }
        : { outcome: made.outcome, message: messages.linkPrompt(made.url, linkReason(cmd, unbound), config.nonceTtlSeconds) };
    // On Enterprise Grid a user who looks unbound may still be bound under their workspace's key
    // (grid-migration.ts): their link waits until that is checked, after this call.
    const onGrid = cmd.user.org !== cmd.user.teamId;
    let offer: LinkOffer | undefined;
    const link = () => {
      offer = linking.offer(request);
      return offer.link;
    };
    const started = await store.startCommand({ user: cmd.user, now: Date.now(), claim, link: makesLink && !onGrid ? link : null, by });
    if (started.outcome === 'replayed') return started;
    if (started.outcome === 'link_created' || started.outcome === 'link_rate_limited') return linkReply(linking.offered(offer!, started.outcome === 'link_created'));

    let binding = started.outcome === 'bound' ? started.binding : undefined;
    if (!binding && onGrid) {
      binding = await grid.getBinding(cmd.user);
      if (binding) runAsUser.noteUse(binding, requestId);
      else if (makesLink) return linkReply(await linking.start(cmd.user, request, by));
    }
    const sub = binding ? chooseSubcommand(cmd.text, { codeMode, bound: true }) : unbound;
    if (sub.kind === 'help') {
      const help = messages.help(cmd.command, binding, {
        verification: describeVerification(config.linkVerification, cmd.command),
        withConfirm: codeMode,
        builtins: runner.builtins,
      });
      return { outcome: 'help', message: help, binding };
    }
    if (sub.kind === 'confirm') return confirmCode(cmd, sub.code, by);
    // Unbound, with a command that makes a link: the store made it (above).
    if (!binding) throw new Error(`an unbound user's ${sub.kind} made no link`);
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
  return async (cmd: SlashCommand, requestId: string, claim: RequestClaim | null = null): Promise<SlashResult | Replayed> => {
    const result = await handle(cmd, requestId, claim);
    return result.outcome !== 'replayed' && result.message ? { ...result, message: fitMessage(result.message) } : result;
  };
}
