// The benchmark's PostgreSQL: a cluster of its own (never a shared one), tuned as a small production
// server would be, not as the tests' throwaway cluster is:
// - durable: fsync, full_page_writes and synchronous_commit stay on (PostgreSQL's defaults), so a
//   confirmed link costs a WAL flush, as SQLite's synchronous=FULL costs it an fsync;
// - shared_buffers 256MB: the whole working set (10,000 bindings, the claims, the audit trail of a
//   run) stays in memory, as it would on any real server;
// - max_wal_size 4GB, checkpoint_timeout 30min: no checkpoint lands in the middle of a 5 s run
//   (a real server checkpoints, but spread over minutes: checkpoint_completion_target 0.9);
// - jit off: the queries are single-row lookups that JIT compilation could only slow down.
// Over TCP on 127.0.0.1, as a database on another host would be reached (minus the network).
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { freshDatabase, startCluster, type Cluster } from '../support/postgres.ts';

export const BENCH_SETTINGS = {
  shared_buffers: '256MB',
  max_wal_size: '4GB',
  checkpoint_timeout: '30min',
  checkpoint_completion_target: '0.9',
  jit: 'off',
  max_connections: 100,
};

export interface BenchPostgres {
  cluster: Cluster;
  /** The server's own answer: SHOW server_version. */
  version: string;
  /** A new, empty database (the server applies the schema at its first start). */
  database(): Promise<string>;
  /** `count` bindings in the bench's workspace, as seedBindings in bench.ts writes them to SQLite. */
  seedBindings(url: string, count: number): Promise<void>;
  /** CPU the server's processes (postmaster and backends) have used so far, in µs. */
  cpuUs(): number;
}

export async function startBenchPostgres(tickUs: number): Promise<BenchPostgres> {
  const cluster = await startCluster({ throwaway: false, settings: BENCH_SETTINGS });
  const client = new pg.Client({ connectionString: cluster.url });
  await client.connect();
  const version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  await client.end();
  return {
    cluster,
    version,
    database: async () => (await freshDatabase(cluster)).url,
    async seedBindings(url, count) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(
          `INSERT INTO bindings (slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain, internal_user, created_at)
           SELECT 'T0BENCH', 'U' || lpad(i::text, 6, '0'), 'T0BENCH', NULL, 'user' || i, 'bench', 'person' || i || '@corp.example', $2
           FROM generate_series(0, $1 - 1) AS i`,
          [count, Date.now()],
        );
        // Fresh statistics, as autovacuum would have them on a server that has run a while.
        await client.query('VACUUM ANALYZE');
      } finally {
        await client.end();
      }
    },
    cpuUs: () =>
      cluster.processes().reduce((total, pid) => {
        try {
          const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          return total + (Number(fields[11]) + Number(fields[12])) * tickUs;
        } catch {
          return total; // exited meanwhile
        }
      }, 0),
  };
}
