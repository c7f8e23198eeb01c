// A slash command's store work on PostgreSQL, one call against the calls it took before, in
// interleaved batches in one process (so that the machine's slow minutes fall on both): for a
// bound user, claimRequest + getBinding (two round trips) against startCommand (one); for a new
// link, claimRequest + getBinding + createLink against startCommand with the link. Ten commands at
// once, as the pool's ten connections; wall time per command. `npx tsx test/bench/postgres-command.ts`
// (about a minute; needs PostgreSQL's binaries, as the tests do). Also CPU per command of the
// database's processes.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { startCluster, freshDatabase } from '../support/postgres.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { BENCH_SETTINGS } from './postgres.ts';

const cluster = await startCluster({ throwaway: false, settings: BENCH_SETTINGS });
const db = await freshDatabase(cluster);
const store = await openPostgresStore(db.url);
const user = (userId: string) => ({ org: 'T1', userId, teamId: 'T1', enterpriseId: null, userName: userId, teamDomain: 'd' });
await store.pool.query(
  `INSERT INTO bindings (slack_org, slack_user_id, slack_team_id, slack_user_name, slack_team_domain, internal_user, created_at, last_used_at)
   VALUES ('T1', 'U1', 'T1', 'u1', 'd', 'alice', 0, $1)`,
  [Date.now()],
);
const by = { actor: 'bench', requestId: null, clientAddress: null };
const request = { command: '/acct', pendingText: null, channelId: 'C1', responseUrl: null };
let n = 0;
const link = () => ({ request, nonceHash: randomBytes(32), ttlMs: 600_000, perMinute: 5 });
const cases = {
  'bound, claimRequest + getBinding': async () => {
    const now = Date.now();
    await store.claimRequest(`k${n++}`, now + 300_000, now);
    await store.getBinding(user('U1'));
  },
  'bound, startCommand': async () => {
    const now = Date.now();
    await store.startCommand({ user: user('U1'), now, claim: { key: `k${n++}`, expiresAt: now + 300_000 }, link: null, by });
  },
  'new link, claimRequest + getBinding + createLink': async () => {
    const now = Date.now();
    const i = n++;
    const u = user(`N${i}`);
    await store.claimRequest(`k${i}`, now + 300_000, now);
    await store.getBinding(u);
    await store.createLink({ user: u, now, ...link() }, by);
  },
  'new link, startCommand': async () => {
    const now = Date.now();
    const i = n++;
    await store.startCommand({ user: user(`N${i}`), now, claim: { key: `k${i}`, expiresAt: now + 300_000 }, link, by });
  },
};
const TICK_US = 1e6 / 100; // CLK_TCK
const dbCpu = () =>
  cluster.processes().reduce((total, pid) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return total + (Number(f[11]) + Number(f[12])) * TICK_US;
    } catch {
      return total;
    }
  }, 0);
const batch = async (f: () => Promise<void>, count = 2000, concurrency = 10) => {
  const started = performance.now();
  const cpu = dbCpu();
  let i = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (i++ < count) await f();
  }));
  return { us: ((performance.now() - started) * 1000) / count, dbUs: (dbCpu() - cpu) / count };
};
const results = new Map<string, Array<{ us: number; dbUs: number }>>();
for (const f of Object.values(cases)) await batch(f, 500);
for (let round = 0; round < 5; round++) {
  for (const [name, f] of Object.entries(cases)) results.set(name, [...(results.get(name) ?? []), await batch(f)]);
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log('PostgreSQL, 10 commands at once, medians of 5 interleaved batches of 2,000:');
for (const [name, rs] of results) {
  console.log(`  ${name.padEnd(50)} ${median(rs.map((r) => r.us)).toFixed(0).padStart(6)} µs per command   PostgreSQL CPU ${median(rs.map((r) => r.dbUs)).toFixed(0).padStart(5)} µs`);
}
await store.close();
await db.drop();
cluster.dispose();
