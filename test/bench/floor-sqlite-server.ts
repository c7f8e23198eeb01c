// The second floor: the least any correct server must do for a bound user's slash command. The bare
// server's work (read the body, verify Slack's signature, a fixed JSON reply) plus the form decoded
// and one indexed read of the user's binding with better-sqlite3, from the bench's own SQLite file
// in WAL mode (DATABASE_PATH), as the project reads it; the reply is fixed, as the bare server's.
// No replay claim, no log, no metrics.
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import Database from 'better-sqlite3';

const secret = process.env.SLACK_SIGNING_SECRET!;
const db = new Database(process.env.DATABASE_PATH!, { fileMustExist: true });
db.exec('PRAGMA journal_mode = WAL');
const reply = JSON.stringify({ response_type: 'ephemeral', text: 'You are linked to alice.' });
const lookup = db.prepare<[string, string], { internal_user: string }>('SELECT internal_user FROM bindings WHERE slack_org = ? AND slack_user_id = ?');

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const ts = String(req.headers['x-slack-request-timestamp']);
    const given = Buffer.from(String(req.headers['x-slack-signature']));
    const expected = Buffer.from(`v0=${createHmac('sha256', secret).update(`v0:${ts}:`).update(body).digest('hex')}`);
    const fresh = Math.abs(Date.now() / 1000 - Number(ts)) <= 300;
    if (!fresh || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(401).end();
      return;
    }
    const form = new URLSearchParams(body.toString('latin1'));
    const binding = lookup.get(form.get('enterprise_id') || form.get('team_id') || '', form.get('user_id') ?? '');
    if (!binding) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end(reply);
  });
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
