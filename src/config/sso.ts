// Who may speak for an internal user: the SSO proxy's headers (from TRUSTED_PROXIES, with its
// TRUSTED_PROXY_SECRET), or a signed assertion (TRUSTED_JWT_*), which is then the only source.
import { widerThan, type AddressList } from '../lib/address-list.ts';
import type { Reader } from './reader.ts';

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

export interface SsoSettings {
  trustedUserHeader: string;
  trustedEmailHeader: string;
  trustedProxies: AddressList;
  /** When set, the only source of identity on the pages; the plain headers are ignored. */
  trustedJwt: JwtConfig | null;
  /** When set, pages behind SSO also require the header X-Proxy-Secret to hold it. */
  trustedProxySecret: string | null;
}

/**
 * The entries of an allow-list that are "everyone" in practice: IPv4 ranges wider than /8 and IPv6
 * ranges wider than /16, in any notation (`::ffff:0:0/96` admits every IPv4 address as surely as
 * `::/0` does).
 */
export const wideRanges = (allowed: AddressList): string[] => widerThan(allowed, 8, 16);

function readJwt(r: Reader): JwtConfig | null {
  if (!r.env.TRUSTED_JWT_HEADER) {
    for (const name of ['TRUSTED_JWT_JWKS_URL', 'TRUSTED_JWT_ISSUER', 'TRUSTED_JWT_AUDIENCE', 'TRUSTED_JWT_MAX_LIFETIME_SECONDS']) {
      if (r.env[name]) r.problem(`${name} is set but TRUSTED_JWT_HEADER is not, so it would be ignored`);
    }
    return null;
  }
  const need = (name: string): string => {
    if (!r.env[name]) r.problem(`${name} is required when TRUSTED_JWT_HEADER is set`);
    return r.env[name] ?? '';
  };
  const jwksUrl = need('TRUSTED_JWT_JWKS_URL');
  if (jwksUrl) r.httpUrl('TRUSTED_JWT_JWKS_URL', jwksUrl);
  return {
    header: r.headerName('TRUSTED_JWT_HEADER', ''),
    jwksUrl,
    issuer: need('TRUSTED_JWT_ISSUER'),
    audience: need('TRUSTED_JWT_AUDIENCE'),
    userClaim: r.env.TRUSTED_JWT_USER_CLAIM || 'email',
    emailClaim: r.env.TRUSTED_JWT_EMAIL_CLAIM || 'email',
    maxLifetimeSeconds: r.integer('TRUSTED_JWT_MAX_LIFETIME_SECONDS', 86_400, 60, 30 * 86_400),
  };
}

export function readSso(r: Reader): SsoSettings {
  const trustedUserHeader = r.headerName('TRUSTED_USER_HEADER', 'X-Forwarded-User');
  const trustedEmailHeader = r.headerName('TRUSTED_EMAIL_HEADER', 'X-Forwarded-Email');
  const trustedJwt = readJwt(r);
  const trustedProxies = r.addresses('TRUSTED_PROXIES');
  const trustedProxySecret = r.secret('TRUSTED_PROXY_SECRET', false) || null;
  if (trustedProxySecret !== null && trustedProxySecret.length < 16) r.problem('TRUSTED_PROXY_SECRET must be at least 16 characters (say, openssl rand -hex 32)');

  // An address is weak proof that a request came through the SSO proxy: port forwarding (rootless
  // Docker, podman) makes every local process look like the gateway. Wide ranges are worse.
  const wide = wideRanges(trustedProxies);
  const beyondLoopback = trustedProxies.text.split(',').some((e) => e && !/^(127\.|::1$|::ffff:127\.)/.test(e));
  if (wide.length && !trustedJwt && !trustedProxySecret) {
    r.problem(
      `TRUSTED_PROXIES holds ${wide.join(', ')}, which lets almost any address claim to be the sign-in proxy ` +
        '(::/0 also matches every IPv4 address); set TRUSTED_PROXY_SECRET or TRUSTED_JWT_HEADER, or narrow the range',
    );
  } else if (wide.length) {
    r.warn(`TRUSTED_PROXIES holds ${wide.join(', ')}: only ${trustedJwt ? 'the signed assertion' : 'TRUSTED_PROXY_SECRET'} stands between the internet and /associate`);
  } else if (beyondLoopback && !trustedJwt && !trustedProxySecret) {
    r.warn(
      `TRUSTED_PROXIES (${trustedProxies.text}) trusts addresses beyond loopback by address alone: set TRUSTED_PROXY_SECRET ` +
        '(and have the proxy send it as X-Proxy-Secret) or use TRUSTED_JWT_HEADER',
    );
  }
  return { trustedUserHeader, trustedEmailHeader, trustedProxies, trustedJwt, trustedProxySecret };
}
