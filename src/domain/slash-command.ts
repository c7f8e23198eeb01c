// What a slash command means: which subcommand the text asks for (a pure function, with a table
// test of its precedence), and what follows for a bound or an unbound user. Returns the message and
// the outcome; a transport (the HTTP route, the socket) verifies, parses and replies.
import * as messages from '../slack/messages.ts';
import { fitMessage } from '../slack/block-kit-limits.ts';
import { describeVerification } from './link-proofs.ts';
import type { SlashCommand } from '../slack/command-payload.ts';
import type { Linking, StartOutcome } from './linking.ts';
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

/** What a bound user's text can mean: their `confirm …` is the internal application's. */
export type BoundSubcommand = Exclude<Subcommand, { kind: 'confirm' }>;

/** What an unbound user's text can mean without a link: help, or code mode's confirm. */
type LinkFree = Extract<Subcommand, { kind: 'help' | 'confirm' }>;
const needsNoLink = (sub: Subcommand): sub is LinkFree => sub.kind === 'help' || sub.kind === 'confirm';

/**
 * Precedence: an empty text or `help` is help, always; `confirm` is ours only in code mode and only
 * for a user who is not bound yet (a bound user's `confirm …` belongs to the internal
 * application); then `link`, `whoami`, `unlink`; anything else is run. Case-insensitive.
 */
export function chooseSubcommand(text: string, o: { codeMode: boolean; bound: true }): BoundSubcommand;
export function chooseSubcommand(text: string, o: { codeMode: boolean; bound: boolean }): Subcommand;
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

/** Who is asking, as the store (and, on Grid, a move from the workspace's key) tells it. */
type Caller =
  | Replayed
  | { outcome: 'bound'; binding: Binding }
  /** Not bound, with a command that needs no link. */
  | { outcome: 'unbound'; sub: LinkFree }
  /** Not bound: a link was made for them, or refused for the rate limit. */
  | { outcome: 'offered'; made: StartOutcome };

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

/** `make()`, called at most once: the same value however many times it is asked for. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}

export function createSlashCommands({ config, store, grid, linking, runAsUser, runner }: SlashCommandsDeps) {
  const codeMode = config.linkVerification === 'code';

  /**
   * Who is asking, in the store's one call (one round trip on PostgreSQL): the replay claim, then
   * their binding, or, for an unbound user whose command needs a link, that link, made in the same
   * call. On Enterprise Grid a user who looks unbound may be bound under their workspace's key from
   * before it joined the organisation (grid-migration.ts): their link waits until that is checked.
   */
  const identify = async (cmd: SlashCommand, sub: Subcommand, claim: RequestClaim | null, requestId: string, by: Actor): Promise<Caller> => {
    const request = { command: cmd.command, pendingText: sub.kind === 'run' ? cmd.text : null, channelId: cmd.channelId, responseUrl: cmd.responseUrl };
    const onGrid = cmd.user.org !== cmd.user.teamId;
    // Made only if the store asks for it: SQLite for a user it finds unbound, PostgreSQL always (it sends the link ahead).
    const offer = once(() => linking.offer(request));
    const link = needsNoLink(sub) || onGrid ? null : () => offer().link;
    const started = await store.startCommand({ user: cmd.user, now: Date.now(), claim, link, by });
    switch (started.outcome) {
      case 'replayed':
      case 'bound':
        return started;
      case 'link_created':
      case 'link_rate_limited':
        return { outcome: 'offered', made: linking.offered(offer(), started.outcome === 'link_created') };
      case 'unbound': {
        const moved = onGrid ? await grid.getBinding(cmd.user) : undefined;
        if (moved) {
          runAsUser.noteUse(moved, requestId);
          return { outcome: 'bound', binding: moved };
        }
        if (needsNoLink(sub)) return { outcome: 'unbound', sub };
        // On Grid the store was given no link (above): it is made now.
        return { outcome: 'offered', made: await linking.start(cmd.user, request, by) };
      }
    }
  };

  const helpReply = (cmd: SlashCommand, binding: Binding | undefined): SlashResult => {
    const help = messages.help(cmd.command, binding, {
      verification: describeVerification(config.linkVerification, cmd.command),
      withConfirm: codeMode,
      builtins: runner.builtins,
    });
    return { outcome: 'help', message: help, binding };
  };

  const linkReply = (cmd: SlashCommand, sub: Subcommand, made: StartOutcome): SlashResult =>
    made.outcome === 'link_rate_limited'
      ? { outcome: made.outcome, message: messages.tooManyLinks(config.linkRateLimitPerMinute) }
      : { outcome: made.outcome, message: messages.linkPrompt(made.url, linkReason(cmd, sub), config.nonceTtlSeconds) };

  /** code mode: the code the browser showed, typed by a user not bound yet. */
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

  /** A bound user's command: help, whoami, link and unlink are ours; anything else runs as them. */
  const asBound = async (cmd: SlashCommand, binding: Binding, requestId: string, by: Actor): Promise<SlashResult> => {
    const sub = chooseSubcommand(cmd.text, { codeMode, bound: true });
    switch (sub.kind) {
      case 'help':
        return helpReply(cmd, binding);
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

  /** A slash command, with the request's replay claim when the transport has one (signed HTTP). */
  const handle = async (cmd: SlashCommand, requestId: string, claim: RequestClaim | null): Promise<SlashResult | Replayed> => {
    const by: Actor = { actor: `slack:${cmd.user.userId}`, requestId, clientAddress: null };
    // What the command means if the user is not bound (a bound user's `confirm …` means otherwise: asBound).
    const sub = chooseSubcommand(cmd.text, { codeMode, bound: false });
    const caller = await identify(cmd, sub, claim, requestId, by);
    switch (caller.outcome) {
      case 'replayed':
        return caller;
      case 'offered':
        return linkReply(cmd, sub, caller.made);
      case 'unbound':
        return caller.sub.kind === 'help' ? helpReply(cmd, undefined) : confirmCode(cmd, caller.sub.code, by);
      case 'bound':
        return asBound(cmd, caller.binding, requestId, by);
    }
  };

  /** The reply as Slack will take it (Block Kit's limits): a long answer is cut, never refused by Slack. */
  return async (cmd: SlashCommand, requestId: string, claim: RequestClaim | null = null): Promise<SlashResult | Replayed> => {
    const result = await handle(cmd, requestId, claim);
    return result.outcome !== 'replayed' && result.message ? { ...result, message: fitMessage(result.message) } : result;
  };
}
