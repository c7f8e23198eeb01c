// A real nginx (Debian's package) running deploy/nginx-sso-proxy.conf, with only what must change
// on this machine changed: its port, the server's port (or several: replicas, an upstream group
// nginx balances round-robin) and the password file's path.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, freePort, tempDir } from './server.ts';

/** Lets startServer know the public URL before nginx itself starts. */
export async function reserveNginx(): Promise<{ port: number; url: string }> {
  const port = await freePort();
  return { port, url: `http://127.0.0.1:${port}` };
}

/** What the server's TRUSTED_PROXY_SECRET is when it sits behind the test's nginx. */
export const NGINX_PROXY_SECRET = 'nginx-proxy-secret-for-tests-0123456789';

export interface RunningNginx {
  url: string;
  port: number;
  /** The access log nginx wrote, so far. */
  accessLog(): string;
  stop(): Promise<void>;
}

export async function startNginx(port: number, upstreamPort: number | number[], users: Record<string, string>): Promise<RunningNginx> {
  const upstreams = (Array.isArray(upstreamPort) ? upstreamPort : [upstreamPort]).map((p) => `server 127.0.0.1:${p};`);
  if (!upstreams.length) throw new Error('startNginx needs at least one upstream port');
  const dir = tempDir();
  chmodSync(dir, 0o755); // nginx's workers run as nobody
  mkdirSync(join(dir, 'tmp'));
  chmodSync(join(dir, 'tmp'), 0o777);
  // nginx reads {PLAIN} entries, which keeps the test free of a hashing tool.
  writeFileSync(join(dir, 'htpasswd'), Object.entries(users).map(([u, p]) => `${u}:{PLAIN}${p}\n`).join(''), { mode: 0o644 });
  writeFileSync(join(dir, 'proxy-secret.conf'), `proxy_set_header X-Proxy-Secret "${NGINX_PROXY_SECRET}";\n`, { mode: 0o600 });

  const example = readFileSync(join(ROOT, 'deploy/nginx-sso-proxy.conf'), 'utf8');
  const site = [
    ['listen 80;', `listen 127.0.0.1:${port};`],
    // The shipped file's one server line becomes one per replica, in its place and indentation.
    ['server 127.0.0.1:3000;', upstreams.join('\n    ')],
    ['/etc/nginx/account-binding.htpasswd', join(dir, 'htpasswd')],
    ['/etc/nginx/account-binding-proxy-secret.conf', join(dir, 'proxy-secret.conf')],
    ['/var/log/nginx/account-binding.access.log', join(dir, 'site-access.log')],
  ].reduce((text, [from, to]) => {
    if (!text.includes(from!)) throw new Error(`deploy/nginx-sso-proxy.conf no longer contains "${from}"`);
    return text.replace(from!, to!);
  }, example);
  writeFileSync(join(dir, 'site.conf'), site);
  const t = join(dir, 'tmp');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log ${join(dir, 'access.log')};
  client_body_temp_path ${t}/body; proxy_temp_path ${t}/proxy; fastcgi_temp_path ${t}/fcgi;
  uwsgi_temp_path ${t}/uwsgi; scgi_temp_path ${t}/scgi;
  include ${join(dir, 'site.conf')};
}
`,
  );
  const child: ChildProcess = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      // nginx itself must answer, not whatever else might listen there.
      if ((await fetch(`${url}/`)).headers.get('server')?.startsWith('nginx')) break;
    } catch {
      // not listening yet
    }
    if (i > 100 || child.exitCode !== null) throw new Error(`nginx did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    accessLog: () => {
      try {
        return readFileSync(join(dir, 'site-access.log'), 'utf8');
      } catch {
        return '';
      }
    },
    async stop() {
      child.kill('SIGQUIT');
      await exited;
    },
  };
}
