// The second floor: the least any correct server must do for a bound user's slash command. The bare
// server's work (read the body, verify Slack's signature, a fixed JSON reply) plus the form decoded
// and one indexed read of the user's binding with better-sqlite3, from the bench's own SQLite file
// in WAL mode (DATABASE_PATH), as the project reads it; the reply is fixed, as the bare server's.
// No replay claim, no log, no metrics.
import Database from 'better-sqlite3';
import { FIXED_REPLY, serveVerified } from './floor-common.ts';

const db = new Database(process.env.DATABASE_PATH!, { fileMustExist: true });
db.exec('PRAGMA journal_mode = WAL');
const lookup = db.prepare<[string, string], { internal_user: string }>('SELECT internal_user FROM bindings WHERE slack_org = ? AND slack_user_id = ?');

serveVerified((body, res) => {
  const form = new URLSearchParams(body.toString('latin1'));
  const binding = lookup.get(form.get('enterprise_id') || form.get('team_id') || '', form.get('user_id') ?? '');
  if (!binding) res.writeHead(404).end();
  else res.writeHead(200, { 'content-type': 'application/json' }).end(FIXED_REPLY);
});
