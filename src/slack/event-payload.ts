// The Events API's envelope → a typed event we act on, or one we ignore. Over HTTP the envelope is
// the body of POST /slack/events; over Socket Mode the payload of an events_api envelope. Signed
// payloads can still be malformed: every field is checked before it is used.
import { accept, refuse, type Checked } from '../lib/checked.ts';
import { enterpriseOf, object, orgKey, slackId as id } from './ids.ts';
import type { SlackIdentity } from '../model.ts';

const EVENT_ID = /^[A-Za-z0-9]{1,64}$/;

export type SlackEvent =
  | { kind: 'url_verification'; challenge: string }
  /** A Slack user was deactivated (user_change with deleted: true). */
  | { kind: 'user_deactivated'; eventId: string; user: SlackIdentity }
  /** The app lost a workspace (app_uninstalled, bot tokens_revoked) or an org-wide install's workspaces. */
  | { kind: 'workspace_lost'; eventId: string; reason: 'app_uninstalled' | 'tokens_revoked' | 'team_access_revoked'; scopes: WorkspaceScope[] }
  /** A workspace finished migrating into a Grid organisation (grid_migration_finished): its bindings move to the enterprise's key. */
  | { kind: 'grid_migrated'; eventId: string; teamId: string; enterpriseId: string }
  /** A user opened the app's Home tab. */
  | { kind: 'app_home_opened'; eventId: string; user: SlackIdentity & { teamId: string } }
  /** Anything else we receive: acknowledged, counted, ignored. */
  | { kind: 'ignored'; eventId: string; type: string }
  /** An event we would act on that names nothing we can act on: acknowledged (Slack's retry would not help), logged. */
  | { kind: 'unusable'; eventId: string; type: string; reason: string };

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
  // An org-wide install names the enterprise and no team; Slack may say so at the top or only in
  // authorizations[] (the installations this event is delivered for).
  const authorizations = Array.isArray(envelope.authorizations) ? envelope.authorizations.map(object) : [];
  const teamId = id(envelope.team_id) ?? authorizations.map((a) => id(a?.team_id)).find((t) => t) ?? null;
  const enterpriseId = enterpriseOf(envelope, ...authorizations);
  const orgWide = envelope.is_enterprise_install === true || authorizations.some((a) => a?.is_enterprise_install === true);
  const type = event.type.slice(0, 64);
  const ignored: Checked<SlackEvent> = accept({ kind: 'ignored', eventId, type });
  const unusable = (reason: string): Checked<SlackEvent> => accept({ kind: 'unusable', eventId, type, reason });

  switch (event.type) {
    case 'user_change': {
      const user = object(event.user);
      const userId = id(user?.id);
      if (!user || !userId) return unusable('user_change without a user id');
      if (user.deleted !== true) return ignored;
      // Act only on a person consistent with the envelope: the same enterprise on Grid (user ids
      // are org-wide there), else the same workspace. An event delivered for one workspace must not
      // end a binding of another.
      const userEnterprise = enterpriseOf(user);
      if (userEnterprise && enterpriseId && userEnterprise !== enterpriseId) return unusable("user_change naming another enterprise than its envelope's");
      const userTeam = id(user.team_id);
      if (!userEnterprise && !enterpriseId && userTeam && teamId && userTeam !== teamId) return unusable("user_change naming another workspace than its envelope's");
      const org = userEnterprise ?? enterpriseId ?? userTeam ?? teamId;
      if (!org) return unusable('user_change without a team or enterprise');
      return accept({ kind: 'user_deactivated', eventId, user: { org, userId } });
    }
    case 'app_uninstalled':
    case 'tokens_revoked': {
      // Only the bot token matters to us: a revoked user token leaves the bot working.
      if (event.type === 'tokens_revoked') {
        const bot = object(event.tokens)?.bot;
        if (!Array.isArray(bot) || bot.length === 0) return ignored;
      }
      // An org-wide install is the enterprise's: every binding of the organisation ends with it.
      // Otherwise the workspace's.
      if (orgWide && !enterpriseId) return unusable(`${event.type} of an org-wide install naming no enterprise`);
      const scope: WorkspaceScope | null = orgWide && enterpriseId ? { enterpriseId } : teamId ? { teamId } : null;
      if (!scope) return unusable(`${event.type} without a team`);
      return accept({ kind: 'workspace_lost', eventId, reason: event.type, scopes: [scope] });
    }
    case 'team_access_revoked': {
      const teams = Array.isArray(event.team_ids) ? event.team_ids.map(id) : [];
      // An org-ready app lost these workspaces (the organisation keeps it): the bindings made there end.
      if (!teams.length || teams.some((t) => t === null)) return unusable('team_access_revoked without valid team_ids');
      return accept({ kind: 'workspace_lost', eventId, reason: 'team_access_revoked', scopes: (teams as string[]).map((t) => ({ teamId: t })) });
    }
    case 'grid_migration_finished': {
      // Slack's sample (docs.slack.dev/reference/events/grid_migration_finished): the envelope's
      // team_id is the workspace that migrated, the event's enterprise_id the organisation it joined.
      // A malformed enterprise_id is no key to move anything to, whatever the envelope says.
      const enterprise = event.enterprise_id === undefined ? enterpriseId : id(event.enterprise_id);
      if (!teamId || !enterprise) return unusable('grid_migration_finished without a team or enterprise');
      // An envelope that names its enterprise vouches for no other: bindings move only to that one.
      if (enterpriseId && enterprise !== enterpriseId) return unusable("grid_migration_finished naming another enterprise than its envelope's");
      return accept({ kind: 'grid_migrated', eventId, teamId, enterpriseId: enterprise });
    }
    case 'app_home_opened': {
      const userId = id(event.user);
      if (!userId || !teamId) return unusable('app_home_opened without a user or team');
      if (event.tab !== undefined && event.tab !== 'home') return ignored;
      return accept({ kind: 'app_home_opened', eventId, user: { org: orgKey(enterpriseId, teamId), userId, teamId } });
    }
    default:
      return ignored;
  }
}
