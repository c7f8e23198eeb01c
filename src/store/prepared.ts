// A hot statement parsed and planned once per connection (pg's named statements) instead of at
// every call: about 50 µs of PostgreSQL's CPU per slash command (docs/performance.md). Where the path
// to PostgreSQL does not keep them — a pooler in transaction mode that does not track them
// (PgBouncer before 1.21, or with max_prepared_statements = 0) hands the statement to a server
// connection that never saw it, or to one that already has it — the first such error turns them
// off for this process (said once, through `onOff`) and the call is made again as a plain query.
// Making it again is safe: the error comes at Parse or Bind, before anything ran.
//
// A statement's name carries a hash of its text: behind such a pooler a Bind can also land on a
// server connection where another client (another release, in a rolling upgrade) prepared a
// statement of the same name; with the text in the name, the same name means the same statement.
import { createHash } from 'node:crypto';
import type pg from 'pg';

const MISMATCH = new Set([
  '26000', // invalid_sql_statement_name: prepared statement "…" does not exist
  '42P05', // duplicate_prepared_statement: prepared statement "…" already exists
]);

export interface Prepared {
  /** `name` says what the statement is for; the name PostgreSQL sees adds a hash of `text`. */
  query<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>>;
  /** False once the path to PostgreSQL was found not to keep prepared statements. */
  readonly on: boolean;
}

export function preparedOn(pool: pg.Pool, onOff: (sqlstate: string) => void = () => {}): Prepared {
  let on = true;
  const names = new Map<string, string>();
  const nameOf = (name: string, text: string) => {
    let full = names.get(text);
    if (!full) {
      full = `${name}_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
      names.set(text, full);
    }
    return full;
  };
  return {
    async query<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]) {
      if (on) {
        try {
          return await pool.query<R>({ name: nameOf(name, text), text, values });
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          if (!MISMATCH.has(code)) throw err;
          if (on) onOff(code);
          on = false;
        }
      }
      return pool.query<R>(text, values);
    },
    get on() {
      return on;
    },
  };
}
