// Environment → one typed, validated Config. Every problem is collected so an operator fixes them
// all in one go instead of one restart per typo.
import { readFileSync } from 'node:fs';
import { parseAddressList, type AddressList } from './lib/address-list.ts';
import { LINK_VERIFICATIONS, type LinkVerification } from './model.ts';

/** What the server and the admin CLI say when DATABASE_URL and DATABASE_PATH are both set. */
export const databasePathIgnored = (path: string): string => `DATABASE_PATH (${path}) is ignored: DATABASE_URL selects PostgreSQL`;

/** Where the SQLite file is when DATABASE_PATH is not set (the server and the admin CLI). */
export const DEFAULT_DATABASE_PATH = './data/account-binding.db';

/** A signed identity assertion from a zero-trust proxy (Cloudflare Access, IAP, Pomerium…). */
export interface JwtConfig {
  header: string;
  jwksUrl: string;
  issuer: string;
  audience: string;
  userClaim: string;
  emailClaim: string;
  /** Tokens valid for longer than this (exp − iat, or exp − now) are refused. */
  maxLifetimeSeconds: number;
}

export interface Config {
  signingSecret: string;
  botToken: string;
  publicBaseUrl: string;
  /** Origin of publicBaseUrl, compared with the browser's Origin header on POST /associate. */
  publicOrigin: string;
  port: number;
  host: string;
  databasePath: string;
  /** PostgreSQL (several replicas share it); null: the SQLite file at databasePath. */
  databaseUrl: string | null;
  /** Connections per process to PostgreSQL. */
  databasePoolMax: number;
  trustedUserHeader: string;
  trustedEmailHeader: string;
  trustedProxies: AddressList;
  /** Who may read GET /metrics (the Prometheus scraper); loopback only unless widened. */
  metricsAllow: AddressList;
  /** When set, the only source of identity on /associate; the plain headers are ignored. */
  trustedJwt: JwtConfig | null;
  /** When set, pages behind SSO also require the header X-Proxy-Secret to hold it. */
  trustedProxySecret: string | null;
  /** The path of PUBLIC_BASE_URL ("" or e.g. "/slack-link"): a path-routed ingress may forward it. */
  basePath: string;
  linkVerification: LinkVerification;
  nonceTtlSeconds: number;
  /** Association links one Slack user may create per minute; 0 turns the limit off. */
  linkRateLimitPerMinute: number;
  /** Always ends with a slash, as WebClient expects. */
  slackApiUrl: string;
  /** URL prefixes (each ending in "/") that response_urls may use besides https://hooks.slack.com/. */
  responseUrlAllow: string[];
  /** Unset: commands run against the built-in handler. */
  internalApp: { url: string; token: string; timeoutMs: number } | null;
  /** Audit rows are kept this long, then purged with expired links. */
  auditRetentionDays: number;
  /** Bindings unused for this long are revoked (reason `idle`); 0: never. */
  bindingMaxIdleDays: number;
  /** The offboarding API (/admin/bindings) answers only with this bearer token; null: it is off (404). */
  adminApiToken: string | null;
  /** Who may call the offboarding API; loopback only unless widened. */
  adminAllow: AddressList;
  /** The product's name as users see it on pages, DMs and the App Home (e.g. "Acme Tools"). */
  appName: string;
  /** The slash command as configured in Slack, for links made outside a command (the App Home). */
  slashCommand: string;
  /** Settings that work but deserve the operator's attention, logged at startup. */
  warnings: string[];
}

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Where the database is, as a log may say it: the SQLite path, or PostgreSQL's host and name only. */
export function describeDatabase(config: Pick<Config, 'databaseUrl' | 'databasePath'>): string {
  if (!config.databaseUrl) return config.databasePath;
  try {
    const url = new URL(config.databaseUrl);
    return `postgresql://${url.host}${url.pathname}`;
  } catch {
    return 'postgresql';
  }
}

/** A URL as it may be shown in a log or an error: never its user name or password. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (!url.username && !url.password) return raw;
    url.username = '';
    url.password = '';
    return `${url.href} (credentials removed)`;
  } catch {
    return raw.replace(/\/\/[^/@]*@/, '//[credentials removed]@');
  }
}

/** IPv4 ranges wider than /8 and IPv6 ranges wider than /16 are "everyone" in practice. */
const isWideRange = (entry: string): boolean => {
  const [address = '', prefix] = entry.split('/');
  if (prefix === undefined) return false;
  return address.includes(':') ? Number(prefix) < 16 : Number(prefix) < 8;
};

export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  const warnings: string[] = [];

  // NAME or NAME_FILE (the Docker-secrets convention), never both: two sources would hide a mistake.
  const secret = (name: string, required = true): string => {
    const direct = env[name];
    const file = env[`${name}_FILE`];
    if (direct && file) {
      problems.push(`${name} and ${name}_FILE are both set; set only one`);
      return '';
    }
    if (file) {
      try {
        const value = readFileSync(file, 'utf8').trim();
        if (!value) problems.push(`${name}_FILE (${file}) is empty`);
        return value;
      } catch (err) {
        problems.push(`${name}_FILE (${file}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
        return '';
      }
    }
    if (!direct && required) problems.push(`${name} is required (or ${name}_FILE)${name.startsWith('INTERNAL_APP') ? ' when INTERNAL_APP_URL is set' : ''}`);
    return direct ?? '';
  };

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };

  const httpUrl = (name: string, raw: string): URL | undefined => {
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      problems.push(`${name} must be an http(s) URL (got "${redactUrl(raw)}")`);
      return undefined;
    }
    // A password in a URL ends up in logs, error messages and process listings: use the token settings.
    if (url.username || url.password) {
      problems.push(`${name} must not hold a user name or password (got "${redactUrl(raw)}"); pass credentials through the matching token setting`);
      return undefined;
    }
    return url;
  };

  const signingSecret = secret('SLACK_SIGNING_SECRET');
  const botToken = secret('SLACK_BOT_TOKEN');
  // The bot token, not a user's: a user token would act as that person everywhere.
  if (/^(xoxe\.)?xoxp-/.test(botToken)) {
    problems.push("SLACK_BOT_TOKEN is a user token (xoxp-…): use the app's Bot User OAuth Token (xoxb-…) from its OAuth & Permissions page");
  } else if (botToken && !/^(xoxe\.)?xoxb-/.test(botToken)) {
    warnings.push('SLACK_BOT_TOKEN does not start with xoxb-: Slack bot tokens do (the Bot User OAuth Token on the OAuth & Permissions page)');
  }
  const publicBaseRaw = secret('PUBLIC_BASE_URL');

  let publicBaseUrl = '';
  let publicOrigin = '';
  let basePath = '';
  if (publicBaseRaw) {
    const url = httpUrl('PUBLIC_BASE_URL', publicBaseRaw);
    if (url) {
      if (url.search || url.hash) problems.push('PUBLIC_BASE_URL must not have a query or fragment');
      publicBaseUrl = url.href.replace(/\/+$/, '');
      publicOrigin = url.origin;
      basePath = url.pathname.replace(/\/+$/, '');
      if (url.protocol !== 'https:') warnings.push(`PUBLIC_BASE_URL is not https (${url.origin}): Slack and browsers reach this service over the internet; use https except on a laptop`);
      if (/^(localhost|127\.|\[::1\]$)/.test(url.hostname)) warnings.push(`PUBLIC_BASE_URL is a loopback address (${url.host}): links in Slack will only open on this machine`);
      if (!/^(\/[A-Za-z0-9._~-]+)*$/.test(basePath)) problems.push(`PUBLIC_BASE_URL's path must be plain segments like /slack-link (got "${url.pathname}")`);
    }
  }

  const headerName = (name: string, fallback: string): string => {
    const value = (env[name] || fallback).toLowerCase();
    if (!HEADER_NAME.test(value)) problems.push(`${name} is not a valid header name`);
    return value;
  };
  const trustedUserHeader = headerName('TRUSTED_USER_HEADER', 'X-Forwarded-User');
  const trustedEmailHeader = headerName('TRUSTED_EMAIL_HEADER', 'X-Forwarded-Email');

  const linkVerification = (env.LINK_VERIFICATION || 'email') as LinkVerification;
  if (!LINK_VERIFICATIONS.includes(linkVerification)) {
    problems.push(`LINK_VERIFICATION must be one of ${LINK_VERIFICATIONS.join(', ')} (got "${env.LINK_VERIFICATION}")`);
  }

  let trustedJwt: JwtConfig | null = null;
  if (env.TRUSTED_JWT_HEADER) {
    const need = (name: string): string => {
      if (!env[name]) problems.push(`${name} is required when TRUSTED_JWT_HEADER is set`);
      return env[name] ?? '';
    };
    const jwksUrl = need('TRUSTED_JWT_JWKS_URL');
    if (jwksUrl) httpUrl('TRUSTED_JWT_JWKS_URL', jwksUrl);
    trustedJwt = {
      header: headerName('TRUSTED_JWT_HEADER', ''),
      jwksUrl,
      issuer: need('TRUSTED_JWT_ISSUER'),
      audience: need('TRUSTED_JWT_AUDIENCE'),
      userClaim: env.TRUSTED_JWT_USER_CLAIM || 'email',
      emailClaim: env.TRUSTED_JWT_EMAIL_CLAIM || 'email',
      maxLifetimeSeconds: integer('TRUSTED_JWT_MAX_LIFETIME_SECONDS', 86_400, 60, 30 * 86_400),
    };
  } else {
    for (const name of ['TRUSTED_JWT_JWKS_URL', 'TRUSTED_JWT_ISSUER', 'TRUSTED_JWT_AUDIENCE', 'TRUSTED_JWT_MAX_LIFETIME_SECONDS']) {
      if (env[name]) problems.push(`${name} is set but TRUSTED_JWT_HEADER is not, so it would be ignored`);
    }
  }

  /** A list of IPs and CIDR ranges, loopback only by default. */
  const addresses = (name: string): AddressList => {
    const loopback = '127.0.0.1,::1';
    try {
      return parseAddressList(env[name] ?? loopback);
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
      return parseAddressList(loopback);
    }
  };
  const trustedProxies = addresses('TRUSTED_PROXIES');
  const metricsAllow = addresses('METRICS_ALLOW');
  const trustedProxySecret = secret('TRUSTED_PROXY_SECRET', false) || null;
  if (trustedProxySecret !== null && trustedProxySecret.length < 16) problems.push('TRUSTED_PROXY_SECRET must be at least 16 characters (say, openssl rand -hex 32)');

  // An address is weak proof that a request came through the SSO proxy: port forwarding (rootless
  // Docker, podman) makes every local process look like the gateway. Wide ranges are worse.
  const wide = trustedProxies.text.split(',').filter(isWideRange);
  const beyondLoopback = trustedProxies.text.split(',').some((e) => e && !/^(127\.|::1$|::ffff:127\.)/.test(e));
  if (wide.length && !trustedJwt && !trustedProxySecret) {
    problems.push(
      `TRUSTED_PROXIES holds ${wide.join(', ')}, which lets almost any address claim to be the sign-in proxy ` +
        '(::/0 also matches every IPv4 address); set TRUSTED_PROXY_SECRET or TRUSTED_JWT_HEADER, or narrow the range',
    );
  } else if (wide.length) {
    warnings.push(`TRUSTED_PROXIES holds ${wide.join(', ')}: only ${trustedJwt ? 'the signed assertion' : 'TRUSTED_PROXY_SECRET'} stands between the internet and /associate`);
  } else if (beyondLoopback && !trustedJwt && !trustedProxySecret) {
    warnings.push(
      `TRUSTED_PROXIES (${trustedProxies.text}) trusts addresses beyond loopback by address alone: set TRUSTED_PROXY_SECRET ` +
        '(and have the proxy send it as X-Proxy-Secret) or use TRUSTED_JWT_HEADER',
    );
  }
  // DATABASE_URL may hold the database's password: a secret (NAME or NAME_FILE), never logged.
  const databaseUrl = secret('DATABASE_URL', false) || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\/[^/]/i.test(databaseUrl)) problems.push(`DATABASE_URL must be a postgres:// or postgresql:// URL (got "${redactUrl(databaseUrl)}")`);
  // The image sets DATABASE_PATH for its /data volume; a DATABASE_URL given to it wins.
  if (databaseUrl !== null && env.DATABASE_PATH) warnings.push(databasePathIgnored(env.DATABASE_PATH));
  const slashCommand = env.SLASH_COMMAND || '/acct';
  if (!/^\/[a-z0-9_-]{1,31}$/.test(slashCommand)) problems.push(`SLASH_COMMAND must be like /acct: a slash and up to 31 lower-case letters, digits, - or _ (got "${slashCommand}")`);
  if ((env.APP_NAME ?? '').length > 60) problems.push('APP_NAME must be at most 60 characters');
  const adminAllow = addresses('ADMIN_ALLOW');
  const adminApiToken = secret('ADMIN_API_TOKEN', false) || null;
  if (adminApiToken !== null && adminApiToken.length < 32) problems.push('ADMIN_API_TOKEN must be at least 32 characters (say, openssl rand -hex 32)');
  const wideMetrics = metricsAllow.text.split(',').filter(isWideRange);
  if (wideMetrics.length) warnings.push(`METRICS_ALLOW holds ${wideMetrics.join(', ')}: /metrics is readable from almost anywhere (::/0 also matches every IPv4 address)`);

  let slackApiUrl = 'https://slack.com/api/';
  if (env.SLACK_API_URL) {
    const url = httpUrl('SLACK_API_URL', env.SLACK_API_URL);
    if (url) slackApiUrl = url.href.endsWith('/') ? url.href : `${url.href}/`;
  }

  const responseUrlAllow: string[] = [];
  for (const entry of (env.SLACK_RESPONSE_URL_ALLOW ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const url = httpUrl('SLACK_RESPONSE_URL_ALLOW', entry);
    // A prefix that stops mid-name would let "http://10.0.0.1:80" allow "http://10.0.0.1:8080".
    if (url && !url.href.endsWith('/')) problems.push(`SLACK_RESPONSE_URL_ALLOW entries must end with "/" (got "${entry}")`);
    else if (url) responseUrlAllow.push(url.href);
  }

  let internalApp: Config['internalApp'] = null;
  if (env.INTERNAL_APP_URL) {
    const url = httpUrl('INTERNAL_APP_URL', env.INTERNAL_APP_URL);
    const token = secret('INTERNAL_APP_TOKEN');
    internalApp = { url: url?.href ?? '', token, timeoutMs: integer('INTERNAL_APP_TIMEOUT_MS', 10_000, 100, 600_000) };
  } else if (env.INTERNAL_APP_TOKEN || env.INTERNAL_APP_TOKEN_FILE) {
    problems.push('INTERNAL_APP_TOKEN is set but INTERNAL_APP_URL is not, so it would be ignored');
  }

  const config: Config = {
    signingSecret,
    botToken,
    publicBaseUrl,
    publicOrigin,
    port: integer('PORT', 3000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    databasePath: env.DATABASE_PATH || DEFAULT_DATABASE_PATH,
    databaseUrl,
    databasePoolMax: integer('DATABASE_POOL_MAX', 10, 1, 200),
    trustedUserHeader,
    trustedEmailHeader,
    trustedProxies,
    metricsAllow,
    trustedJwt,
    trustedProxySecret,
    basePath,
    linkVerification,
    nonceTtlSeconds: integer('NONCE_TTL_SECONDS', 600, 1, 86400),
    linkRateLimitPerMinute: integer('LINK_RATE_LIMIT_PER_MINUTE', 5, 0, 10_000),
    slackApiUrl,
    responseUrlAllow,
    internalApp,
    auditRetentionDays: integer('AUDIT_RETENTION_DAYS', 400, 1, 36_500),
    bindingMaxIdleDays: integer('BINDING_MAX_IDLE_DAYS', 0, 0, 36_500),
    adminApiToken,
    adminAllow,
    appName: (env.APP_NAME ?? 'Account Binding').trim() || 'Account Binding',
    slashCommand,
    warnings,
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}
