// A hot statement parsed and planned once per connection (pg's named statements) instead of at
// every call: about 50 µs of PostgreSQL's CPU per slash command (docs/performance.md). Where the path
// to PostgreSQL does not keep them — a pooler in transaction mode that does not track them
// (PgBouncer before 1.21, or with max_prepared_statements = 0) hands the statement to a server
// connection that never saw it, or to one that already has it — the first such error turns them
// off for this process and the call is made again as a plain query. Making it again is safe: the
// error comes at Parse or Bind, before anything ran.
import type pg from 'pg';

const MISMATCH = new Set([
  '26000', // invalid_sql_statement_name: prepared statement "…" does not exist
  '42P05', // duplicate_prepared_statement: prepared statement "…" already exists
]);

export interface Prepared {
  query<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>>;
  /** False once the path to PostgreSQL was found not to keep prepared statements. */
  readonly on: boolean;
}

export function preparedOn(pool: pg.Pool): Prepared {
  let on = true;
  return {
    async query<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]) {
      if (on) {
        try {
          return await pool.query<R>({ name, text, values });
        } catch (err) {
          if (!MISMATCH.has((err as { code?: string }).code ?? '')) throw err;
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
