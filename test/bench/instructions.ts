// `npm run bench:instructions [DIR…]`: user-space instructions per bound-user command, counted by
// valgrind's callgrind in the server process. A count does not move with whatever else the machine
// runs (wall-clock numbers here vary by ±10–30% from run to run), so a change of a few percent can
// be told from noise: the before/after of each lever in docs/performance.md. Kernel time (the
// loopback write and the load generator's wake-up) is not in it; `npm run bench` has that.
//
// For each checkout given (default: this one), the server starts under callgrind (`node src/main.ts`
// on Node 24, with tsx's loader on Node 20; the image's V8 flag only if given in BENCH_NODE_ARGS),
// gets WARMUP unique signed `/acct whoami` commands (V8 compiles the hot code), then the
// counters are zeroed, COUNT more are sent, and the counters dumped. BENCH_COMMAND=link counts
// `/acct link` of a new Slack user each time instead (the unbound path: a link written, with its
// audit row, by group commit). BENCH_NODE_ARGS go to node
// before the script (a V8 flag's cost, e.g. --max-semi-space-size=1). Needs valgrind (Debian).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { commandBody, signedHeaders } from '../support/slack.ts';
import { startSlackStub } from '../support/slack-stand-in.ts';
import { ROOT } from '../support/server.ts';
import { freePort } from '../support/server.ts';

const WARMUP = Number(process.env.BENCH_WARMUP_REQUESTS ?? 4000);
const COUNT = Number(process.env.BENCH_REQUESTS ?? 2000);
const SECRET = 'bench-signing-secret-0123456789';
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const USER = 'U004242';
const COMMAND = process.env.BENCH_COMMAND ?? 'whoami';
if (COMMAND !== 'whoami' && COMMAND !== 'link') {
  console.error('BENCH_COMMAND is whoami (the default) or link');
  process.exit(2);
}

if (spawnSync('valgrind', ['--version']).error) {
  console.error('npm run bench:instructions needs valgrind: apt-get install -y valgrind');
  process.exit(2);
}
const checkouts = process.argv.length > 2 ? process.argv.slice(2).map((d) => resolve(d)) : [ROOT];
const dir = mkdtempSync(join(tmpdir(), 'acct-instructions-'));
const slack = await startSlackStub();

let newUsers = 0;
const agent = new Agent({ keepAlive: true, maxSockets: 8 });
function command(url: string): Promise<string> {
  // whoami: the bound user; link: a user never seen before, every time.
  const body = commandBody({ team: 'T0BENCH', teamDomain: 'bench', user: COMMAND === 'link' ? `UNEW${++newUsers}` : USER, text: COMMAND });
  return new Promise((done, fail) => {
    const req = request(`${url}/slack/commands`, { method: 'POST', agent, headers: signedHeaders(body, { secret: SECRET }) });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? done(text) : fail(new Error(`HTTP ${res.statusCode}: ${text}`))));
    });
    req.on('error', fail);
    req.end(body);
  });
}

/**
 * `count` commands, eight at a time (the server sees concurrent keep-alive connections). New links
 * one at a time: links arriving together share one commit (group commit), so with several in
 * flight the count would depend on timing; one at a time, every link pays a whole commit.
 */
async function send(url: string, count: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: COMMAND === 'link' ? 1 : 8 }, async () => {
    while (next++ < count) {
      const text = await command(url);
      if (!text.includes(COMMAND === 'link' ? '/associate?nonce=' : 'person4242@corp.example')) throw new Error(`unexpected answer: ${text}`);
    }
  }));
}

/** The total of the `summary:` or `totals:` line of a callgrind dump. */
const instructionsIn = (file: string): number => Number(/^(?:summary|totals):\s+(\d+)/m.exec(readFileSync(file, 'utf8'))![1]);

async function measure(checkout: string, index: number): Promise<number> {
  const database = join(dir, `bench-${index}.db`);
  const db = new Database(database);
  db.close();
  const port = await freePort();
  const out = join(dir, `callgrind-${index}.out`);
  const stripsTypes = Boolean((process.features as { typescript?: string | false }).typescript);
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}`, process.execPath, ...nodeArgs, ...(stripsTypes ? [] : ['--import', 'tsx']), 'src/main.ts'],
    {
      cwd: checkout,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), SLACK_SIGNING_SECRET: SECRET, SLACK_BOT_TOKEN: 'xoxb-bench',
        PUBLIC_BASE_URL: 'https://bench.example', SLACK_API_URL: slack.url, DATABASE_PATH: database, NODE_COMPILE_CACHE: join(dir, 'compile-cache'),
      },
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  try {
    return await countRequests(child, url, database, index, () => stderr);
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }
}

async function countRequests(child: ChildProcess, url: string, database: string, index: number, stderr: () => string): Promise<number> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server under valgrind exited: ${stderr()}`);
    if (Date.now() > deadline) throw new Error(`the server under valgrind was not ready in 120 s: ${stderr()}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // The server made its schema; the bound user and 9,999 others, as the wall-clock bench has them.
  const seed = new Database(database);
  const insert = seed.prepare(`INSERT INTO bindings (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain, internal_user, created_at, last_used_at)
    VALUES ('T0BENCH', ?, 'T0BENCH', NULL, ?, 'bench', ?, ?, ?)`);
  seed.transaction(() => {
    for (let i = 0; i < 10_000; i++) insert.run(`U${String(i).padStart(6, '0')}`, `user${i}`, `person${i}@corp.example`, Date.now(), Date.now());
  })();
  seed.close();

  await send(url, WARMUP);
  const control = (...args: string[]) => {
    const r = spawnSync('callgrind_control', [...args, String(child.pid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  };
  control('--zero');
  await send(url, COUNT);
  control('--dump=measured');
  const dumps = readdirSync(dir).filter((f) => f.startsWith(`callgrind-${index}.out.`)).sort();
  return instructionsIn(join(dir, dumps.at(-1)!)) / COUNT;
}

console.log(`valgrind --tool=callgrind, Node ${process.version} ${nodeArgs.join(' ')}: ${WARMUP} \`/acct ${COMMAND}\` to warm up, then ${COUNT} counted (user-space instructions of the server process)`);
for (const [i, checkout] of checkouts.entries()) {
  const perRequest = await measure(checkout, i);
  console.log(`${checkout.padEnd(40)} ${Math.round(perRequest).toLocaleString('en').padStart(10)} instructions per ${COMMAND === 'link' ? 'new link' : 'bound-user command'}`);
}
agent.destroy();
await slack.close();
// BENCH_KEEP=1 keeps the dumps, for `callgrind_annotate` (where the instructions go).
if (process.env.BENCH_KEEP === '1') console.log(`dumps kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
