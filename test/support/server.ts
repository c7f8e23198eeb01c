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
