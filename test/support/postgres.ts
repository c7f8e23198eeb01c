// PostgreSQL for the tests: a fresh, empty database per call. On TEST_DATABASE_URL's server when it
// is set (.ci/run starts one), else on a throwaway cluster that this test process starts from the
// installed binaries (once) and stops when it exits. Where neither is there, tests skip with the
// reason, as requires.ts does for Debian packages; in CI that is an error.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, tempDir } from './server.ts';

const run = promisify(execFile);

/** The server's URL for administration (its `postgres` database), or why there is none. */
let server: Promise<string | Error> | undefined;
const serverUrl = () => (server ??= findServer().catch((err: Error) => err));

/** A `skip` value for node:test: false when PostgreSQL is there, else the reason. Throws in CI. */
export async function requiresPostgres(): Promise<false | string> {
  const url = await serverUrl();
  if (typeof url === 'string') return false;
  if (process.env.CI) throw new Error(`CI must run PostgreSQL (.ci/run sets TEST_DATABASE_URL): ${url.message}`);
  return url.message;
}

export interface TestDatabase {
  url: string;
  /** Drops it, closing whatever connections are still open to it. */
  drop(): Promise<void>;
}

let databases = 0;

/**
 * A new, empty database. Its default collation is ICU's en-US where the server has it (15 and
 * later): not byte order, so that a query that forgets COLLATE "C" sorts differently from SQLite.
 * FILE_COPY: a third of the time of the default strategy for a database this small (40 ms, and
 * 6 ms to drop it, on the test cluster).
 */
export async function freshDatabase(): Promise<TestDatabase> {
  const admin = await serverUrl();
  if (typeof admin !== 'string') throw admin;
  const name = `contract_${process.pid}_${++databases}_${randomBytes(3).toString('hex')}`;
  await withClient(admin, async (c) => {
    try {
      await c.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' STRATEGY file_copy`);
    } catch {
      await c.query(`CREATE DATABASE ${name}`);
    }
  });
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: () => withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function findServer(): Promise<string> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    await withClient(given, (c) => c.query('SELECT 1')).catch((err: Error) => {
      throw new Error(`TEST_DATABASE_URL does not answer: ${err.message}`);
    });
    return given;
  }
  const bin = binaries();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install -y postgresql), and TEST_DATABASE_URL is not set');
  return startCluster(bin);
}

/** The directory of initdb and pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else PATH. */
function binaries(): string | undefined {
  const debian = '/usr/lib/postgresql';
  const versions = existsSync(debian) ? readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const dirs = [...versions.map((v) => join(debian, v, 'bin')), ...(process.env.PATH ?? '').split(':').filter(Boolean)];
  return dirs.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
}

/**
 * A cluster in a temporary directory, listening on 127.0.0.1 only, trusting every local
 * connection, without fsync (a test's data need not survive a power cut). PostgreSQL refuses to
 * run as root: as root it runs as the postgres user.
 */
async function startCluster(bin: string): Promise<string> {
  const dir = tempDir();
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const command = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
  const pgCtl = (args: string[]) => run(...command('pg_ctl', args), { timeout: 60_000 });

  await run(...command('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']), { timeout: 120_000 }).catch(failed('initdb'));
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    spawnSync(...command('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-s']), { stdio: 'ignore', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  // A signal ends the process without 'exit': stop the cluster, then die of the signal as before.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      stop();
      process.kill(process.pid, signal);
    });
  }
  // The port is free now but could be taken before the server binds it: then try another.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const options = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    try {
      await pgCtl(['start', '-w', '-t', '30', '-s', '-D', data, '-l', join(dir, 'server.log'), '-o', options]);
      return `postgres://postgres@127.0.0.1:${port}/postgres`;
    } catch (err) {
      if (attempt === 3) {
        stop();
        failed('pg_ctl start')(err);
      }
    }
  }
}

const failed =
  (what: string) =>
  (err: unknown): never => {
    const e = err as { stderr?: string; message?: string };
    throw new Error(`${what} failed: ${(e.stderr || e.message || String(err)).trim().slice(-400)}`);
  };
