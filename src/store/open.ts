// Which Store this process runs on: PostgreSQL when DATABASE_URL is set (several replicas share it),
// else the embedded SQLite file.
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';

export interface StoreOptions {
  /** postgres:// or postgresql://; null (or empty): SQLite. */
  databaseUrl: string | null;
  databasePath: string;
  /** Connections per process to PostgreSQL. */
  poolMax: number;
  /** PostgreSQL: told once if a pooler loses prepared statements (src/store/prepared.ts). */
  onPreparedStatementsOff?: (sqlstate: string) => void;
}

export async function openStore(o: StoreOptions): Promise<Store> {
  if (!o.databaseUrl) return openSqliteStore(o.databasePath);
  // The URL is never repeated in an error: it may hold a password.
  if (!/^postgres(ql)?:\/\//i.test(o.databaseUrl)) throw new Error('DATABASE_URL must start with postgres:// or postgresql://');
  // Loaded only when used: an SQLite deployment never loads pg.
  const { openPostgresStore } = await import('./postgres.ts');
  return openPostgresStore(o.databaseUrl, { poolMax: o.poolMax, onPreparedStatementsOff: o.onPreparedStatementsOff });
}
