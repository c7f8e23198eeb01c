// The self-check an operator runs first (`npm run admin -- doctor`), and the server runs at every
// start: each mistake of a first deployment named with its fix, before a user meets it.
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Config } from './config/index.ts';
import { describeDatabase, isLoopbackHost, linkExample, redactUrl } from './config/index.ts';
import { describe } from './lib/log.ts';
import { containerEvidence, readDefaultGateway } from './lib/container.ts';
import { schemeMismatch, unreachableReason } from './lib/unreachable.ts';
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
 * root-owned bind mount otherwise fails with SQLite's "unable to open database file". In the image
 * (DATA_VOLUME=/data) the fix is on the volume, seen from the host, never inside the image.
 */
export function checkDatabaseFolder(config: Pick<Config, 'databaseUrl' | 'databasePath' | 'dataVolume'>, uid = process.getuid?.() ?? -1): Finding {
  if (config.databaseUrl) return { level: 'ok', check: 'database', message: `PostgreSQL at ${describeDatabase(config)}` };
  const path = resolve(config.databasePath);
  // The nearest folder that exists is the one that must let us create the rest.
  let folder = dirname(path);
  while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder);
  const target = existsSync(path) ? path : folder;
  let writable = true;
  try {
    accessSync(target, constants.W_OK | (target === folder ? constants.X_OK : 0));
  } catch {
    writable = false;
  }
  const who = `uid ${uid}, which runs this service${uid === 1000 ? ' (user node in the image)' : ''}`;
  const volume = config.dataVolume && resolve(config.dataVolume);
  if (volume && !path.startsWith(`${volume}/`)) {
    // A settings file's DATABASE_PATH=./data/… puts the database in /app/data: not writable, and
    // outside the volume, so lost with the container even where it is writable.
    const fix = `delete DATABASE_PATH from the settings (the image puts the database in its volume, ${volume}/account-binding.db), or mount a volume at ${dirname(path)}`;
    return writable
      ? { level: 'warn', check: 'database', message: `${path} is outside the image's volume (${volume}): the database goes with the container; ${fix}` }
      : { level: 'fail', check: 'database', message: `${path} is outside the image's volume (${volume}) and ${target} is not writable by ${who}: ${fix}` };
  }
  if (writable) return { level: 'ok', check: 'database', message: `${path} is writable by uid ${uid}` };
  if (volume) {
    return {
      level: 'fail',
      check: 'database',
      message:
        `${target} is not writable by ${who}: the fix is on the volume mounted at ${volume}, made on the host. A named volume (docker run -v account-binding-data:${volume}) ` +
        `is given to uid ${uid} when Docker creates it; a host folder bind-mounted there must be given to uid ${uid} on the host: "sudo chown -R ${uid}:${uid} HOST_FOLDER" ` +
        `(rootless podman: "podman unshare chown -R ${uid}:${uid} HOST_FOLDER")`,
    };
  }
  return {
    level: 'fail',
    check: 'database',
    message: `${target} is not writable by ${who}: fix it with "chown -R ${uid}:${uid} ${folder}" (for a Docker bind mount, on the host), or point DATABASE_PATH elsewhere`,
  };
}

/** Where this process runs, as the container checks need it: how we know it is a container (null: not one), and the gateway. */
export interface ContainerNetwork {
  evidence: string | null;
  /** The default route's gateway: where Docker's host (and a proxy published through it) connects from. */
  gateway: string | null;
}

/** This process's container, if any: IN_CONTAINER, the runtimes' marker files, `container=`; the gateway from /proc/net/route. */
export function detectContainer(config: Pick<Config, 'inContainer'>): ContainerNetwork {
  const evidence = containerEvidence(config.inContainer, process.env.container);
  return { evidence, gateway: evidence ? readDefaultGateway() : null };
}

const LOOPBACK_ENTRY = /^(127\.|::1(\/12[89])?$|::ffff:127\.)/i;
/** Every entry of an allow-list is a loopback address (or range within 127.0.0.0/8). */
const loopbackOnly = (text: string): boolean => text.split(',').filter(Boolean).every((entry) => LOOPBACK_ENTRY.test(entry));

/**
 * In a container, loopback is the container's own: HOST=127.0.0.1 makes the published port refuse
 * everyone (while the HEALTHCHECK, run inside, passes), and a loopback-only allow-list refuses a
 * proxy or scraper outside, which connects from the gateway (Docker's host) or its own container.
 */
export function checkContainerNetwork(
  config: Pick<Config, 'host' | 'trustedProxies' | 'metricsAllow' | 'adminAllow' | 'adminApiToken'>,
  where: ContainerNetwork,
): Finding | null {
  if (!where.evidence) return null;
  const gateway = where.gateway ?? 'the gateway address (on Docker\'s default bridge 172.17.0.1)';
  const from = `from ${gateway} when on the host, or from its own container's address`;
  const problems: string[] = [];
  if (LOOPBACK_ENTRY.test(config.host) || config.host === 'localhost' || config.host === '[::1]') {
    problems.push(`HOST=${config.host} listens on the container's own loopback: a published port refuses every connection (the HEALTHCHECK, run inside, still passes); delete HOST (the default 0.0.0.0 listens on every interface)`);
  }
  if (loopbackOnly(config.trustedProxies.text)) {
    problems.push(`TRUSTED_PROXIES=${config.trustedProxies.text} trusts the container's own loopback only: the sign-in proxy connects ${from}; set TRUSTED_PROXIES to that address (with TRUSTED_PROXY_SECRET)`);
  }
  if (loopbackOnly(config.metricsAllow.text)) {
    problems.push(`METRICS_ALLOW=${config.metricsAllow.text}: /metrics answers only inside the container (docker exec); a scraper connects ${from}: add that address`);
  }
  if (config.adminApiToken !== null && loopbackOnly(config.adminAllow.text)) {
    problems.push(`ADMIN_ALLOW=${config.adminAllow.text}: the offboarding API answers only inside the container; its caller connects ${from}: add that address`);
  }
  if (!problems.length) return { level: 'ok', check: 'container', message: `in a container (${where.evidence}): HOST and the allow-lists reach beyond its loopback` };
  return {
    level: 'warn',
    check: 'container',
    message:
      `in a container (${where.evidence}), the gateway is ${where.gateway ?? 'unknown (no default route in /proc/net/route)'}. ${problems.join('. ')}. ` +
      'Where the proxy shares this container\'s network (a sidecar, or nginx in the same container), loopback is right: IN_CONTAINER=0 says so',
  };
}

/** Can the internal application be reached at all? Any HTTP answer will do; no answer is a warning that says why. */
export async function checkInternalApp(config: Pick<Config, 'internalApp'>): Promise<Finding> {
  if (!config.internalApp) return { level: 'ok', check: 'internal_app', message: 'no INTERNAL_APP_URL: the built-in commands answer' };
  const url = new URL(config.internalApp.url);
  const shown = `INTERNAL_APP_URL (${redactUrl(config.internalApp.url)})`;
  const mismatch = schemeMismatch(url);
  try {
    const res = await fetch(url, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(AUTH_TIMEOUT_MS) });
    await res.arrayBuffer();
    // nginx answers plain HTTP sent to its HTTPS port with a 400: an answer, but not the application's.
    if (mismatch && res.status === 400) return { level: 'warn', check: 'internal_app', message: `${shown} answers HTTP 400, and ${mismatch}` };
    return { level: 'ok', check: 'internal_app', message: `${shown} answers (HTTP ${res.status})` };
  } catch (err) {
    const reason = unreachableReason(url, err, AUTH_TIMEOUT_MS);
    return {
      level: 'warn',
      check: 'internal_app',
      message: `${shown} cannot be reached: ${reason}${mismatch ? ` (${mismatch})` : ''}; commands of linked users will fail until it can`,
    };
  }
}

/** Where the running server's /metrics is, from this machine: its own address, or loopback when it listens on all. */
function localMetricsUrl(config: Pick<Config, 'host' | 'port'>): string {
  const host = config.host === '0.0.0.0' || config.host === '::' || config.host === 'localhost' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}/metrics`;
}

/**
 * LINK_VERIFICATION=email needs the proxy to pass the signed-in user's email; the doctor cannot
 * sign in through the proxy, but the running server counts every link page opened without it
 * (associate_requests_total{outcome="no_email"}). So, when a server answers beside the doctor
 * (same machine or container, METRICS_ALLOW letting it in), its counters say whether the proxy
 * passes the email. Not run at start: the server's own counters are empty then.
 */
export async function checkEmailHeader(config: Pick<Config, 'linkVerification' | 'trustedJwt' | 'trustedEmailHeader' | 'host' | 'port'>): Promise<Finding | null> {
  if (config.linkVerification !== 'email') return null;
  const header = config.trustedJwt ? `the ${config.trustedJwt.emailClaim} claim of ${config.trustedJwt.header}` : config.trustedEmailHeader;
  const url = localMetricsUrl(config);
  let text: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(AUTH_TIMEOUT_MS) });
    text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch {
    return { level: 'ok', check: 'email_header', message: `not checked: no running server's counters at ${url} (run the doctor beside the server, after a link page was opened, to see whether the proxy passes ${header})` };
  }
  const count = (outcome: string) => Number(new RegExp(`^associate_requests_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  const missing = count('no_email');
  const withEmail = count('confirm_shown') + count('bound') + count('email_mismatch');
  if (missing) {
    return {
      level: 'warn',
      check: 'email_header',
      message:
        `the running server showed ${missing} link page${missing === 1 ? '' : 's'} without an email from the proxy: LINK_VERIFICATION=email needs ${header} ` +
        `set to the signed-in user's email (or TRUSTED_EMAIL_HEADER naming the header the proxy uses), or another LINK_VERIFICATION`,
    };
  }
  if (withEmail) return { level: 'ok', check: 'email_header', message: `the proxy passed ${header} on every link page the running server showed (${withEmail})` };
  return { level: 'ok', check: 'email_header', message: `not checked yet: the running server has shown no link page since it started; open one, then run the doctor again to see whether the proxy passes ${header}` };
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

/**
 * LINK_VERIFICATION=confirm lets a forwarded link bind whoever opens it (docs/security.md: link
 * forwarding). Fine for a trial whose links open on this machine only; anywhere else, a warning,
 * so that the hardening checklist's "no warning" catches it. Null when there is nothing to say.
 */
export function checkLinkVerification(config: Pick<Config, 'linkVerification' | 'publicBaseUrl'>): Finding | null {
  if (config.linkVerification !== 'confirm') return null;
  if (config.publicBaseUrl && isLoopbackHost(new URL(config.publicBaseUrl).hostname)) return null;
  return {
    level: 'warn',
    check: 'link_verification',
    message:
      'LINK_VERIFICATION=confirm: the confirmation page alone proves a link, so a forwarded link binds whoever opens it. ' +
      'Outside a trial on this machine use email (your SSO passes the user\'s email, X-Forwarded-Email), code or slack',
  };
}

/** Everything at once: configuration warnings, Slack, the database folder, the internal application. */
export async function runChecks(config: Config, where: ContainerNetwork = detectContainer(config)): Promise<Finding[]> {
  const [slack, socket, internalApp] = await Promise.all([checkSlackToken(config), checkAppToken(config), checkInternalApp(config)]);
  const warnings = config.warnings.map((message): Finding => ({ level: 'warn', check: 'config', message }));
  const container = checkContainerNetwork(config, where);
  const linkVerification = checkLinkVerification(config);
  return [...warnings, ...(linkVerification ? [linkVerification] : []), slack, ...(socket ? [socket] : []), checkDatabaseFolder(config), ...(container ? [container] : []), internalApp];
}

/** How Slack reaches this service: over HTTP (signed requests), Socket Mode, or both (during a move). */
export const slackTransport = (config: Pick<Config, 'signingSecret' | 'appToken'>): string =>
  config.appToken ? (config.signingSecret ? 'socket mode and http' : 'socket mode') : 'http';

/** The settings in force, for the log and the doctor: every secret reduced to whether it is set. */
export function effectiveSettings(config: Config): Record<string, unknown> {
  return {
    public_base_url: config.publicBaseUrl,
    // What PUBLIC_BASE_URL makes of a link: a path pasted into it shows here.
    link_example: linkExample(config.publicBaseUrl),
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
