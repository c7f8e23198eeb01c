// The Events API's envelope (POST /slack/events) → a typed event we act on, or one we ignore.
// Signed payloads can still be malformed: every field is checked before it is used.
import { parseJsonObject, type JsonObject } from '../lib/json.ts';
import type { SlackIdentity } from '../store/store.ts';

const SLACK_ID = /^[A-Z0-9]{1,32}$/;
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

export type ParsedEvent = { ok: true; event: SlackEvent } | { ok: false; problem: string };

const id = (value: unknown): string | null => (typeof value === 'string' && SLACK_ID.test(value) ? value : null);
const object = (value: unknown): JsonObject | null => (value && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : null);

export function parseSlackEvent(body: Buffer): ParsedEvent {
  const envelope = parseJsonObject(body.toString('utf8'));
  if (!envelope) return { ok: false, problem: 'the body is not a JSON object' };
  if (envelope.type === 'url_verification') {
    return typeof envelope.challenge === 'string' && envelope.challenge.length <= 512
      ? { ok: true, event: { kind: 'url_verification', challenge: envelope.challenge } }
      : { ok: false, problem: 'url_verification without a challenge' };
  }
  if (envelope.type !== 'event_callback') return { ok: false, problem: `unknown envelope type ${JSON.stringify(String(envelope.type)).slice(0, 40)}` };
  const eventId = typeof envelope.event_id === 'string' && EVENT_ID.test(envelope.event_id) ? envelope.event_id : null;
  const event = object(envelope.event);
  if (!eventId || !event || typeof event.type !== 'string') return { ok: false, problem: 'event_callback without event_id or event' };
  const teamId = id(envelope.team_id);
  const enterpriseId = id(envelope.enterprise_id);
  const ignored: ParsedEvent = { ok: true, event: { kind: 'ignored', eventId, type: event.type.slice(0, 64) } };

  switch (event.type) {
    case 'user_change': {
      const user = object(event.user);
      const userId = id(user?.id);
      if (!user || !userId) return { ok: false, problem: 'user_change without a user id' };
      if (user.deleted !== true) return ignored;
      // The same key as a slash command's: the enterprise on Enterprise Grid, else the team.
      const org = id(object(user.enterprise_user)?.enterprise_id) ?? enterpriseId ?? id(user.team_id) ?? teamId;
      if (!org) return { ok: false, problem: 'user_change without a team or enterprise' };
      return { ok: true, event: { kind: 'user_deactivated', eventId, user: { org, userId } } };
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
      if (!scope) return { ok: false, problem: `${event.type} without a team` };
      return { ok: true, event: { kind: 'workspace_lost', eventId, reason: event.type, scopes: [scope] } };
    }
    case 'team_access_revoked': {
      const teams = Array.isArray(event.team_ids) ? event.team_ids.map(id) : [];
      if (!teams.length || teams.some((t) => t === null)) return { ok: false, problem: 'team_access_revoked without valid team_ids' };
      return { ok: true, event: { kind: 'workspace_lost', eventId, reason: 'team_access_revoked', scopes: (teams as string[]).map((t) => ({ teamId: t })) } };
    }
    case 'app_home_opened': {
      const userId = id(event.user);
      if (!userId || !teamId) return { ok: false, problem: 'app_home_opened without a user or team' };
      if (event.tab !== undefined && event.tab !== 'home') return ignored;
      return { ok: true, event: { kind: 'app_home_opened', eventId, user: { org: enterpriseId ?? teamId, userId, teamId } } };
    }
    default:
      return ignored;
  }
}
