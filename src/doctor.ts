// The self-check an operator runs first (`npm run admin -- doctor`), and the server runs at every
// start: each mistake of a first deployment named with its fix, before a user meets it.
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Config } from './config/index.ts';
import { describeDatabase, redactUrl } from './config/index.ts';
import { describe } from './lib/log.ts';
import { TOKEN_REJECTED } from './slack/api.ts';
import type { SlackWorkspace } from './model.ts';

export interface Finding {
  level: 'ok' | 'warn' | 'fail';
  check: string;
  message: string;
  /** The slack check, when Slack answered: the workspace the bot token belongs to. */
  workspace?: SlackWorkspace;
}

/** The workspace auth.test names: the team, the enterprise on Grid, and the subdomain of its URL. */
function workspaceOf(body: { team_id?: unknown; enterprise_id?: unknown; url?: unknown }): SlackWorkspace | undefined {
  if (typeof body.team_id !== 'string' || !body.team_id) return undefined;
  const enterpriseId = typeof body.enterprise_id === 'string' && body.enterprise_id ? body.enterprise_id : null;
  let domain = body.team_id;
  try {
    domain = new URL(String(body.url)).hostname.split('.')[0] || domain;
  } catch {
    // no URL: the team id names it
  }
  return { teamId: body.team_id, enterpriseId, domain };
}

const AUTH_TIMEOUT_MS = 3000;

/** Slack says whose token this is: the workspace and the bot, or why not. */
export async function checkSlackToken(config: Pick<Config, 'slackApiUrl' | 'botToken'>): Promise<Finding> {
  let body: { ok?: boolean; error?: string; team?: string; user?: string; url?: string; team_id?: string; enterprise_id?: string };
  try {
    const res = await fetch(`${config.slackApiUrl}auth.test`, {
      method: 'POST',
      headers: { authorization: `Bearer ${config.botToken}`, 'content-type': 'application/x-www-form-urlencoded' },
      signal: AbortSignal.timeout(AUTH_TIMEOUT_MS),
    });
    body = (await res.json()) as typeof body;
  } catch (err) {
    return { level: 'warn', check: 'slack', message: `Slack could not be asked who SLACK_BOT_TOKEN belongs to (${describe(err)}); starting anyway, DMs and the email check will fail until it answers` };
  }
  if (body.ok) {
    const workspace = workspaceOf(body);
    const message = `SLACK_BOT_TOKEN is the bot ${body.user ?? '?'} in workspace ${body.team ?? '?'}${body.url ? ` (${body.url})` : ''}`;
    return workspace ? { level: 'ok', check: 'slack', message, workspace } : { level: 'ok', check: 'slack', message };
  }
  if (body.error && TOKEN_REJECTED.has(body.error)) {
    return {
      level: 'fail',
      check: 'slack',
      message: `Slack rejected SLACK_BOT_TOKEN (${body.error}): copy the Bot User OAuth Token (xoxb-…) from your app's "OAuth & Permissions" page, after installing the app to the workspace`,
    };
  }
  return { level: 'warn', check: 'slack', message: `Slack's auth.test answered ${body.error ?? 'without ok'}` };
}

/**
 * The SQLite folder must be writable by the user the server runs as (uid 1000 in the image): a
 * root-owned bind mount otherwise fails with SQLite's "unable to open database file".
 */
export function checkDatabaseFolder(config: Pick<Config, 'databaseUrl' | 'databasePath'>, uid = process.getuid?.() ?? -1): Finding {
  if (config.databaseUrl) return { level: 'ok', check: 'database', message: `PostgreSQL at ${describeDatabase(config)}` };
  const path = resolve(config.databasePath);
  // The nearest folder that exists is the one that must let us create the rest.
  let folder = dirname(path);
  while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder);
  const target = existsSync(path) ? path : folder;
  try {
    accessSync(target, constants.W_OK | (target === folder ? constants.X_OK : 0));
    return { level: 'ok', check: 'database', message: `${path} is writable by uid ${uid}` };
  } catch {
    return {
      level: 'fail',
      check: 'database',
      message: `${target} is not writable by uid ${uid}, which runs this service${uid === 1000 ? ' (user node in the image)' : ''}: fix it with "chown -R ${uid}:${uid} ${folder}" (for a Docker bind mount, on the host), or point DATABASE_PATH elsewhere`,
    };
  }
}

/** Can the internal application be reached at all? Any HTTP answer will do; no answer is a warning. */
export async function checkInternalApp(config: Pick<Config, 'internalApp'>): Promise<Finding> {
  if (!config.internalApp) return { level: 'ok', check: 'internal_app', message: 'no INTERNAL_APP_URL: the built-in commands answer' };
  try {
    const res = await fetch(config.internalApp.url, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(AUTH_TIMEOUT_MS) });
    await res.arrayBuffer();
    return { level: 'ok', check: 'internal_app', message: `INTERNAL_APP_URL answers (HTTP ${res.status})` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { level: 'warn', check: 'internal_app', message: `INTERNAL_APP_URL cannot be reached (${cause?.code ?? cause?.message ?? describe(err)}): commands of linked users will fail until it can` };
  }
}

/**
 * Socket Mode: can the app-level token open a connection? apps.connections.open answers with a
 * single-use URL, which is left unused (it expires by itself); a rejected token stops the server.
 */
export async function checkAppToken(config: Pick<Config, 'slackApiUrl' | 'appToken'>): Promise<Finding | null> {
  if (!config.appToken) return null;
  let body: { ok?: boolean; error?: string; url?: unknown };
  try {
    const res = await fetch(`${config.slackApiUrl}apps.connections.open`, {
      method: 'POST',
      headers: { authorization: `Bearer ${config.appToken}`, 'content-type': 'application/x-www-form-urlencoded' },
      signal: AbortSignal.timeout(AUTH_TIMEOUT_MS),
    });
    body = (await res.json()) as typeof body;
  } catch (err) {
    return { level: 'warn', check: 'socket_mode', message: `Slack could not be asked to open a Socket Mode connection (${describe(err)}); starting anyway, and connecting until it answers` };
  }
  if (body.ok && typeof body.url === 'string') return { level: 'ok', check: 'socket_mode', message: 'SLACK_APP_TOKEN opens Socket Mode connections' };
  if (body.error && TOKEN_REJECTED.has(body.error)) {
    return {
      level: 'fail',
      check: 'socket_mode',
      message: `Slack rejected SLACK_APP_TOKEN (${body.error}): create an app-level token with the connections:write scope under your app's Basic Information → App-Level Tokens, and turn Socket Mode on (Settings → Socket Mode)`,
    };
  }
  return { level: 'warn', check: 'socket_mode', message: `Slack's apps.connections.open answered ${body.error ?? 'without a URL'}` };
}

/** Everything at once: configuration warnings, Slack, the database folder, the internal application. */
export async function runChecks(config: Config): Promise<Finding[]> {
  const [slack, socket, internalApp] = await Promise.all([checkSlackToken(config), checkAppToken(config), checkInternalApp(config)]);
  const warnings = config.warnings.map((message): Finding => ({ level: 'warn', check: 'config', message }));
  return [...warnings, slack, ...(socket ? [socket] : []), checkDatabaseFolder(config), internalApp];
}

/** How Slack reaches this service: over HTTP (signed requests), Socket Mode, or both (during a move). */
export const slackTransport = (config: Pick<Config, 'signingSecret' | 'appToken'>): string =>
  config.appToken ? (config.signingSecret ? 'socket mode and http' : 'socket mode') : 'http';

/** The settings in force, for the log and the doctor: every secret reduced to whether it is set. */
export function effectiveSettings(config: Config): Record<string, unknown> {
  return {
    public_base_url: config.publicBaseUrl,
    slack_transport: slackTransport(config),
    // Each secret as set or not, under a name the log's redaction lets through.
    credentials: Object.entries({
      SLACK_SIGNING_SECRET: config.signingSecret,
      SLACK_BOT_TOKEN: config.botToken,
      SLACK_APP_TOKEN: config.appToken,
      TRUSTED_PROXY_SECRET: config.trustedProxySecret,
      INTERNAL_APP_TOKEN: config.internalApp?.token,
      ADMIN_API_TOKEN: config.adminApiToken,
      SLACK_CLIENT_SECRET: config.slackClientSecret,
    })
      .map(([name, value]) => `${name}=${value ? 'set' : 'unset'}`)
      .join(' '),
    app_name: config.appName,
    slash_command: config.slashCommand,
    link_verification: config.linkVerification,
    database: describeDatabase(config),
    trusted_proxies: config.trustedProxies.text,
    proxy_header_required: config.trustedProxySecret !== null,
    trusted_jwt_header: config.trustedJwt?.header ?? null,
    trusted_user_header: config.trustedJwt ? null : config.trustedUserHeader,
    metrics_allow: config.metricsAllow.text,
    admin_api: config.adminApiToken !== null ? `on, for ${config.adminAllow.text}` : 'off',
    internal_app: config.internalApp ? redactUrl(config.internalApp.url) : 'built-in commands',
    slack_api_url: config.slackApiUrl,
    link_ttl_seconds: config.nonceTtlSeconds, // NONCE_TTL_SECONDS (a field named nonce… would be redacted)
    link_rate_limit_per_minute: config.linkRateLimitPerMinute,
    audit_retention_days: config.auditRetentionDays,
    binding_max_idle_days: config.bindingMaxIdleDays || 'off',
  };
}
