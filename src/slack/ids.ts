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
