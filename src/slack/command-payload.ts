// A slash command's form body → a typed command, or a 400 that says what is wrong. Signed
// payloads can still be malformed (a bug on Slack's side, a replayed test request).
import { HttpError, type Form } from '../http.ts';
import type { SlackUser } from '../store/store.ts';

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

/** A Slack id field: absent (null, or a 400 when required) or well formed (else a 400). */
function slackId(form: Form, name: string, required: boolean): string | null {
  const value = form.get(name);
  if (!value) {
    if (required) throw new HttpError(400, `The slash command payload has no ${name}.`);
    return null;
  }
  if (!SLACK_ID.test(value)) throw new HttpError(400, `The slash command payload has a malformed ${name}.`);
  return value;
}

export function parseSlashCommand(form: Form): SlashCommand {
  const teamId = slackId(form, 'team_id', true)!;
  const userId = slackId(form, 'user_id', true)!;
  const enterpriseId = slackId(form, 'enterprise_id', false);
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
    channelId: slackId(form, 'channel_id', false),
    responseUrl: form.get('response_url') || null,
  };
}
