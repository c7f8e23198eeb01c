// Who the SSO proxy says the user is, on the pages behind it (/associate). Only a request from an
// address in TRUSTED_PROXIES is believed, and only through one header (or one signed assertion).
// A pure check: request in, a verdict out, with a precise reason for every refusal.
import type { IncomingMessage } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createJwks, verifyJwt } from './jwt.ts';
import { isAllowed } from '../lib/address-list.ts';
import type { Config } from '../config.ts';

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

export interface Identity {
  /** The internal user, as the proxy names them. */
  user: string;
  /** Their email, when the proxy passes one (needed by LINK_VERIFICATION=email). */
  email: string | null;
}

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

export type IdentityVerdict = { ok: true; identity: Identity } | { ok: false; refusal: IdentityRefusal; detail?: string };

export type IdentitySource = (req: IncomingMessage) => Promise<IdentityVerdict>;

const refuse = (refusal: IdentityRefusal, detail?: string): IdentityVerdict => ({ ok: false, refusal, detail });

/** What the user is told for each refusal, and with which status. */
export const REFUSALS: Record<IdentityRefusal, { status: number; message: string }> = {
  untrusted_address: { status: 403, message: 'This page must be reached through the company sign-in proxy.' },
  proxy_secret_wrong: { status: 403, message: 'This page must be reached through the company sign-in proxy.' },
  header_repeated: { status: 400, message: 'The sign-in proxy sent a header more than once; ask your administrator to check its configuration.' },
  header_joined: {
    status: 400,
    message:
      'The sign-in proxy sent two values joined with a comma in one identity header. Ask your administrator: the proxy must set (overwrite) the header, not append to it.',
  },
  header_invalid: { status: 400, message: 'The sign-in proxy sent a value this service cannot accept.' },
  no_user: { status: 401, message: 'The sign-in proxy did not say who you are. Sign in and open the link again.' },
  no_assertion: { status: 401, message: 'The sign-in proxy did not send a signed identity. Sign in and open the link again.' },
  assertion_invalid: { status: 401, message: 'Your sign-in could not be verified. Sign in again and reopen the link.' },
  assertion_unverifiable: { status: 503, message: 'Your sign-in cannot be verified right now. Please try again in a minute.' },
  no_user_claim: { status: 401, message: 'Your sign-in has no usable user claim.' },
};

type Value = { value: string | null } | { refusal: IdentityRefusal };

/** An identity as the proxy sent it, trimmed of spaces and tabs only; null when empty. */
function acceptable(text: string): Value {
  const value = text.replace(/^[ \t]+|[ \t]+$/g, '');
  if (!value) return { value: null };
  if (value.length > MAX_VALUE_LENGTH || UNACCEPTABLE.test(value)) return { refusal: 'header_invalid' };
  return { value };
}

/**
 * The one header value a trusted proxy set (null when absent or empty), or a refusal. Node gives
 * header bytes as Latin-1; they are decoded here as UTF-8, strictly. A repeated header is refused,
 * and so are two values joined with a comma (what Apache's `RequestHeader append` makes): a proxy
 * that appends instead of overwriting must not let the client choose which value wins.
 */
function single(req: IncomingMessage, header: string): Value {
  const values = req.headersDistinct[header] ?? [];
  if (values.length > 1) return { refusal: 'header_repeated' };
  let text: string;
  try {
    text = utf8.decode(Buffer.from(values[0] ?? '', 'latin1'));
  } catch {
    return { refusal: 'header_invalid' };
  }
  if (text.includes(',')) return { refusal: 'header_joined' };
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
      if ('refusal' in user) return refuse(user.refusal, config.trustedUserHeader);
      if (!user.value) return refuse('no_user', `no ${config.trustedUserHeader} header`);
      const email = single(req, config.trustedEmailHeader);
      if ('refusal' in email) return refuse(email.refusal, config.trustedEmailHeader);
      return { ok: true, identity: { user: user.value, email: email.value } };
    }
    // With a signed assertion configured, the plain headers are ignored whatever they say.
    const token = (req.headersDistinct[jwt.header] ?? []).length > 1 ? undefined : req.headers[jwt.header];
    if (typeof token !== 'string' || !token) return refuse('no_assertion', `no ${jwt.header} header`);
    const verdict = await verifyJwt(token, {
      issuer: jwt.issuer,
      audience: jwt.audience,
      nowSeconds: Date.now() / 1000,
      maxLifetimeSeconds: jwt.maxLifetimeSeconds,
      keysFor: jwks.keysFor,
    });
    if (!verdict.ok) return refuse(verdict.unavailable ? 'assertion_unverifiable' : 'assertion_invalid', verdict.reason);
    const claim = (name: string): string | null => {
      const value = verdict.claims[name];
      if (typeof value !== 'string') return null;
      const checked = acceptable(value);
      return 'value' in checked ? checked.value : null;
    };
    const user = claim(jwt.userClaim);
    if (!user) return refuse('no_user_claim', `no usable "${jwt.userClaim}" claim`);
    return { ok: true, identity: { user, email: claim(jwt.emailClaim) } };
  };
}
