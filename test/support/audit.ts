// The audit trail of a running test server's database, as an operator reads it: `admin audit
// --format jsonl`, each row parsed (time, action, reason, org, team_id, slack_user, internal_user, actor…).
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { ROOT } from './server.ts';

export function auditTrail(server: { databaseEnv: Record<string, string> }, ...filter: string[]): Array<Record<string, any>> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', 'audit', ...filter, '--format', 'jsonl'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...server.databaseEnv },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
