// Who may tell us who the user is: only the SSO proxy, identified by its address, and only through
// one header. Everything else about identity on /associate goes through here.
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.ts';
import { createJwks, JwksUnavailableError, JwtError, verifyJwt } from './jwt.ts';
import type { Config } from './config.ts';

export interface TrustedProxies {
  list: BlockList;
  /** As configured, for logs and error messages. */
  text: string;
}

/** "127.0.0.1, 10.0.0.0/8, ::1, fd00::/8" → a BlockList. Throws with the offending entry. */
export function parseTrustedProxies(text: string): TrustedProxies {
  const list = new BlockList();
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    const [address = '', prefixText, extra] = entry.split('/');
    const family = isIP(address);
    if (!family || extra !== undefined) throw new Error(`"${entry}" is not an IP address or CIDR range`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefixText === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const prefix = Number(prefixText);
    const max = family === 4 ? 32 : 128;
    if (!/^\d+$/.test(prefixText) || prefix > max) throw new Error(`"${entry}" has a prefix outside 0-${max}`);
    list.addSubnet(address, prefix, type);
  }
  return { list, text: entries.join(',') };
}

export function isTrustedProxy(proxies: TrustedProxies, address: string | undefined): boolean {
  if (!address) return false;
  const family = isIP(address);
  if (!family) return false;
  return proxies.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const MAX_VALUE_LENGTH = 256;
// Printable characters only: a control character in an identity is an attack or a broken proxy.
const PRINTABLE = /^[^\x00-\x1f\x7f]+$/;

export interface Identity {
  /** The internal user, as the proxy names them. */
  user: string;
  /** Their email, when the proxy passes one (needed by LINK_VERIFICATION=email). */
  email: string | null;
}

export type IdentitySource = (req: IncomingMessage) => Promise<Identity>;

/**
 * The one header value a trusted proxy set, or null. A repeated header is refused: a proxy that
 * appends instead of overwriting must not let the client choose which value wins.
 */
function single(req: IncomingMessage, header: string): string | null {
  const values = req.headersDistinct[header] ?? [];
  if (values.length > 1) throw new HttpError(400, 'The sign-in proxy sent a header more than once; ask your administrator to check its configuration.');
  const value = (values[0] ?? '').trim();
  if (!value) return null;
  if (value.length > MAX_VALUE_LENGTH || !PRINTABLE.test(value)) {
    throw new HttpError(400, 'The sign-in proxy sent a value this service cannot accept.');
  }
  return value;
}

/**
 * Who the SSO proxy vouches for. 403 when the request did not come from a trusted proxy (its
 * headers mean nothing then), 401 when the proxy did not name a user.
 */
export function createIdentitySource(config: Config): IdentitySource {
  const jwt = config.trustedJwt;
  const jwks = jwt && createJwks({ url: jwt.jwksUrl });

  return async (req) => {
    if (!isTrustedProxy(config.trustedProxies, req.socket.remoteAddress)) {
      throw new HttpError(403, 'This page must be reached through the company sign-in proxy.');
    }
    if (!jwt || !jwks) {
      const user = single(req, config.trustedUserHeader);
      if (!user) throw new HttpError(401, 'The sign-in proxy did not say who you are. Sign in and open the link again.');
      return { user, email: single(req, config.trustedEmailHeader) };
    }
    // With a signed assertion configured, the plain headers are ignored whatever they say.
    const token = (req.headersDistinct[jwt.header] ?? []).length > 1 ? undefined : req.headers[jwt.header];
    if (typeof token !== 'string' || !token) {
      throw new HttpError(401, 'The sign-in proxy did not send a signed identity. Sign in and open the link again.');
    }
    let claims: Record<string, unknown>;
    try {
      claims = await verifyJwt(token, { issuer: jwt.issuer, audience: jwt.audience, nowSeconds: Date.now() / 1000, keysFor: jwks.keysFor });
    } catch (err) {
      if (err instanceof JwksUnavailableError) {
        throw new HttpError(503, 'Your sign-in cannot be verified right now. Please try again in a minute.', {}, err.message);
      }
      if (err instanceof JwtError) throw new HttpError(401, 'Your sign-in could not be verified. Sign in again and reopen the link.', {}, err.message);
      throw err;
    }
    const claim = (name: string): string | null => {
      const value = claims[name];
      return typeof value === 'string' && value.trim() && value.length <= MAX_VALUE_LENGTH && PRINTABLE.test(value) ? value.trim() : null;
    };
    const user = claim(jwt.userClaim);
    if (!user) throw new HttpError(401, `Your sign-in has no usable "${jwt.userClaim}" claim.`, {}, 'user claim missing');
    return { user, email: claim(jwt.emailClaim) };
  };
}
