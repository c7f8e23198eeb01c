// What the CLI prints: aligned tables for people, JSON lines for scripts. Never a nonce, a code, a
// token or a secret: the database holds none to print.
import type { AuditEvent, Binding } from '../model.ts';

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

const utc = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));

/** Rows under a header, each column as wide as its widest cell, then a count. */
function table(io: Io, header: string[], cells: string[][], noun: string): void {
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  for (const row of [header, ...cells]) io.out(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  io.out(`${cells.length} ${noun}${cells.length === 1 ? '' : 's'}`);
}

export function printBindings(io: Io, rows: Binding[]): void {
  const cells = rows.map((b) => [b.org, b.userId, b.userName, b.internalUser, utc(b.createdAt), b.verifiedBy ?? '-', utc(b.lastUsedAt)]);
  table(io, ['WORKSPACE', 'SLACK USER', 'NAME', 'INTERNAL USER', 'LINKED (UTC)', 'VERIFIED BY', 'LAST USED (UTC)'], cells, 'binding');
}

export function printAudit(io: Io, rows: AuditEvent[]): void {
  const cells = rows.map((a) => [utc(a.time), a.action, a.reason ?? '', a.org ?? '', a.slackUser ?? '', a.internalUser ?? '', a.actor]);
  table(io, ['TIME (UTC)', 'ACTION', 'REASON', 'WORKSPACE', 'SLACK USER', 'INTERNAL USER', 'ACTOR'], cells, 'event');
}

/** An audit row as a JSON line. */
export const auditJson = (a: AuditEvent) => ({
  time: new Date(a.time).toISOString(),
  action: a.action,
  reason: a.reason,
  org: a.org,
  team_id: a.teamId,
  slack_user: a.slackUser,
  internal_user: a.internalUser,
  actor: a.actor,
  request_id: a.requestId,
  client_address: a.clientAddress,
});
