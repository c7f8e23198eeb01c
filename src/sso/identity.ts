// Who the SSO proxy says the user is, on the pages behind it (/associate). Only a request from an
// address in TRUSTED_PROXIES is believed, and only through one header (or one signed assertion).
// A pure check: request in, a verdict out, with a precise reason for every refusal.
import type { IncomingMessage } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createJwks, verifyJwt } from './jwt.ts';
import { isAllowed } from '../lib/address-list.ts';
import { accept, refuse, type Checked } from '../lib/checked.ts';
import type { Config } from '../config/index.ts';
import type { InternalIdentity } from '../model.ts';

const MAX_VALUE_LENGTH = 256;
/** The header in which the proxy proves it is the proxy, when TRUSTED_PROXY_SECRET is set. */
export const PROXY_SECRET_HEADER = 'x-proxy-secret';
/**
 * Characters no identity holds: controls, format characters (zero-width, bidi overrides), private
 * use, unassigned, and every space but the plain one. "bob\u00a0" must not become "bob", nor stay a
 * different "bob" that offboarding by name would miss: it is refused.
 */
const UNACCEPTABLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/u;
const utf8 = new TextDecoder('utf-8', { fatal: true });


/** Why a request's identity is not believed; each has its own status and page. */
export type IdentityRefusal =
  | 'untrusted_address'
  | 'proxy_secret_wrong'
  | 'header_repeated'
  | 'header_joined'
  | 'header_invalid'
  | 'no_user'
  | 'no_assertion'
  | 'assertion_invalid'
  | 'assertion_unverifiable'
  | 'no_user_claim';

export type IdentityVerdict = Checked<InternalIdentity, IdentityRefusal>;

export type IdentitySource = (req: IncomingMessage) => Promise<IdentityVerdict>;

/** One header's value (null when absent or empty), or why it cannot be believed. */
type Value = Checked<string | null, IdentityRefusal>;

/** An identity as the proxy sent it, trimmed of spaces and tabs only; null when empty. */
function acceptable(text: string): Value {
  const value = text.replace(/^[ \t]+|[ \t]+$/g, '');
  if (!value) return accept(null);
  if (value.length > MAX_VALUE_LENGTH || UNACCEPTABLE.test(value)) return refuse('header_invalid');
  return accept(value);
}

/**
 * The one header value a trusted proxy set (null when absent or empty), or a refusal. Node gives
 * header bytes as Latin-1; they are decoded here as UTF-8, strictly. A repeated header is refused,
 * and so are two values joined with a comma (what Apache's `RequestHeader append` makes): a proxy
 * that appends instead of overwriting must not let the client choose which value wins.
 */
function single(req: IncomingMessage, header: string): Value {
  const values = req.headersDistinct[header] ?? [];
  if (values.length > 1) return refuse('header_repeated');
  let text: string;
  try {
    text = utf8.decode(Buffer.from(values[0] ?? '', 'latin1'));
  } catch {
    return refuse('header_invalid');
  }
  if (text.includes(',')) return refuse('header_joined');
  return acceptable(text);
}

/** Constant time whatever the lengths: both sides are hashed first. */
const sameSecret = (given: string, expected: string): boolean =>
  timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());

export function createIdentitySource(config: Config): IdentitySource {
  const jwt = config.trustedJwt;
  const jwks = jwt && createJwks({ url: jwt.jwksUrl });

  return async (req) => {
    if (!isAllowed(config.trustedProxies, req.socket.remoteAddress)) return refuse('untrusted_address', `not in TRUSTED_PROXIES (${config.trustedProxies.text})`);
    if (config.trustedProxySecret !== null) {
      const given = req.headersDistinct[PROXY_SECRET_HEADER] ?? [];
      if (given.length !== 1 || !sameSecret(given[0]!, config.trustedProxySecret)) {
        return refuse('proxy_secret_wrong', given.length ? 'X-Proxy-Secret does not match TRUSTED_PROXY_SECRET' : 'no X-Proxy-Secret header');
      }
    }
    if (!jwt || !jwks) {
      const user = single(req, config.trustedUserHeader);
      if (!user.ok) return refuse(user.reason, config.trustedUserHeader);
      if (!user.value) return refuse('no_user', `no ${config.trustedUserHeader} header`);
      const email = single(req, config.trustedEmailHeader);
      if (!email.ok) return refuse(email.reason, config.trustedEmailHeader);
      return accept({ user: user.value, email: email.value });
    }
    // With a signed assertion configured, the plain headers are ignored whatever they say.
    const token = (req.headersDistinct[jwt.header] ?? []).length > 1 ? undefined : req.headers[jwt.header];
    if (typeof token !== 'string' || !token) return refuse('no_assertion', `no ${jwt.header} header`);
    const verdict = await verifyJwt(token, {
      issuer: jwt.issuer,
      audience: jwt.audience,
      nowSeconds: Date.now() / 1000,
      maxLifetimeSeconds: jwt.maxLifetimeSeconds,
      maxLifetimeSetting: 'TRUSTED_JWT_MAX_LIFETIME_SECONDS',
      keysFor: jwks.keysFor,
    });
    if (!verdict.ok) return refuse(verdict.reason === 'unavailable' ? 'assertion_unverifiable' : 'assertion_invalid', verdict.detail);
    const claim = (name: string): string | null => {
      const value = verdict.value[name];
      if (typeof value !== 'string') return null;
      const checked = acceptable(value);
      return checked.ok ? checked.value : null;
    };
    const user = claim(jwt.userClaim);
    if (!user) return refuse('no_user_claim', `no usable "${jwt.userClaim}" claim`);
    return accept({ user, email: claim(jwt.emailClaim) });
  };
}
