// Where bindings are kept: the SQLite file (the default), or PostgreSQL for several replicas.
import { redactUrl, type Reader } from './reader.ts';

/** Where the SQLite file is when DATABASE_PATH is not set (the server and the admin CLI). */
export const DEFAULT_DATABASE_PATH = './data/account-binding.db';

/** What the server and the admin CLI say when DATABASE_URL and DATABASE_PATH are both set. */
export const databasePathIgnored = (path: string): string => `DATABASE_PATH (${path}) is ignored: DATABASE_URL selects PostgreSQL`;

export interface DatabaseSettings {
  databasePath: string;
  /** PostgreSQL (several replicas share it); null: the SQLite file at databasePath. */
  databaseUrl: string | null;
  /** Connections per process to PostgreSQL. */
  databasePoolMax: number;
  /** DATA_VOLUME: where the image mounts its volume (it sets /data); the doctor checks the database is in it. */
  dataVolume: string | null;
}

/** Where the database is, as a log may say it: the SQLite path, or PostgreSQL's host and name only. */
export function describeDatabase(config: Pick<DatabaseSettings, 'databaseUrl' | 'databasePath'>): string {
  if (!config.databaseUrl) return config.databasePath;
  try {
    const url = new URL(config.databaseUrl);
    return `postgresql://${url.host}${url.pathname}`;
  } catch {
    return 'postgresql';
  }
}

export function readDatabase(r: Reader): DatabaseSettings {
  // DATABASE_URL may hold the database's password: a secret (NAME or NAME_FILE), never logged.
  const databaseUrl = r.secret('DATABASE_URL', false) || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\/[^/]/i.test(databaseUrl)) r.problem(`DATABASE_URL must be a postgres:// or postgresql:// URL (got "${redactUrl(databaseUrl)}")`);
  // The image sets DATABASE_PATH for its /data volume; a DATABASE_URL given to it wins.
  if (databaseUrl !== null && r.env.DATABASE_PATH) r.warn(databasePathIgnored(r.env.DATABASE_PATH));
  return {
    databasePath: r.env.DATABASE_PATH || DEFAULT_DATABASE_PATH,
    databaseUrl,
    databasePoolMax: r.integer('DATABASE_POOL_MAX', 10, 1, 200),
    dataVolume: r.env.DATA_VOLUME || null,
  };
}
