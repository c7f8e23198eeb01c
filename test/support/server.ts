// Starts the real server (src/main.ts, exactly as `npm start` runs it) on an ephemeral port with
// a temporary SQLite file, and collects its JSON log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';
export const BOT_TOKEN = 'xoxb-test-bot-token';
/** The core flow without a verification step (LINK_VERIFICATION's own tests cover the others). */
export const CONFIRM_ONLY = { LINK_VERIFICATION: 'confirm' };

export interface RunningServer {
  url: string;
  port: number;
  databasePath: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  logs(): Array<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  process: ChildProcess;
}

export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'acct-binding-'));

export interface StartOptions {
  slackApiUrl: string;
  databasePath?: string;
  env?: Record<string, string>;
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const databasePath = opts.databasePath ?? join(tempDir(), 'test.db');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      PUBLIC_BASE_URL: 'https://slack-link.corp.example',
      HOST: '0.0.0.0',
      PORT: '0',
      DATABASE_PATH: databasePath,
      SLACK_API_URL: opts.slackApiUrl,
      ...opts.env,
    },
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
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    void exited.then(() => reject(new Error(`server exited during start:\n${out}`)));
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    databasePath,
    process: child,
    output: () => out,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
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
