// The real server for a test: src/main.ts on an ephemeral port, test secrets, Slack's API pointed at
// a local stand-in, and its database: a temporary SQLite file (the default), or PostgreSQL (a fresh
// database from test/support/postgres.ts, or one given, which replicas share).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The checkout the tests run from. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SIGNING_SECRET = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
export const BOT_TOKEN = 'xoxb-test-bot-token';
/** The core flow without a verification step (LINK_VERIFICATION's own tests cover the others). */
export const CONFIRM_ONLY = { LINK_VERIFICATION: 'confirm' };

export type Backend = 'sqlite' | 'postgres';
export const BACKENDS: readonly Backend[] = ['sqlite', 'postgres'];

export interface RunningServer extends SpawnedServer {
  backend: Backend;
  /** SQLite: the file. PostgreSQL: '' (the server has no file). */
  databasePath: string;
  /** PostgreSQL: the URL the server was given (DATABASE_URL); undefined on SQLite. */
  databaseUrl?: string;
  /** The environment the admin CLI needs to open the same database (DATABASE_PATH or DATABASE_URL). */
  databaseEnv: Record<string, string>;
  /** Drops the PostgreSQL database startServer made for it (once every server on it has stopped); else nothing. */
  dropDatabase(): Promise<void>;
}

/**
 * A port nobody listens on right now, for servers whose port must be known before they start. It is
 * drawn below Linux's ephemeral range (32768–60999): a server another test starts on port 0 gets
 * its port from that range, so it cannot take this one between now and the moment it is bound.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'acct-binding-'));

export interface StartOptions {
  slackApiUrl: string;
  /** Default sqlite. */
  backend?: Backend;
  /** SQLite: this file (to restart on it, or share it); default a new temporary one. */
  databasePath?: string;
  /** PostgreSQL: this database (another replica's, or a restart's); default a fresh one. */
  databaseUrl?: string;
  env?: Record<string, string>;
}

export interface SpawnedServer {
  url: string;
  port: number;
  process: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  logs(): Array<Record<string, unknown>>;
  /** Log lines are written once per event-loop turn: wait until `count` lines match. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, count?: number): Promise<Array<Record<string, unknown>>>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * src/main.ts (as `npm start` runs it) as a child process on an ephemeral port, its JSON log lines
 * collected. `env` is the whole environment of the server besides PATH: nothing leaks in from ours.
 */
export async function spawnServer(env: Record<string, string>): Promise<SpawnedServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 15_000);
    const check = () => {
      const m = /"event":"listening"[^\n]*"port":(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      resolve(Number(m[1]));
    };
    child.stdout!.on('data', check);
    void exited.then(() => reject(new Error(`server exited during start:\n${out}`)));
  });

  // Complete lines only: a write can arrive in pieces.
  const logs = () =>
    out
      .slice(0, out.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    output: () => out,
    logs,
    async waitForLog(match, count = 1) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const found = logs().filter(match);
        if (found.length >= count) return found;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} matching log line(s); found ${found.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const backend = opts.backend ?? (opts.databaseUrl ? 'postgres' : 'sqlite');
  let databasePath = '';
  let databaseUrl: string | undefined;
  let databaseEnv: Record<string, string>;
  let dropDatabase = async (): Promise<void> => undefined;
  if (backend === 'postgres') {
    if (opts.databaseUrl) databaseUrl = opts.databaseUrl;
    else {
      // Loaded only here: the many SQLite-only tests never load pg nor look for a server.
      const { freshDatabase } = await import('./postgres.ts');
      const fresh = await freshDatabase();
      databaseUrl = fresh.url;
      dropDatabase = fresh.drop;
    }
    databaseEnv = { DATABASE_URL: databaseUrl };
  } else {
    databasePath = opts.databasePath ?? join(tempDir(), 'test.db');
    databaseEnv = { DATABASE_PATH: databasePath };
  }
  const server = await spawnServer({
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    PUBLIC_BASE_URL: 'https://slack-link.corp.example',
    HOST: '0.0.0.0',
    ...databaseEnv,
    SLACK_API_URL: opts.slackApiUrl,
    ...opts.env,
  });
  return { ...server, backend, databasePath, databaseUrl, databaseEnv, dropDatabase };
}

/** Runs src/main.ts expecting it to exit (bad configuration); returns its exit code and output. */
export function runToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}
