// Reading the server's SQLite file directly, as a second process would: what is really stored.
import Database from 'better-sqlite3';

/** The internal user a Slack user id is bound to, in any workspace, or undefined. */
export function boundTo(databasePath: string, slackUserId: string): string | undefined {
  const db = new Database(databasePath, { readonly: true });
  try {
    const row = db.prepare('SELECT internal_user FROM bindings WHERE slack_user_id = ?').get(slackUserId) as { internal_user: string } | undefined;
    return row?.internal_user;
  } finally {
    db.close();
  }
}
