// The command runner contract: how a bound user's command is run. Two implementations: the
// internal application over HTTP (src/internal-app.ts), or the built-in commands when none is
// connected (src/builtin-app.ts); main.ts chooses one, once.
import type { SlackMessage } from '../slack/messages.ts';

/** What the internal application receives (README: "The internal application contract"). */
export interface CommandRequest {
  type: 'command';
  internal_user: string;
  command: string;
  text: string;
  slack: { team_id: string; enterprise_id: string | null; user_id: string; user_name: string; channel_id: string | null };
}

/**
 * forbidden: the application refused this user (403). misconfigured: it refused our token (401).
 * user_gone: it says the internal user no longer exists (410), which ends the binding.
 */
/** A click on a button (or menu) of the internal application's own Block Kit answer. */
export interface ActionRequest {
  type: 'action';
  internal_user: string;
  action: { action_id: string; block_id: string | null; value: string | null; selected_option: unknown };
  slack: { team_id: string; enterprise_id: string | null; user_id: string; channel_id: string | null; message_ts: string | null };
}

export const RUN_OUTCOMES = ['ok', 'forbidden', 'misconfigured', 'user_gone', 'app_error', 'timeout', 'unreachable', 'invalid_response'] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

export interface CommandResult {
  outcome: RunOutcome;
  message: SlackMessage;
  /** Log-only detail of a failure. */
  detail?: string;
}

export interface CommandRunner {
  /** Runs the command as `req.internal_user`. Never rejects: every failure is an outcome with a message. */
  run(req: CommandRequest, requestId: string): Promise<CommandResult>;
  /** Forwards a click on the application's own message, as `req.internal_user`. Never rejects. */
  runAction(req: ActionRequest, requestId: string): Promise<CommandResult>;
  /** The built-in commands, for help, when no internal application is connected. */
  builtins: readonly string[] | null;
}
