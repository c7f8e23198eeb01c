// Who the SSO proxy says the user is, on the pages behind it (/associate). Only a request from an
// address in TRUSTED_PROXIES is believed, and only through one header (or one signed assertion).
// A pure check: request in, a verdict out, with a precise reason for every refusal.
import type { IncomingMessage } from 'node:http';
import { createJwks, verifyJwt } from './jwt.ts';
import { isAllowed } from './ip-allow.ts';
import type { Config } from './config.ts';

const MAX_VALUE_LENGTH = 256;
// Printable characters only: a control character in an identity is an attack or a broken proxy.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it refuses
const PRINTABLE = /^[^\x00-\x1f\x7f]+$/;

export interface Identity {
  /** The internal user, as the proxy names them. */
  user: string;
  /** Their email, when the proxy passes one (needed by LINK_VERIFICATION=email). */
  email: string | null;
}

/** Why a request's identity is not believed; each has its own status and page. */
export type IdentityRefusal =
  | 'untrusted_address'
  | 'header_repeated'
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
  header_repeated: { status: 400, message: 'The sign-in proxy sent a header more than once; ask your administrator to check its configuration.' },
  header_invalid: { status: 400, message: 'The sign-in proxy sent a value this service cannot accept.' },
  no_user: { status: 401, message: 'The sign-in proxy did not say who you are. Sign in and open the link again.' },
  no_assertion: { status: 401, message: 'The sign-in proxy did not send a signed identity. Sign in and open the link again.' },
  assertion_invalid: { status: 401, message: 'Your sign-in could not be verified. Sign in again and reopen the link.' },
  assertion_unverifiable: { status: 503, message: 'Your sign-in cannot be verified right now. Please try again in a minute.' },
  no_user_claim: { status: 401, message: 'Your sign-in has no usable user claim.' },
};

/**
 * The one header value a trusted proxy set (null when absent or empty), or a refusal. A repeated
 * header is refused: a proxy that appends instead of overwriting must not let the client choose
 * which value wins.
 */
function single(req: IncomingMessage, header: string): { value: string | null } | { refusal: IdentityRefusal } {
  const values = req.headersDistinct[header] ?? [];
  if (values.length > 1) return { refusal: 'header_repeated' };
  const value = (values[0] ?? '').trim();
  if (!value) return { value: null };
  if (value.length > MAX_VALUE_LENGTH || !PRINTABLE.test(value)) return { refusal: 'header_invalid' };
  return { value };
}

export function createIdentitySource(config: Config): IdentitySource {
  const jwt = config.trustedJwt;
  const jwks = jwt && createJwks({ url: jwt.jwksUrl });

  return async (req) => {
    if (!isAllowed(config.trustedProxies, req.socket.remoteAddress)) return refuse('untrusted_address', req.socket.remoteAddress);
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
    const verdict = await verifyJwt(token, { issuer: jwt.issuer, audience: jwt.audience, nowSeconds: Date.now() / 1000, keysFor: jwks.keysFor });
    if (!verdict.ok) return refuse(verdict.unavailable ? 'assertion_unverifiable' : 'assertion_invalid', verdict.reason);
    const claim = (name: string): string | null => {
      const value = verdict.claims[name];
      return typeof value === 'string' && value.trim() && value.length <= MAX_VALUE_LENGTH && PRINTABLE.test(value) ? value.trim() : null;
    };
    const user = claim(jwt.userClaim);
    if (!user) return refuse('no_user_claim', `no usable "${jwt.userClaim}" claim`);
    return { ok: true, identity: { user, email: claim(jwt.emailClaim) } };
  };
}
