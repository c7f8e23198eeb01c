// The demo's server: src/main.ts as `npm start` runs it, as a child process on an ephemeral port.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface DemoServer {
  url: string;
  /** What it wrote so far (shown when a step of the story fails). */
  output(): string;
  stop(): Promise<void>;
}

export async function spawnServer(env: Record<string, string>): Promise<DemoServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${out}`)), 15_000);
    child.stdout.on('data', () => {
      const listening = /"event":"listening"[^\n]*"port":(\d+)/.exec(out);
      if (listening) resolve(listening[1]!);
    });
    void exited.then(() => reject(new Error(`the server exited:\n${out}`)));
    void exited.finally(() => clearTimeout(timer));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
