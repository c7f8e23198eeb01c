// PostgreSQL for the tests: a fresh, empty database per call. On TEST_DATABASE_URL's server when it
// is set (.ci/run starts one), else on a throwaway cluster that this test process starts from the
// installed binaries (once) and stops when it exits. Where neither is there, tests skip with the
// reason, as requires.ts does for Debian packages; in CI that is an error. A test that must stop
// its database (never the shared one: other test files use it at the same time) starts a private
// cluster with startCluster; so does the benchmark, with settings of its own.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
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
 * 6 ms to drop it, on the test cluster). On the shared server, or on `on`, a cluster of the test's own.
 */
export async function freshDatabase(on?: Cluster): Promise<TestDatabase> {
  const admin = on ? on.url : await serverUrl();
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
  if (!binaries()) throw new Error('PostgreSQL is not installed (apt-get install -y postgresql), and TEST_DATABASE_URL is not set');
  return (await startCluster()).url;
}

/**
 * A `skip` value for tests that start a cluster of their own (to stop it, say): false when
 * PostgreSQL's binaries are installed, else the reason. Throws in CI.
 */
export function requiresPostgresBinaries(): false | string {
  if (binaries()) return false;
  const reason = 'PostgreSQL is not installed: apt-get install -y postgresql';
  if (process.env.CI) throw new Error(`CI must install it: ${reason}`);
  return reason;
}

/** The directory of initdb and pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else PATH. */
function binaries(): string | undefined {
  const debian = '/usr/lib/postgresql';
  const versions = existsSync(debian) ? readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const dirs = [...versions.map((v) => join(debian, v, 'bin')), ...(process.env.PATH ?? '').split(':').filter(Boolean)];
  return dirs.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
}

export interface Cluster {
  /** The `postgres` database as the `postgres` user: for administration, and freshDatabase's kind of use. */
  url: string;
  port: number;
  /** The server's own log (pg_ctl -l). */
  logFile: string;
  /** Stops the server (fast: open connections are closed); the data stays, start() brings it back. */
  stop(): Promise<void>;
  /** Starts it again, on the same port and data. */
  start(): Promise<void>;
  /**
   * Every process of the server stopped with SIGSTOP: it stops answering without closing a socket,
   * as behind a network cut. thaw() resumes them.
   */
  freeze(): void;
  thaw(): void;
  /** The server's processes now: the postmaster and its children (for the bench's CPU count). */
  processes(): number[];
  /** Stops it at once and removes its files; also done when this process exits. */
  dispose(): void;
}

export interface ClusterOptions {
  /**
   * Server settings (-c name=value). The default is for tests: no fsync, no synchronous commit, no
   * full-page writes (a test's data need not survive a power cut). Given settings are added.
   */
  settings?: Record<string, string | number>;
  /** false: keep PostgreSQL's durable defaults (fsync, synchronous_commit, full_page_writes on). */
  throwaway?: boolean;
}

/**
 * A cluster of its own in a temporary directory, on 127.0.0.1 and a free port, trusting every local
 * connection. PostgreSQL refuses to run as root: as root it runs as the postgres user. Stopped and
 * removed when this process exits (or on dispose()), also after a signal.
 */
export async function startCluster(o: ClusterOptions = {}): Promise<Cluster> {
  const bin = binaries();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install -y postgresql)');
  const dir = tempDir();
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const command = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
  const pgCtl = (args: string[]) => run(...command('pg_ctl', args), { timeout: 60_000 });

  await run(...command('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']), { timeout: 120_000 }).catch(failed('initdb'));
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    spawnSync(...command('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-s']), { stdio: 'ignore', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', dispose);
  // A signal ends the process without 'exit': stop the cluster, then die of the signal as before.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      dispose();
      process.kill(process.pid, signal);
    });
  }
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    ...(o.throwaway === false ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }),
    ...o.settings,
  };
  const options = (port: number) => [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(' ');
  const pgStart = (port: number) => pgCtl(['start', '-w', '-t', '30', '-s', '-D', data, '-l', logFile, '-o', options(port)]);

  // The port is free now but could be taken before the server binds it: then try another.
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await pgStart(port);
      break;
    } catch (err) {
      if (attempt === 3) {
        dispose();
        failed('pg_ctl start')(err);
      }
    }
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    logFile,
    stop: async () => {
      await pgCtl(['stop', '-D', data, '-m', 'fast', '-s']).catch(failed('pg_ctl stop'));
    },
    start: async () => {
      await pgStart(port).catch(failed('pg_ctl start'));
    },
    freeze: () => signalAll(data, 'SIGSTOP'),
    thaw: () => signalAll(data, 'SIGCONT'),
    processes: () => processesOf(data),
    dispose,
  };
}

function signalAll(data: string, signal: NodeJS.Signals): void {
  for (const pid of processesOf(data)) process.kill(pid, signal);
}

/** The postmaster (its pid is postmaster.pid's first line) and every process it started. */
function processesOf(data: string): number[] {
  const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === postmaster;
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
  return [postmaster, ...children];
}

const failed =
  (what: string) =>
  (err: unknown): never => {
    const e = err as { stderr?: string; message?: string };
    throw new Error(`${what} failed: ${(e.stderr || e.message || String(err)).trim().slice(-400)}`);
  };
