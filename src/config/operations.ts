// Running it: where it listens, what users see it called, who may read metrics and call the
// offboarding API, and how long the audit trail and idle bindings are kept.
import { widerThan, type AddressList } from '../lib/address-list.ts';
import { wideRanges } from './sso.ts';
import type { Reader } from './reader.ts';

export interface OperationSettings {
  port: number;
  host: string;
  /** The product's name as users see it on pages, DMs and the App Home (e.g. "Acme Tools"). */
  appName: string;
  /** Who may read GET /metrics (the Prometheus scraper); loopback only unless widened. */
  metricsAllow: AddressList;
  /** The offboarding API (/admin/bindings) answers only with this bearer token; null: it is off (404). */
  adminApiToken: string | null;
  /** Who may call the offboarding API; loopback only unless widened. */
  adminAllow: AddressList;
  /** Audit rows are kept this long, then purged with expired links. */
  auditRetentionDays: number;
  /** Bindings unused for this long are revoked (reason `idle`); 0: never. */
  bindingMaxIdleDays: number;
  /** IN_CONTAINER: true or false as declared (the image sets 1); null: detect (doctor.ts). */
  inContainer: boolean | null;
}

export function readOperations(r: Reader): OperationSettings {
  const metricsAllow = r.addresses('METRICS_ALLOW');
  const wideMetrics = wideRanges(metricsAllow);
  if (wideMetrics.length) r.warn(`METRICS_ALLOW holds ${wideMetrics.join(', ')}: /metrics is readable from almost anywhere (::/0 also matches every IPv4 address)`);
  const adminAllow = r.addresses('ADMIN_ALLOW');
  const wideAdmin = wideRanges(adminAllow);
  const broadAdmin = widerThan(adminAllow, 24, 64);
  if (wideAdmin.length) r.problem(`ADMIN_ALLOW holds ${wideAdmin.join(', ')}, which lets almost any address call the offboarding API: name the hosts that call it`);
  else if (broadAdmin.length) r.warn(`ADMIN_ALLOW holds ${broadAdmin.join(', ')}, wider than a /24 (or /64): the offboarding API should be reachable from a few hosts only`);
  const adminApiToken = r.secret('ADMIN_API_TOKEN', false) || null;
  if (adminApiToken !== null && adminApiToken.length < 32) r.problem('ADMIN_API_TOKEN must be at least 32 characters (say, openssl rand -hex 32)');
  // 32 × "a" is long but guessable. Not 16: hex has only 16 digits, and 23% of `openssl rand -hex 32`
  // tokens lack one of them; none of 20,000 had fewer than 10.
  else if (adminApiToken !== null && new Set(adminApiToken).size < 10) r.problem('ADMIN_API_TOKEN must hold at least 10 distinct characters: make it random (say, openssl rand -hex 32)');
  const inContainer = r.env.IN_CONTAINER ? r.env.IN_CONTAINER === '1' : null;
  if (r.env.IN_CONTAINER && !/^[01]$/.test(r.env.IN_CONTAINER)) r.problem(`IN_CONTAINER must be 1 or 0 (got "${r.env.IN_CONTAINER}")`);
  if ((r.env.APP_NAME ?? '').length > 60) r.problem('APP_NAME must be at most 60 characters');
  return {
    port: r.integer('PORT', 3000, 0, 65535),
    host: r.env.HOST || '0.0.0.0',
    appName: (r.env.APP_NAME ?? 'Account Binding').trim() || 'Account Binding',
    metricsAllow,
    adminApiToken,
    adminAllow,
    auditRetentionDays: r.integer('AUDIT_RETENTION_DAYS', 400, 1, 36_500),
    bindingMaxIdleDays: r.integer('BINDING_MAX_IDLE_DAYS', 0, 0, 36_500),
    inContainer,
  };
}
