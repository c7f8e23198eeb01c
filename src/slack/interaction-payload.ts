// An interaction payload (a click) → a typed interaction. Over HTTP it is the JSON of the form field
// `payload` of POST /slack/interactions; over Socket Mode the payload of an `interactive` envelope.
// Only block_actions are acted on; everything else is acknowledged and counted.
import { accept, refuse, type Checked } from '../lib/checked.ts';
import { enterpriseOf, object, orgKey, slackId as id, text } from './ids.ts';
import type { SlackIdentity } from '../model.ts';

export interface BlockAction {
  actionId: string;
  blockId: string | null;
  value: string | null;
  selectedOption: unknown;
}

export interface BlockActions {
  kind: 'block_actions';
  user: SlackIdentity & { teamId: string; enterpriseId: string | null; userName: string; teamDomain: string };
  action: BlockAction;
  /** Where the click happened: the App Home (a view) or a message. */
  container: 'view' | 'message' | 'other';
  channelId: string | null;
  messageTs: string | null;
  responseUrl: string | null;
}

export type Interaction = BlockActions | { kind: 'ignored'; type: string };

export function parseInteraction(value: unknown): Checked<Interaction> {
  const payload = object(value);
  if (!payload) return refuse('the payload is not a JSON object');
  const type = typeof payload.type === 'string' ? payload.type.slice(0, 64) : '';
  if (type !== 'block_actions') return accept({ kind: 'ignored', type: type || 'unknown' });

  const user = object(payload.user);
  const team = object(payload.team);
  const userId = id(user?.id);
  const teamId = id(team?.id) ?? id(user?.team_id);
  const enterpriseId = enterpriseOf(payload, team, user);
  const first = Array.isArray(payload.actions) ? object(payload.actions[0]) : null;
  const actionId = text(first?.action_id, 255);
  if (!userId || !teamId || !first || !actionId) return refuse('block_actions without a user, team or action');
  const containerType = object(payload.container)?.type;
  return accept({
      kind: 'block_actions',
      user: {
        org: orgKey(enterpriseId, teamId),
        userId,
        teamId,
        enterpriseId,
        userName: (text(user?.username, 256) ?? text(user?.name, 256) ?? userId).slice(0, 256),
        teamDomain: (text(team?.domain, 256) ?? teamId).slice(0, 256),
      },
      action: { actionId, blockId: text(first.block_id, 255), value: text(first.value), selectedOption: first.selected_option ?? null },
      container: containerType === 'view' ? 'view' : containerType === 'message' ? 'message' : 'other',
      channelId: id(object(payload.channel)?.id),
      messageTs: text(object(payload.container)?.message_ts, 64) ?? text(object(payload.message)?.ts, 64),
      responseUrl: text(payload.response_url, 2000),
  });
}
