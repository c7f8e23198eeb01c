// Slack's ids (users, teams, enterprises, channels): upper-case letters and digits. One check for
// every payload, whichever transport brought it.
const SLACK_ID = /^[A-Z0-9]{1,32}$/;

/** The id when `value` is a well-formed Slack id, else null. */
export const slackId = (value: unknown): string | null => (typeof value === 'string' && SLACK_ID.test(value) ? value : null);

/** A JSON object's field as an object, else null (arrays and nulls are not objects here). */
export const object = (value: unknown): Record<string, unknown> | null =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;

/** A string of at most `max` characters, else null. */
export const text = (value: unknown, max = 2000): string | null => (typeof value === 'string' && value.length <= max ? value : null);

/** A Slack person's key: the enterprise on Enterprise Grid (user ids are org-wide there), else the workspace. */
export const orgKey = (enterpriseId: string | null, teamId: string): string => enterpriseId ?? teamId;

/**
 * The enterprise a payload names, wherever Slack put it: `enterprise_id`, `enterprise.id` or
 * `enterprise_user.enterprise_id` of each source, sources in the order given (the payload itself,
 * then its team, then its user). One rule for commands, events and interactions, so that one Slack
 * person always has one key: a Grid user whose click names the enterprise only in
 * `team.enterprise_id` is the same person as when they type a command.
 */
export function enterpriseOf(...sources: (Record<string, unknown> | null | undefined)[]): string | null {
  for (const source of sources) {
    if (!source) continue;
    const found = slackId(source.enterprise_id) ?? slackId(object(source.enterprise)?.id) ?? slackId(object(source.enterprise_user)?.enterprise_id);
    if (found) return found;
  }
  return null;
}
