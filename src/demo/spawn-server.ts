// Starts the real server (src/main.ts, as `npm start` runs it) as a child process on an ephemeral
// port and collects its JSON log lines. Used by `npm run demo` and by the end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

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

/** `env` is the whole environment of the server besides PATH: nothing leaks in from ours. */
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
