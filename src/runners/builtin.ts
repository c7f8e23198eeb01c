// The commands a bound user can run when no INTERNAL_APP_URL is set, so the product is useful
// and demonstrable out of the box. `help` and `whoami` are the slash command's own subcommands.
import { ephemeralText, mrkdwn } from '../slack/messages.ts';
import type { CommandRunner } from './runner.ts';

const noAppForActions = ephemeralText('No internal application is connected, so there is nothing to do with that button.');

const BUILTIN_COMMANDS = ['echo <text>', 'whoami', 'help'];

export const builtinApp: CommandRunner = {
  builtins: BUILTIN_COMMANDS,
  async run(req) {
    const [word = '', ...rest] = req.text.split(/\s+/);
    if (word.toLowerCase() === 'echo') {
      const said = rest.join(' ');
      return { outcome: 'ok', message: ephemeralText(said ? `${mrkdwn(said)}\n_(echoed for ${mrkdwn(req.internal_user)})_` : `_Nothing to echo, ${mrkdwn(req.internal_user)}._`) };
    }
    const text =
      `\`${mrkdwn(word)}\` is not a command here. No internal application is connected yet, ` +
      `so these built-in commands exist: ${BUILTIN_COMMANDS.map((c) => `\`${req.command} ${mrkdwn(c)}\``).join(', ')}.`;
    return { outcome: 'ok', message: ephemeralText(text) };
  },
  async runAction() {
    return { outcome: 'ok', message: noAppForActions };
  },
};
