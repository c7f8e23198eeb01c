// The Events API's envelope → a typed event we act on, or one we ignore. Over HTTP the envelope is
// the body of POST /slack/events; over Socket Mode the payload of an events_api envelope. Signed
// payloads can still be malformed: every field is checked before it is used.
import { accept, refuse, type Checked } from '../lib/checked.ts';
import { object, slackId as id } from './ids.ts';
import type { SlackIdentity } from '../model.ts';

const EVENT_ID = /^[A-Za-z0-9]{1,64}$/;

export type SlackEvent =
  | { kind: 'url_verification'; challenge: string }
  /** A Slack user was deactivated (user_change with deleted: true). */
  | { kind: 'user_deactivated'; eventId: string; user: SlackIdentity }
  /** The app lost a workspace (app_uninstalled, bot tokens_revoked) or an org-wide install's workspaces. */
  | { kind: 'workspace_lost'; eventId: string; reason: 'app_uninstalled' | 'tokens_revoked' | 'team_access_revoked'; scopes: WorkspaceScope[] }
  /** A user opened the app's Home tab. */
  | { kind: 'app_home_opened'; eventId: string; user: SlackIdentity & { teamId: string } }
  /** Anything else we receive: acknowledged, counted, ignored. */
  | { kind: 'ignored'; eventId: string; type: string };

export type WorkspaceScope = { teamId: string } | { enterpriseId: string };

export function parseSlackEvent(value: unknown): Checked<SlackEvent> {
  const envelope = object(value);
  if (!envelope) return refuse('the payload is not a JSON object');
  if (envelope.type === 'url_verification') {
    return typeof envelope.challenge === 'string' && envelope.challenge.length <= 512
      ? accept({ kind: 'url_verification', challenge: envelope.challenge })
      : refuse('url_verification without a challenge');
  }
  if (envelope.type !== 'event_callback') return refuse(`unknown envelope type ${JSON.stringify(String(envelope.type)).slice(0, 40)}`);
  const eventId = typeof envelope.event_id === 'string' && EVENT_ID.test(envelope.event_id) ? envelope.event_id : null;
  const event = object(envelope.event);
  if (!eventId || !event || typeof event.type !== 'string') return refuse('event_callback without event_id or event');
  const teamId = id(envelope.team_id);
  const enterpriseId = id(envelope.enterprise_id);
  const ignored: Checked<SlackEvent> = accept({ kind: 'ignored', eventId, type: event.type.slice(0, 64) });

  switch (event.type) {
    case 'user_change': {
      const user = object(event.user);
      const userId = id(user?.id);
      if (!user || !userId) return refuse('user_change without a user id');
      if (user.deleted !== true) return ignored;
      // The same key as a slash command's: the enterprise on Enterprise Grid, else the team.
      const org = id(object(user.enterprise_user)?.enterprise_id) ?? enterpriseId ?? id(user.team_id) ?? teamId;
      if (!org) return refuse('user_change without a team or enterprise');
      return accept({ kind: 'user_deactivated', eventId, user: { org, userId } });
    }
    case 'app_uninstalled':
    case 'tokens_revoked': {
      // Only the bot token matters to us: a revoked user token leaves the bot working.
      if (event.type === 'tokens_revoked') {
        const bot = object(event.tokens)?.bot;
        if (!Array.isArray(bot) || bot.length === 0) return ignored;
      }
      // An org-wide install is the enterprise's; otherwise the workspace's.
      const scope: WorkspaceScope | null = envelope.is_enterprise_install === true && enterpriseId ? { enterpriseId } : teamId ? { teamId } : null;
      if (!scope) return refuse(`${event.type} without a team`);
      return accept({ kind: 'workspace_lost', eventId, reason: event.type, scopes: [scope] });
    }
    case 'team_access_revoked': {
      const teams = Array.isArray(event.team_ids) ? event.team_ids.map(id) : [];
      if (!teams.length || teams.some((t) => t === null)) return refuse('team_access_revoked without valid team_ids');
      return accept({ kind: 'workspace_lost', eventId, reason: 'team_access_revoked', scopes: (teams as string[]).map((t) => ({ teamId: t })) });
    }
    case 'app_home_opened': {
      const userId = id(event.user);
      if (!userId || !teamId) return refuse('app_home_opened without a user or team');
      if (event.tab !== undefined && event.tab !== 'home') return ignored;
      return accept({ kind: 'app_home_opened', eventId, user: { org: enterpriseId ?? teamId, userId, teamId } });
    }
    default:
      return ignored;
  }
}
