// The real server for a test: src/main.ts on an ephemeral port, a temporary SQLite file, test
// secrets, and Slack's API pointed at a local stand-in.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { ROOT, spawnServer, type SpawnedServer } from '../../src/demo/spawn-server.ts';

export { ROOT };
export const SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';
export const BOT_TOKEN = 'xoxb-test-bot-token';
/** The core flow without a verification step (LINK_VERIFICATION's own tests cover the others). */
export const CONFIRM_ONLY = { LINK_VERIFICATION: 'confirm' };

export interface RunningServer extends SpawnedServer {
  databasePath: string;
}

/** A port nobody listens on right now (for servers whose port must be known before they start). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'acct-binding-'));

export interface StartOptions {
  slackApiUrl: string;
  databasePath?: string;
  env?: Record<string, string>;
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const databasePath = opts.databasePath ?? join(tempDir(), 'test.db');
  const server = await spawnServer({
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    PUBLIC_BASE_URL: 'https://slack-link.corp.example',
    HOST: '0.0.0.0',
    DATABASE_PATH: databasePath,
    SLACK_API_URL: opts.slackApiUrl,
    ...opts.env,
  });
  return { ...server, databasePath };
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
