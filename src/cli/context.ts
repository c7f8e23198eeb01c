// What a CLI command works on: the database the server uses (chosen as the server chooses it), and
// the domain's revocation, so that an operator's unlink is audited, logged and followed by the Home
// tab exactly as any other. The Slack side needs the server's Slack settings; without them the
// change is made all the same and the Home tab catches up when its user next opens it.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { openSqliteStore } from '../store/sqlite.ts';
import { openStore } from '../store/open.ts';
import { DEFAULT_DATABASE_PATH, databasePathIgnored, loadConfig, type Env } from '../config/index.ts';
import { Reader } from '../config/reader.ts';
import { readOperations } from '../config/operations.ts';
import { createHome } from '../domain/home.ts';
import { createRevocation, type Revocation } from '../domain/revocation.ts';
import { createSlackApi } from '../slack/api.ts';
import { createBackground, type Background } from '../lib/background.ts';
import { createLogger } from '../lib/log.ts';
import { createMetrics } from '../lib/metrics.ts';
import type { Store } from '../store/store.ts';
import type { Actor } from '../model.ts';
import type { Io } from './print.ts';

export class UsageError extends Error {}

export interface Options {
  db?: string | undefined;
  'database-url'?: string | undefined;
}

/** DATABASE_URL, or the contents of DATABASE_URL_FILE (the Docker-secrets convention), or undefined. */
export function databaseUrlOf(env: Env): string | undefined {
  if (env.DATABASE_URL && env.DATABASE_URL_FILE) throw new UsageError('DATABASE_URL and DATABASE_URL_FILE are both set; set only one');
  if (!env.DATABASE_URL_FILE) return env.DATABASE_URL || undefined;
  try {
    return readFileSync(env.DATABASE_URL_FILE, 'utf8').trim() || undefined;
  } catch (err) {
    throw new Error(`DATABASE_URL_FILE (${env.DATABASE_URL_FILE}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/**
 * Which database: --database-url, else --db, else the environment as the server reads it
 * (DATABASE_URL or DATABASE_URL_FILE, else DATABASE_PATH, else the default file). With both kinds
 * in the environment the URL wins, with a warning, as it does for the server: the image sets
 * DATABASE_PATH, so `docker exec … admin` in a container given DATABASE_URL has both.
 */
export function whichDatabase(o: Options, env: Env, io: Io): { path: string } | { url: string } {
  if (o.db !== undefined && o['database-url'] !== undefined) throw new UsageError('--db and --database-url name two databases; give one');
  if (o['database-url'] !== undefined) return { url: o['database-url'] };
  if (o.db !== undefined) return { path: o.db };
  const url = databaseUrlOf(env);
  if (url && env.DATABASE_PATH) io.err(`admin: ${databasePathIgnored(env.DATABASE_PATH)}`);
  return url ? { url } : { path: env.DATABASE_PATH ?? DEFAULT_DATABASE_PATH };
}

/** The chosen database, which must exist already (the CLI never creates an empty one by mistake). */
export async function openDatabase(o: Options, env: Env, io: Io): Promise<Store> {
  const where = whichDatabase(o, env, io);
  if ('url' in where) return openStore({ databaseUrl: where.url, databasePath: '', poolMax: 2 }); // its errors name no password
  try {
    return openSqliteStore(where.path, { mustExist: true });
  } catch (err) {
    throw new Error(`cannot open the database ${where.path}: ${(err as Error).message}`);
  }
}

/** The operator, as the audit trail names them: the OS user who ran the CLI. */
export function cliActor(): Actor {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid)
  }
  return { actor: `admin_cli:${name}`, requestId: null, clientAddress: null };
}

export interface CliDomain {
  revocation: Revocation;
  /** Waits for what the change set off (the Home tab, a DM) and says what could not be done. */
  finish(): Promise<void>;
}

/** The domain's revocation for the CLI, with Slack when the server's settings are in the environment. */
export function cliDomain(store: Store, env: Env, io: Io): CliDomain {
  // Warnings and errors of the domain (a Home tab that could not be published…) reach the operator.
  const log = createLogger((line) => {
    const { level, event, error } = JSON.parse(line) as { level: string; event: string; error?: string };
    if (level !== 'info') io.err(`admin: ${level} ${event}${error ? `: ${error}` : ''}`);
  });
  const background: Background = createBackground(log);
  const operations = readOperations(new Reader(env));
  let full: ReturnType<typeof loadConfig> | null = null;
  try {
    full = loadConfig(env);
  } catch {
    // No Slack settings here: nothing is sent to Slack.
  }
  const slack = full ? createSlackApi(full) : null;
  let untold = 0;
  const home = full && slack ? createHome({ config: full, store, slack, background, log }) : { refresh: () => void untold++ };
  const offline = { dm: async () => void untold++ };
  const revocation = createRevocation({ config: operations, store, slack: slack ?? offline, home, log, metrics: createMetrics(), background });
  return {
    revocation,
    async finish() {
      await background.drain(10_000);
      if (untold) io.err("note: the server's Slack settings are not in this environment, so Slack was not told: the Home tab shows the change when its user opens it again");
    },
  };
}
