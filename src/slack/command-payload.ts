// A slash command's fields → a typed command, or the reason it is malformed. Signed payloads can
// still be malformed (a bug on Slack's side, a replayed test request). Over HTTP the fields come
// from a form; over Socket Mode from the envelope's JSON payload: the same fields either way.
import { accept, refuse, type Checked } from '../lib/checked.ts';
import { orgKey, slackId } from './ids.ts';
import type { SlackUser } from '../model.ts';

export interface SlashCommand {
  user: SlackUser;
  /** e.g. "/acct" */
  command: string;
  /** Everything after the command, trimmed. */
  text: string;
  channelId: string | null;
  responseUrl: string | null;
}

/** A command's fields by name: a parsed form, or a JSON payload's string fields. */
export interface Fields {
  get(name: string): string | undefined;
}

const COMMAND = /^\/[^\s]{1,64}$/;
const MAX_TEXT = 4000;

export function parseSlashCommand(fields: Fields): Checked<SlashCommand> {
  // team_id and user_id must be there; enterprise_id and channel_id may be absent; any given must be well formed.
  const ids = new Map<string, string | null>();
  for (const [name, required] of [['team_id', true], ['user_id', true], ['enterprise_id', false], ['channel_id', false]] as const) {
    const value = fields.get(name);
    const id = value ? slackId(value) : null;
    if (value && !id) return refuse(`The slash command payload has a malformed ${name}.`);
    if (!id && required) return refuse(`The slash command payload has no ${name}.`);
    ids.set(name, id);
  }
  const teamId = ids.get('team_id')!;
  const userId = ids.get('user_id')!;
  const enterpriseId = ids.get('enterprise_id') ?? null;
  const channelId = ids.get('channel_id') ?? null;
  const command = fields.get('command') ?? '';
  if (!COMMAND.test(command)) return refuse('The slash command payload has no valid command.');
  const text = (fields.get('text') ?? '').trim();
  if (text.length > MAX_TEXT) return refuse('The slash command text is too long.');
  return accept({
    user: {
      org: orgKey(enterpriseId, teamId),
      userId,
      teamId,
      enterpriseId,
      userName: (fields.get('user_name') || userId).slice(0, 256),
      teamDomain: (fields.get('team_domain') || teamId).slice(0, 256),
    },
    command,
    text,
    channelId,
    responseUrl: fields.get('response_url') || null,
  });
}
