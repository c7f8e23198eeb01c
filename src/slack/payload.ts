// A slash command's form body → a typed command, or a 400 that says what is wrong. Signed
// payloads can still be malformed (a bug on Slack's side, a replayed test request).
import { HttpError, type Form } from '../http.ts';
import type { SlackUser } from '../store.ts';

export interface SlashCommand {
  user: SlackUser;
  /** e.g. "/acct" */
  command: string;
  /** Everything after the command, trimmed. */
  text: string;
  channelId: string | null;
  responseUrl: string | null;
}

const SLACK_ID = /^[A-Z0-9]{1,32}$/;
const COMMAND = /^\/[^\s]{1,64}$/;


export function parseSlashCommand(form: Form): SlashCommand {
  const id = (name: string, required: boolean): string | null => {
    const value = form.get(name);
    if (!value) {
      if (required) throw new HttpError(400, `The slash command payload has no ${name}.`);
      return null;
    }
    if (!SLACK_ID.test(value)) throw new HttpError(400, `The slash command payload has a malformed ${name}.`);
    return value;
  };
  const teamId = id('team_id', true)!;
  const userId = id('user_id', true)!;
  const enterpriseId = id('enterprise_id', false);
  const command = form.get('command') ?? '';
  if (!COMMAND.test(command)) throw new HttpError(400, 'The slash command payload has no valid command.');
  const text = (form.get('text') ?? '').trim();
  if (text.length > 4000) throw new HttpError(400, 'The slash command text is too long.');
  return {
    user: {
      // User ids are org-wide on Enterprise Grid, so the enterprise is the key there.
      org: enterpriseId ?? teamId,
      userId,
      teamId,
      enterpriseId,
      userName: (form.get('user_name') || userId).slice(0, 256),
      teamDomain: (form.get('team_domain') || teamId).slice(0, 256),
    },
    command,
    text,
    channelId: id('channel_id', false),
    responseUrl: form.get('response_url') || null,
  };
}
