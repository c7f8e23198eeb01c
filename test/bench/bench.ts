// `npm run bench`: this project against the floor (a bare node:http server that only verifies the
// signature) and against @slack/bolt, under the same load from wrk (Debian's `wrk`), on loopback.
// Alternating rounds, medians. The project runs twice: on SQLite (the default) and on PostgreSQL (a
// cluster the bench starts itself: test/bench/postgres.ts says how it is tuned). Then the unbound
// path (a new link, one write, per request) on both, the /associate confirmation POST, peak RSS
// under load and time to ready. BENCH_PG_POOL sets the server's DATABASE_POOL_MAX (default 10).
// BENCH_ROUNDS (default 3), BENCH_SECONDS (default 5) and BENCH_WARMUP_SECONDS (default 1) make it
// longer or shorter. BENCH_NODE_ARGS are given to node before the project's script (e.g.
// `--cpu-prof --cpu-prof-dir=/tmp/prof` for a profile of each project server). BENCH_ONLY=bound runs only the bound-user comparison on SQLite (project, bare,
// Bolt, plumbing) and the steps: the quick loop for measuring one change before and after.
// BENCH_BASELINE=DIR adds the project as checked out in DIR (e.g. `git worktree add DIR HEAD~1`,
// with node_modules linked) to the bound-user rounds: before and after a change in the same run.
// BENCH_IMAGE=NAME adds a built image (`docker build -t NAME .`) to the memory part, run by docker
// (or podman) as its CMD runs it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { commandBody, signedHeaders } from '../support/slack.ts';
import { startSlackStub } from '../support/slack-stand-in.ts';
import { ROOT } from '../support/server.ts';
import { freePort } from '../support/server.ts';
import { keepAlive, measureSteps } from './steps.ts';
import { constantRate, httpSender } from './constant-rate.ts';
import { BENCH_SETTINGS, startBenchPostgres } from './postgres.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
// Each server first gets this much of the same load, unmeasured: V8 compiles the hot code on the
// same two cores in the first second, which otherwise lands in the p99 of whoever runs first.
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
for (const [name, value] of Object.entries({ BENCH_ROUNDS: ROUNDS, BENCH_SECONDS: SECONDS, BENCH_WARMUP_SECONDS: WARMUP_SECONDS })) {
  // wrk takes whole seconds only.
  if (!Number.isInteger(value) || value < (name === 'BENCH_WARMUP_SECONDS' ? 0 : 1)) {
    console.error(`${name} must be a whole number${name === 'BENCH_WARMUP_SECONDS' ? '' : ' of at least 1'}`);
    process.exit(2);
  }
}
const ONLY = process.env.BENCH_ONLY;
const MODES = ['bound', 'postgres', 'rate', 'memory'];
if (ONLY !== undefined && !MODES.includes(ONLY)) {
  console.error(`BENCH_ONLY takes one of: ${MODES.join(', ')}`);
  process.exit(2);
}
/** Which parts run: all of them, or the one BENCH_ONLY names. */
const runs = (part: 'bound' | 'postgres' | 'rate' | 'memory' | 'rest') => ONLY === undefined || ONLY === part;
const BOUND_ONLY = ONLY === 'bound';
const CONNECTIONS = 50;
// The project is started as the image starts it (the Dockerfile's CMD, with its V8 flag) from a
// compile cache on a Node that strips types itself (24); on Node 20 as `npm start` runs it, with
// tsx's loader and no flag. Never through npm itself.
const stripsTypes = Boolean((process.features as { typescript?: string | false }).typescript);
const IMAGE_ARGS = [
  ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ...(stripsTypes ? ['--max-semi-space-size=1'] : ['--import', 'tsx']),
  'src/main.ts',
];
const SECRET = 'bench-signing-secret-0123456789';
const BINDINGS = 10_000;

if (spawnSync('wrk', ['--version']).error) {
  console.error('npm run bench needs wrk: apt-get install -y wrk');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'acct-bench-'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---------- processes ----------

interface Proc {
  url: string;
  pid: number;
  /** The process that does the work (the last of its tree running the script). */
  serverPid: number;
  readyMs: number;
  stop(): Promise<void>;
}

async function start(name: string, command: string, args: string[], env: Record<string, string>, script: string, cwd = ROOT): Promise<Proc> {
  const port = await freePort();
  // Logs go through a pipe that a separate `cat` drains into a file, as Docker's log driver does:
  // the server never waits on the disk, and this process (blocked while wrk runs) is not in the way.
  const log = openSync(join(dir, `${name}.log`), 'a');
  const started = performance.now();
  const child: ChildProcess = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), SLACK_SIGNING_SECRET: SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const drain = spawn('cat', [], { stdio: [child.stdout!, log, 'ignore'] });
  const drainErr = spawn('cat', [], { stdio: [child.stderr!, log, 'ignore'] });
  closeSync(log);
  void drain;
  void drainErr;
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${readFileSync(join(dir, `${name}.log`), 'utf8')}`);
    try {
      // Ready means serving: /healthz for us; the others answer anything once listening.
      const res = await fetch(`${url}/healthz`);
      if (res.status < 500) break;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const readyMs = performance.now() - started;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  running.add(child.pid!);
  return {
    url,
    pid: child.pid!,
    serverPid: serverPid(child.pid!, script),
    readyMs,
    async stop() {
      terminate(child.pid!);
      await exited;
      running.delete(child.pid!);
    },
  };
}

/**
 * The image as an operator runs it (`docker run`, its own CMD: Node 24, its own node_modules and
 * compile cache), on the host's network so that it reaches the Slack stand-in on loopback, with a
 * copy of the bench's database on its /data volume. Its node process is measured from here: a
 * container's processes are this machine's. `docker` is podman where no Docker engine answers.
 */
async function startImage(image: string): Promise<Proc> {
  const { docker, DOCKER_ENV } = await import('../container/docker.ts');
  dockerEnv = DOCKER_ENV;
  const port = await freePort();
  const data = mkdtempSync(join(dir, 'image-data-'));
  const database = join(data, 'account-binding.db');
  copyFileSync(databasePath, database);
  // The image runs as user node (1000:1000), which must own its database and the folder it is in;
  // chown'd from inside a container, so that it also holds where host and container ids differ (rootless).
  docker('run', '--rm', '--user', '0', '--entrypoint', 'chown', '-v', `${data}:/data`, image, '-R', '1000:1000', '/data');
  const name = `acct-bench-${port}`;
  const env = { ...commonEnv, NODE_COMPILE_CACHE: undefined, PORT: String(port), HOST: '127.0.0.1', SLACK_SIGNING_SECRET: SECRET };
  const started = performance.now();
  containers.add(name);
  docker('run', '-d', '--name', name, '--network', 'host', '-v', `${data}:/data`, ...Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : ['-e', `${k}=${v}`])), image);
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (docker('inspect', '-f', '{{.State.Running}}', name) !== 'true') throw new Error(`${image} exited: ${docker('logs', name)}`);
    if (performance.now() - started > 60_000) throw new Error(`${image} did not answer /healthz within 60 s: ${docker('logs', name)}`);
    if ((await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const readyMs = performance.now() - started;
  const pid = Number(docker('inspect', '-f', '{{.State.Pid}}', name));
  return {
    url,
    pid,
    serverPid: serverPid(pid, 'src/main.ts'),
    readyMs,
    async stop() {
      docker('stop', '-t', '10', name);
      docker('rm', name);
      containers.delete(name);
    },
  };
}
/** Containers still running when the bench ends (also when it fails half-way) are removed with it. */
const containers = new Set<string>();
let dockerEnv: NodeJS.ProcessEnv | undefined;
process.on('exit', () => {
  for (const name of containers) spawnSync('docker', ['rm', '-f', name], { stdio: 'ignore', env: dockerEnv });
});

/** SIGTERM to a process and everything under it, innermost first. */
function terminate(root: number): void {
  for (const pid of descendants(root).reverse()) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
}

// Servers still running when the bench ends, also when it fails half-way, are stopped with it.
const running = new Set<number>();
process.on('exit', () => running.forEach(terminate));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

/** pid and every process under it, parents first. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

/** The innermost process running `script` (tsx may keep an esbuild child beside it). */
function serverPid(root: number, script: string): number {
  const tree = descendants(root);
  const pid = tree.findLast((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(script));
  if (pid === undefined) {
    const commands = tree.map((p) => `${p}: ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ')}`);
    throw new Error(`no process runs ${script} among:\n${commands.join('\n')}`);
  }
  return pid;
}

/** Resident memory of a process, in MB: its peak (VmHWM) or now (VmRSS). */
function rssMb(pid: number, field: 'VmHWM' | 'VmRSS' | 'RssAnon' | 'RssFile' = 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

/** CPU time a process has used so far, user and kernel, in µs (/proc/PID/stat counts clock ticks). */
const TICK_US = 1e6 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
function cpuUs(pid: number): { user: number; kernel: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) * TICK_US, kernel: Number(fields[12]) * TICK_US };
}

// ---------- load ----------

interface Request {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU per request of the measured server, in µs. */
  userUs: number;
  kernelUs: number;
  /** CPU per request of the database server's own processes (PostgreSQL), in µs; 0 for SQLite (in-process). */
  dbUs: number;
}

/**
 * Runs wrk cycling through `requests` (each sent once before any repeats). Asynchronously: this
 * process also plays Slack's API for the server's DMs and must keep answering meanwhile.
 */
async function wrk(proc: Proc, requests: Request[], seconds = SECONDS, dbCpuUs: () => number = () => 0): Promise<Result> {
  const url = proc.url;
  const data = join(dir, 'requests.tsv');
  writeFileSync(
    data,
    `${requests.map((r) => [r.method, r.path, JSON.stringify(r.headers).replace(/\t/g, ' '), r.body].join('\t')).join('\n')}\n`,
  );
  const script = join(dir, 'requests.lua');
  writeFileSync(
    script,
    `local reqs = {}
init = function(args)
  for line in io.lines("${data}") do
    local method, path, headers, body = line:match("^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)$")
    local h = {}
    for k, v in headers:gmatch('"([^"]+)":"([^"]*)"') do h[k] = v end
    reqs[#reqs + 1] = wrk.format(method, path, h, body)
  end
end
local i = 0
request = function()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
`,
  );
  const cpuBefore = cpuUs(proc.serverPid);
  const dbBefore = dbCpuUs();
  const child = spawn('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', script, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`wrk failed (exit ${code}): ${err}${out}`);
  const ms = (label: string) => {
    const m = new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) throw new Error(`no ${label}% in wrk output:\n${out}`);
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
  };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const cpuAfter = cpuUs(proc.serverPid);
  const dbAfter = dbCpuUs();
  const count = Number(/(\d+) requests in/.exec(out)![1]);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]),
    p50: ms('50'),
    p99: ms('99'),
    errors: non2xx + socketErrors,
    userUs: (cpuAfter.user - cpuBefore.user) / count,
    kernelUs: (cpuAfter.kernel - cpuBefore.kernel) / count,
    dbUs: (dbAfter - dbBefore) / count,
  };
}

const FORM = 'application/x-www-form-urlencoded';
/**
 * A signed slash command as Slack sends it (the tests' own builder): every one has its own
 * trigger_id, so no two requests are the same (the server refuses a repeated signature as a replay).
 */
function slashCommand(user: string, text: string): Request {
  const body = commandBody({ team: 'T0BENCH', teamDomain: 'bench', user, userName: `user-${user}`, text });
  return { method: 'POST', path: '/slack/commands', headers: signedHeaders(body, { secret: SECRET }), body };
}

// ---------- setup ----------

const slack = await startSlackStub();
const databasePath = join(dir, 'bench.db');
{
  // 10,000 bindings, as a company's worth of users would leave behind; the schema comes from the
  // server itself (a first start), the rows from one transaction.
  const seed = await start('seed', process.execPath, IMAGE_ARGS, { SLACK_BOT_TOKEN: 'xoxb-bench', PUBLIC_BASE_URL: 'https://bench.example', DATABASE_PATH: databasePath, SLACK_API_URL: slack.url }, 'src/main.ts');
  await seed.stop();
  const db = new Database(databasePath);
  const insert = db.prepare(`INSERT INTO bindings (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain, internal_user, created_at)
    VALUES ('T0BENCH', ?, 'T0BENCH', NULL, ?, 'bench', ?, ?)`);
  db.transaction(() => {
    for (let i = 0; i < BINDINGS; i++) insert.run(`U${String(i).padStart(6, '0')}`, `user${i}`, `person${i}@corp.example`, Date.now());
  })();
  db.close();
  keepAlive.push(db, insert);
}

const commonEnv = { NODE_COMPILE_CACHE: join(dir, 'compile-cache'), SLACK_BOT_TOKEN: 'xoxb-bench', PUBLIC_BASE_URL: 'https://bench.example', SLACK_API_URL: slack.url };
const projectEnv = { ...commonEnv, DATABASE_PATH: databasePath };

// The same 10,000 bindings on PostgreSQL: the schema from the server's first start, as for SQLite.
const postgres = BOUND_ONLY || ONLY === 'memory' ? undefined : await startBenchPostgres(TICK_US);
const postgresEnv = (url: string) => ({ ...commonEnv, DATABASE_URL: url, DATABASE_POOL_MAX: process.env.BENCH_PG_POOL ?? '10' });
const boundUrl = postgres ? await postgres.database() : '';
if (postgres) {
  const seed = await start('seed-postgres', process.execPath, IMAGE_ARGS, postgresEnv(boundUrl), 'src/main.ts');
  await seed.stop();
  await postgres.seedBindings(boundUrl, BINDINGS);
}

const BASELINE = process.env.BENCH_BASELINE;
/** An image to measure beside `npm start` in the memory part (build it first: `docker build -t NAME .`). */
const IMAGE = process.env.BENCH_IMAGE;
// The baseline on PostgreSQL has a database of its own: each checkout migrates to its own schema.
const baselineBoundUrl = postgres && BASELINE ? await postgres.database() : '';
if (postgres && BASELINE) {
  const seed = await start('seed-baseline-postgres', process.execPath, IMAGE_ARGS, postgresEnv(baselineBoundUrl), 'src/main.ts', BASELINE);
  await seed.stop();
  await postgres.seedBindings(baselineBoundUrl, BINDINGS);
}
const servers = {
  baseline: () => start('baseline', process.execPath, IMAGE_ARGS, projectEnv, 'src/main.ts', BASELINE),
  baselinePostgres: () => start('baseline-postgres', process.execPath, IMAGE_ARGS, postgresEnv(baselineBoundUrl), 'src/main.ts', BASELINE),
  project: () => start('project', process.execPath, IMAGE_ARGS, projectEnv, 'src/main.ts'),
  postgres: () => start('postgres', process.execPath, IMAGE_ARGS, postgresEnv(boundUrl), 'src/main.ts'),
  bare: () => start('bare', process.execPath, ['--import', 'tsx', 'test/bench/bare-server.ts'], {}, 'bare-server.ts'),
  floor: () => start('floor', process.execPath, ['--import', 'tsx', 'test/bench/floor-sqlite-server.ts'], { DATABASE_PATH: databasePath }, 'floor-sqlite-server.ts'),
  bolt: () => start('bolt', process.execPath, ['--import', 'tsx', 'test/bench/bolt-server.ts'], {}, 'bolt-server.ts'),
  plumbing: () => start('plumbing', process.execPath, ['--import', 'tsx', 'test/bench/plumbing-server.ts'], {}, 'plumbing-server.ts'),
};
type Name = keyof typeof servers;

console.log(`machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, wrk -t1 -c${CONNECTIONS}, ${WARMUP_SECONDS} s warm-up then ${SECONDS} s × ${ROUNDS} rounds`);
if (postgres) console.log(
  `PostgreSQL ${postgres.version} on the same machine, over TCP on 127.0.0.1, DATABASE_POOL_MAX=${process.env.BENCH_PG_POOL ?? 10}; ` +
    `${Object.entries(BENCH_SETTINGS).map(([k, v]) => `${k}=${v}`).join(' ')}, fsync and synchronous_commit on`,
);

// ---------- bound-user command: project vs bare vs bolt ----------

const results: Record<Name, Result[]> = { baseline: [], baselinePostgres: [], project: [], postgres: [], bare: [], floor: [], bolt: [], plumbing: [] };
const readiness: number[] = [];
const idleRss: number[] = [];
let peakRssBound = 0;
/** The rows the steps section explains (all three measured only in a full run or BENCH_ONLY=bound). */
let steps: { bare: ReturnType<typeof row>; plumbing: ReturnType<typeof row>; project: ReturnType<typeof row> } | undefined;
let peakRssWrites = 0;
const boundUser = 'U004242'; // one of the 10,000
/** Enough unique, pre-signed requests that wrk never sends one twice in `seconds` (at up to 60k req/s). */
const whoamiPool = (seconds: number) => Array.from({ length: Math.max(1, seconds) * 60_000 }, () => slashCommand(boundUser, 'whoami'));
// BENCH_ONLY=postgres: the project (and the baseline) on both stores, nothing else.
const boundNames: Name[] = ONLY === 'postgres' ? ['project', 'postgres', 'baselinePostgres', 'baseline'] : ['project', 'postgres', 'bare', 'floor', 'bolt', 'plumbing', 'baseline', 'baselinePostgres'];
for (let round = 0; round < ROUNDS && (runs('bound') || runs('postgres')); round++) {
  const order = round % 2 === 0 ? boundNames : [...boundNames].reverse();
  for (const name of order) {
    if ((name === 'postgres' && !postgres) || (name === 'baseline' && !BASELINE) || (name === 'baselinePostgres' && !(BASELINE && postgres))) continue;
    const proc = await servers[name]();
    if (name === 'project') {
      readiness.push(proc.readyMs);
      // Idle: started, self-checked, answered its first /healthz, nothing else yet.
      idleRss.push(rssMb(proc.serverPid, 'VmRSS'));
    }
    const whoami = slashCommand(boundUser, 'whoami');
    const check = await fetch(`${proc.url}${whoami.path}`, { method: whoami.method, headers: whoami.headers, body: whoami.body });
    const text = await check.text();
    const ours = name === 'project' || name === 'postgres' || name === 'baseline' || name === 'baselinePostgres';
    if (check.status !== 200 || (ours && !/person4242@corp.example/.test(text))) throw new Error(`${name} answered ${check.status}: ${text}`);
    const dbCpu = name === 'postgres' || name === 'baselinePostgres' ? postgres?.cpuUs : undefined;
    if (WARMUP_SECONDS > 0) await wrk(proc, whoamiPool(WARMUP_SECONDS), WARMUP_SECONDS, dbCpu);
    results[name].push(await wrk(proc, whoamiPool(SECONDS), SECONDS, dbCpu));
    if (name === 'project') peakRssBound = Math.max(peakRssBound, rssMb(proc.serverPid));
    await proc.stop();
  }
}

const row = (label: string, r: Result[]) => {
  const mid = (f: (x: Result) => number) => median(r.map(f));
  const m = {
    rps: mid((x) => x.rps),
    p50: mid((x) => x.p50),
    p99: mid((x) => x.p99),
    errors: r.reduce((a, x) => a + x.errors, 0),
    userUs: mid((x) => x.userUs),
    kernelUs: mid((x) => x.kernelUs),
    dbUs: mid((x) => x.dbUs),
  };
  console.log(
    `${label.padEnd(40)} ${m.rps.toFixed(0).padStart(8)} ${m.p50.toFixed(2).padStart(7)} ${m.p99.toFixed(2).padStart(7)} ${String(m.errors).padStart(6)}` +
      `   ${m.userUs.toFixed(1).padStart(5)} + ${m.kernelUs.toFixed(1).padStart(5)}${m.dbUs ? `   + PostgreSQL ${m.dbUs.toFixed(1)}` : ''}`,
  );
  return m;
};
const HEADER = `${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'errors'.padStart(6)}   CPU µs/req user + kernel (server; + the database's own processes)`;
/** Targets (docs/performance.md, docs/postgresql.md), each checked against its row of this run. */
const targets: string[] = [];
const target = (what: string, met: boolean, detail: string) => targets.push(`  ${met ? 'met   ' : 'MISSED'} ${what}: ${detail}`);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
if (results.project.length) console.log(`\n${'bound-user command (/acct whoami)'.padEnd(40)} ${HEADER}`);
const project = results.project.length ? row('this project (10k bindings)', results.project) : undefined;
const projectPg = results.postgres.length ? row('  the same on PostgreSQL', results.postgres) : undefined;
if (BASELINE && project) {
  const before = row(`  the project as checked out in ${BASELINE}`, results.baseline);
  console.log(`    this checkout / BENCH_BASELINE: ${ratio(project.rps, before.rps)} req/s, user CPU per request ${(project.userUs - before.userUs).toFixed(1)} µs`);
  if (projectPg && results.baselinePostgres.length) {
    const beforePg = row('    the same on PostgreSQL', results.baselinePostgres);
    console.log(`    on PostgreSQL: this checkout / BENCH_BASELINE ${ratio(projectPg.rps, beforePg.rps)}; PostgreSQL / SQLite ${ratio(projectPg.rps, project.rps)} here, ${ratio(beforePg.rps, before.rps)} there`);
  }
}
for (const [name, m] of [['SQLite', project], ['PostgreSQL', projectPg]] as const) {
  // The targets for several replicas on PostgreSQL (docs/postgresql.md), checked against each backend's row.
  if (m) target(`bound-user ≥ 5,000 req/s with p99 < 10 ms, ${name}`, m.rps >= 5000 && m.p99 < 10, `${m.rps.toFixed(0)} req/s, p99 ${m.p99.toFixed(2)} ms`);
}
if (project && projectPg) {
  console.log(`  PostgreSQL / SQLite: ${ratio(projectPg.rps, project.rps)} req/s`);
  target('PostgreSQL bound-user ≥ 0.4× SQLite, same run', projectPg.rps >= 0.4 * project.rps, ratio(projectPg.rps, project.rps));
  target('PostgreSQL bound-user p99 < 20 ms at 50 connections', projectPg.p99 < 20, `p99 ${projectPg.p99.toFixed(2)} ms`);
}
if (results.bare.length && project) {
  const bare = row('bare node:http (verify + fixed JSON)', results.bare);
  const floor = row('  the same + form + one SQLite read', results.floor);
  const boltM = row('@slack/bolt (HTTPReceiver)', results.bolt);
  const plumbing = row("bare's work through our src/http.ts", results.plumbing);
  console.log(`ratios: project/bare ${ratio(project.rps, bare.rps)}   project/(bare + SQLite read) ${ratio(project.rps, floor.rps)}   project/bolt ${ratio(project.rps, boltM.rps)}`);
  steps = { bare, plumbing, project };
}

// ---------- the unbound path: a new link per request ----------

/**
 * New links, each request from a Slack user never seen, on each of `setups` (started together),
 * in alternating rounds as the bound-user servers are: the machine's slow minutes fall on all.
 */
async function newLinks(setups: Array<{ name: string; env: Record<string, string>; cwd?: string; dbCpu?: () => number }>): Promise<Result[][]> {
  const procs = await Promise.all(setups.map((x) => start(x.name, process.execPath, IMAGE_ARGS, { ...x.env, LINK_VERIFICATION: 'confirm' }, 'src/main.ts', x.cwd)));
  const out: Result[][] = setups.map(() => []);
  let users = 0;
  // A different Slack user for every request: per-user link limits exist, and each is one write.
  const fresh = (count: number) => Array.from({ length: count }, () => slashCommand(`UN${users++}`, 'link'));
  try {
    for (const [i, proc] of procs.entries()) if (WARMUP_SECONDS > 0) await wrk(proc, fresh(30_000 * WARMUP_SECONDS), WARMUP_SECONDS, setups[i]!.dbCpu);
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [...procs.keys()] : [...procs.keys()].reverse();
      for (const i of order) out[i]!.push(await wrk(procs[i]!, fresh(20_000 * SECONDS), SECONDS, setups[i]!.dbCpu));
    }
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
  return out;
}

if (postgres && (runs('postgres') || runs('rest'))) {
  const [unbound, unboundPg, baselinePg] = await newLinks([
    { name: 'project-links', env: { ...projectEnv, DATABASE_PATH: join(dir, 'links.db') } },
    { name: 'postgres-links', env: postgresEnv(await postgres.database()), dbCpu: postgres.cpuUs },
    ...(BASELINE ? [{ name: 'baseline-postgres-links', env: postgresEnv(await postgres.database()), cwd: BASELINE, dbCpu: postgres.cpuUs }] : []),
  ]);
  console.log(`\n${'unbound: a new link per request'.padEnd(40)} ${HEADER}`);
  const links = row('links created (WAL, synchronous=FULL)', unbound!);
  const linksPg = row('  the same on PostgreSQL (fsync, sync. commit)', unboundPg!);
  if (baselinePg?.length) {
    const before = row(`  the same, as checked out in ${BASELINE}`, baselinePg);
    console.log(`    on PostgreSQL: this checkout / BENCH_BASELINE ${ratio(linksPg.rps, before.rps)}`);
  }
  console.log(`  PostgreSQL / SQLite: ${ratio(linksPg.rps, links.rps)} links/s`);
  for (const [name, m] of [['SQLite', links], ['PostgreSQL', linksPg]] as const) {
    target(`new links ≥ 1,000/s, ${name}`, m.rps >= 1000, `${m.rps.toFixed(0)} links/s, p99 ${m.p99.toFixed(2)} ms`);
  }
  target('PostgreSQL new links ≥ 0.25× SQLite, same run', linksPg.rps >= 0.25 * links.rps, ratio(linksPg.rps, links.rps));
}

// ---------- the /associate confirmation POST ----------

if (postgres && runs('rest')) {
  const proc = await start('project-writes', process.execPath, IMAGE_ARGS, { ...projectEnv, LINK_VERIFICATION: 'confirm', DATABASE_PATH: join(dir, 'writes.db') }, 'src/main.ts');
  // Links to confirm, made and opened beforehand: each POST consumes one (a transaction + a DM).
  const COUNT = 40_000;
  const forms: Request[] = [];
  const make = async (i: number) => {
    const cmd = slashCommand(`UC${i}`, 'link');
    const res = await fetch(`${proc.url}${cmd.path}`, { method: 'POST', headers: cmd.headers, body: cmd.body });
    const link = /associate\?nonce=([\w-]+)/.exec(await res.text())![1]!;
    const page = await (await fetch(`${proc.url}/associate?nonce=${link}`, { headers: { 'x-forwarded-user': `person${i}` } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    forms.push({
      method: 'POST',
      path: '/associate',
      headers: { 'Content-Type': FORM, 'X-Forwarded-User': `person${i}`, 'Sec-Fetch-Site': 'same-origin' },
      body: new URLSearchParams({ nonce: link, csrf, decision: 'link' }).toString(),
    });
  };
  for (let i = 0; i < COUNT; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => make(i + j)));
  const confirmSeconds = 2;
  const confirmResult = await wrk(proc, forms, confirmSeconds);
  console.log(`\n${'/associate confirmation POST'.padEnd(40)} ${HEADER}`);
  row('bindings confirmed (+ a Slack DM each)', [confirmResult]);
  peakRssWrites = rssMb(proc.serverPid);
  if (confirmResult.errors) console.log(`(${confirmResult.errors} requests past the ${COUNT} prepared links reused spent ones: 410s, counted as errors and in req/s)`);
  await proc.stop();
}

// ---------- where the bound-user time goes ----------

if (steps) {
  const { bare, plumbing, project: p } = steps;
  const measured = await measureSteps(databasePath, SECRET, slashCommand(boundUser, 'whoami'));
  console.log(`\nthe project's steps for a bound user's command, each alone (µs per call):`);
  for (const step of measured) console.log(`  ${`${step.part ? '  ' : ''}${step.label}`.padEnd(60)} ${step.us.toFixed(2).padStart(6)}`);
  const [floor, ...ours] = measured;
  const beyondFloor = ours.filter((x) => !x.part).reduce((a, x) => a + x.us, 0) - floor!.us;
  type Row = { userUs: number; kernelUs: number };
  const extra = (a: Row, b: Row) => `${(a.userUs - b.userUs).toFixed(1)} µs user + ${(a.kernelUs - b.kernelUs).toFixed(1)} µs kernel`;
  console.log(`  the steps beyond the bare server's work add up to ${beyondFloor.toFixed(1)} µs alone. Measured CPU per request:`);
  console.log(`  our HTTP plumbing over the bare server: ${extra(plumbing, bare)}`);
  console.log(`  the whole project over our plumbing:    ${extra(p, plumbing)}`);
}

// ---------- latency at Slack's real rates: a constant 200 commands/s ----------

if (runs('rate')) {
  const RATE = Number(process.env.BENCH_RATE ?? 200);
  const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 30);
  const APP_TOKEN = 'xapp-1-A0001-bench';
  const socketEnv = { SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: '' };
  const cases: Array<{ label: string; over: 'http' | 'socket'; start: () => Promise<Proc> }> = [
    { label: 'this project, SQLite, HTTP', over: 'http', start: servers.project },
    ...(postgres ? [{ label: 'this project, PostgreSQL, HTTP', over: 'http' as const, start: servers.postgres }] : []),
    { label: 'this project, SQLite, Socket Mode', over: 'socket', start: () => start('project-socket', process.execPath, IMAGE_ARGS, { ...projectEnv, ...socketEnv }, 'src/main.ts') },
    ...(postgres
      ? [{ label: 'this project, PostgreSQL, Socket Mode', over: 'socket' as const, start: () => start('postgres-socket', process.execPath, IMAGE_ARGS, { ...postgresEnv(boundUrl), ...socketEnv }, 'src/main.ts') }]
      : []),
    { label: 'bare node:http (the load\'s own floor)', over: 'http', start: servers.bare },
  ];
  console.log(`\nlatency at a constant ${RATE} commands/s for ${RATE_SECONDS} s, open loop, from each command's due time to its answer (ms)`);
  console.log(`${''.padEnd(42)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(7)} ${'errors'.padStart(6)}   this process's own send lag, p99 / max`);
  for (const c of cases) {
    const proc = await c.start();
    try {
      let send: (i: number) => Promise<boolean>;
      let close = () => {};
      const count = RATE * (RATE_SECONDS + WARMUP_SECONDS + 1);
      if (c.over === 'http') {
        const sender = httpSender(proc.url, Array.from({ length: count }, () => slashCommand(boundUser, 'whoami')));
        send = sender.send;
        close = sender.close;
      } else {
        await slack.socket.waitForConnections(1);
        const payloads = Array.from({ length: count }, () => Object.fromEntries(new URLSearchParams(slashCommand(boundUser, 'whoami').body)));
        send = async (i) => {
          const ack = await slack.socket.send('slash_commands', payloads[i], { waitMs: 10_000 });
          return /person4242@corp\.example/.test(JSON.stringify(ack?.payload ?? ''));
        };
      }
      let offset = 0;
      if (WARMUP_SECONDS > 0) {
        await constantRate(send, RATE, WARMUP_SECONDS);
        offset = RATE * WARMUP_SECONDS;
      }
      const r = await constantRate((i) => send(offset + i), RATE, RATE_SECONDS);
      close();
      console.log(
        `${c.label.padEnd(42)} ${r.p50.toFixed(2).padStart(7)} ${r.p99.toFixed(2).padStart(7)} ${r.max.toFixed(1).padStart(7)} ${String(r.errors).padStart(6)}   ${r.sendLagP99.toFixed(2)} / ${r.sendLagMax.toFixed(1)}`,
      );
      if (!c.label.startsWith('bare')) target(`p99 < ${c.label.includes('PostgreSQL') ? 10 : 3} ms at ${RATE}/s, ${c.label}`, r.p99 < (c.label.includes('PostgreSQL') ? 10 : 3) && r.errors === 0, `p99 ${r.p99.toFixed(2)} ms, ${r.errors} errors`);
    } finally {
      await proc.stop();
    }
  }
}

// ---------- memory: peak RSS under `npm start`, a 5 s load against a 60 s one ----------

if (runs('memory')) {
  const MEMORY_SECONDS = Number(process.env.BENCH_MEMORY_SECONDS ?? 60);
  const CHUNK = 5;
  /** The server as the README's trial runs it, `npm start`; the node process that runs src/main.ts is the one measured. */
  const underNpm = (cwd: string) => start('npm-start', 'npm', ['start', '--silent'], { ...projectEnv }, 'src/main.ts', cwd);
  const load = async (seconds: number, cwd = ROOT, run: () => Promise<Proc> = () => underNpm(cwd)) => {
    const proc = await run();
    const samples: string[] = [];
    let errors = 0;
    // Three times the rate the server reached in the chunk before (at least 20,000/s): the pauses
    // between chunks (signing the next pool) stay short, and no command is sent twice (a repeat
    // would be refused as a replay, and counted as an error).
    let perSecond = 60_000;
    try {
      for (let done = 0; done < seconds; done += CHUNK) {
        // Fresh unique commands for each chunk (a pool for the whole run would not fit in memory).
        const r = await wrk(proc, Array.from({ length: perSecond * CHUNK }, () => slashCommand(boundUser, 'whoami')), CHUNK);
        errors += r.errors;
        perSecond = Math.min(60_000, Math.max(20_000, Math.ceil(r.rps * 3)));
        samples.push(`${done + CHUNK} s: ${rssMb(proc.serverPid, 'VmRSS').toFixed(0)}`);
      }
      // What the resident memory is at the end: the process's own (anonymous) and mapped files (Node's code).
      samples.push(`at the end ${rssMb(proc.serverPid, 'RssAnon').toFixed(0)} own + ${rssMb(proc.serverPid, 'RssFile').toFixed(0)} files`);
      return { peak: rssMb(proc.serverPid), samples, errors };
    } finally {
      await proc.stop();
    }
  };
  const short = await load(CHUNK);
  const long = await load(MEMORY_SECONDS);
  console.log(`\nmemory under \`npm start\` (Node ${process.version}), unique bound-user commands from wrk, ${CHUNK} s at a time:`);
  console.log(`  peak RSS (VmHWM) after ${CHUNK} s: ${short.peak.toFixed(0)} MB; after ${MEMORY_SECONDS} s: ${long.peak.toFixed(0)} MB (${ratio(long.peak, short.peak)})`);
  console.log(`  RSS along the ${MEMORY_SECONDS} s run, MB: ${long.samples.join(', ')}; errors ${short.errors + long.errors}`);
  target(`peak RSS over ${MEMORY_SECONDS} s ≤ 150 MB (Node 20, npm start)`, long.peak <= 150, `${long.peak.toFixed(0)} MB`);
  target(`not growing: ${MEMORY_SECONDS} s peak within 15% of ${CHUNK} s peak`, long.peak <= short.peak * 1.15, ratio(long.peak, short.peak));
  if (IMAGE) {
    const [shortImage, longImage] = [await load(CHUNK, ROOT, () => startImage(IMAGE)), await load(MEMORY_SECONDS, ROOT, () => startImage(IMAGE))];
    console.log(`  the image ${IMAGE} (its own Node and node_modules, as its CMD runs it): ${shortImage.peak.toFixed(0)} MB after ${CHUNK} s, ${longImage.peak.toFixed(0)} MB after ${MEMORY_SECONDS} s (${ratio(longImage.peak, shortImage.peak)})`);
    console.log(`  RSS along its ${MEMORY_SECONDS} s run, MB: ${longImage.samples.join(', ')}; errors ${shortImage.errors + longImage.errors}`);
    target(`peak RSS over ${MEMORY_SECONDS} s ≤ 100 MB (the image)`, longImage.peak <= 100, `${longImage.peak.toFixed(0)} MB`);
    target(`not growing in the image: ${MEMORY_SECONDS} s peak within 15% of ${CHUNK} s peak`, longImage.peak <= shortImage.peak * 1.15, ratio(longImage.peak, shortImage.peak));
  }
  if (BASELINE) {
    const [shortBefore, longBefore] = [await load(CHUNK, BASELINE), await load(MEMORY_SECONDS, BASELINE)];
    console.log(`  as checked out in ${BASELINE}: ${shortBefore.peak.toFixed(0)} MB after ${CHUNK} s, ${longBefore.peak.toFixed(0)} MB after ${MEMORY_SECONDS} s`);
    console.log(`  RSS along its ${MEMORY_SECONDS} s run, MB: ${longBefore.samples.join(', ')}; errors ${shortBefore.errors + longBefore.errors}`);
  }
}

if (project) {
  console.log(`\nproject peak RSS: ${peakRssBound.toFixed(0)} MB under the bound-user load${peakRssWrites ? `; ${peakRssWrites.toFixed(0)} MB after the write paths (links, confirmations and their Slack DMs)` : ''}`);
  console.log(`project idle RSS after start: median ${median(idleRss).toFixed(0)} MB`);
  console.log(`project ready (node ${IMAGE_ARGS.join(' ')} → /healthz 200): median ${median(readiness).toFixed(0)} ms, worst ${Math.max(...readiness).toFixed(0)} ms`);
}
console.log(`\ntargets:\n${targets.join('\n')}`);
postgres?.cluster.dispose();
await slack.close();
// BENCH_KEEP=1 keeps the servers' logs (with BENCH_NODE_ARGS=--trace-gc, their collections).
if (process.env.BENCH_KEEP === '1') console.log(`logs kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
process.exit(0);
