// Environment → one typed, validated Config. Every problem is collected so an operator fixes them
// all in one go instead of one restart per typo.
import { readFileSync } from 'node:fs';
import { parseAddressList, type AddressList } from './ip-allow.ts';
import { LINK_VERIFICATIONS, type LinkVerification } from './store/store.ts';

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
  trustedUserHeader: string;
  trustedEmailHeader: string;
  trustedProxies: AddressList;
  /** Who may read GET /metrics (the Prometheus scraper); loopback only unless widened. */
  metricsAllow: AddressList;
  /** When set, the only source of identity on /associate; the plain headers are ignored. */
  trustedJwt: JwtConfig | null;
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

export function loadConfig(env: Env): Config {
  const problems: string[] = [];

  // NAME or NAME_FILE (the Docker-secrets convention), never both: two sources would hide a mistake.
  const secret = (name: string): string => {
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
    if (!direct) problems.push(`${name} is required (or ${name}_FILE)${name.startsWith('INTERNAL_APP') ? ' when INTERNAL_APP_URL is set' : ''}`);
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
    try {
      const url = new URL(raw);
      if (url.protocol === 'https:' || url.protocol === 'http:') return url;
    } catch {
      // reported below
    }
    problems.push(`${name} must be an http(s) URL (got "${raw}")`);
    return undefined;
  };

  const signingSecret = secret('SLACK_SIGNING_SECRET');
  const botToken = secret('SLACK_BOT_TOKEN');
  const publicBaseRaw = secret('PUBLIC_BASE_URL');

  let publicBaseUrl = '';
  let publicOrigin = '';
  if (publicBaseRaw) {
    const url = httpUrl('PUBLIC_BASE_URL', publicBaseRaw);
    if (url) {
      if (url.search || url.hash) problems.push('PUBLIC_BASE_URL must not have a query or fragment');
      publicBaseUrl = url.href.replace(/\/+$/, '');
      publicOrigin = url.origin;
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
    };
  } else {
    for (const name of ['TRUSTED_JWT_JWKS_URL', 'TRUSTED_JWT_ISSUER', 'TRUSTED_JWT_AUDIENCE']) {
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
    trustedUserHeader,
    trustedEmailHeader,
    trustedProxies,
    metricsAllow,
    trustedJwt,
    linkVerification,
    nonceTtlSeconds: integer('NONCE_TTL_SECONDS', 600, 1, 86400),
    linkRateLimitPerMinute: integer('LINK_RATE_LIMIT_PER_MINUTE', 5, 0, 10_000),
    slackApiUrl,
    responseUrlAllow,
    internalApp,
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}
