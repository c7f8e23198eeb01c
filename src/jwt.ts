// Signed identity assertions from zero-trust proxies (Cloudflare Access, Google IAP, Pomerium,
// Teleport): a JWT checked with node:crypto alone. Only ES256 and RS256; never "none", never an
// HMAC algorithm (whose "secret" an attacker could take from the public key: algorithm confusion).
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

/** Clock skew we tolerate between the proxy and us. */
export const JWT_SKEW_SECONDS = 30;

const ALGORITHMS = {
  ES256: { kty: 'EC', dsaEncoding: 'ieee-p1363' as const },
  RS256: { kty: 'RSA', dsaEncoding: undefined },
};
type Algorithm = keyof typeof ALGORITHMS;

export class JwtError extends Error {}
/** The keys could not be had: nothing can be verified, so nothing is believed. */
export class JwksUnavailableError extends Error {}

export interface VerifyOptions {
  issuer: string;
  audience: string;
  nowSeconds: number;
  /** Keys that may have signed a token with this kid (or any kid, when the token names none). */
  keysFor(kid: string | undefined, kty: string): Promise<KeyObject[]>;
}

const decodePart = (part: string, what: string): Record<string, unknown> => {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new JwtError(`the token's ${what} is not a JSON object`);
};

export async function verifyJwt(token: string, o: VerifyOptions): Promise<Record<string, unknown>> {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) throw new JwtError('not a compact JWS');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodePart(headerPart, 'header');
  const alg = header.alg;
  if (typeof alg !== 'string' || !Object.hasOwn(ALGORITHMS, alg)) throw new JwtError(`algorithm ${String(alg)} is not accepted`);
  const { kty, dsaEncoding } = ALGORITHMS[alg as Algorithm];
  const kid = typeof header.kid === 'string' ? header.kid : undefined;

  const keys = await o.keysFor(kid, kty);
  if (!keys.length) throw new JwtError(`no key${kid ? ` with kid ${kid}` : ''} for ${alg}`);
  const signed = Buffer.from(`${headerPart}.${payloadPart}`);
  const signature = Buffer.from(signaturePart, 'base64url');
  const valid = keys.some((key) => verify('sha256', signed, dsaEncoding ? { key, dsaEncoding } : key, signature));
  if (!valid) throw new JwtError('bad signature');

  const claims = decodePart(payloadPart, 'payload');
  const now = o.nowSeconds;
  if (claims.iss !== o.issuer) throw new JwtError('wrong issuer');
  const aud = claims.aud;
  if (!(aud === o.audience || (Array.isArray(aud) && aud.includes(o.audience)))) throw new JwtError('wrong audience');
  if (typeof claims.exp !== 'number') throw new JwtError('no expiry');
  if (claims.exp + JWT_SKEW_SECONDS <= now) throw new JwtError('expired');
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf - JWT_SKEW_SECONDS > now)) throw new JwtError('not yet valid');
  if (claims.iat !== undefined && (typeof claims.iat !== 'number' || claims.iat - JWT_SKEW_SECONDS > now)) throw new JwtError('issued in the future');
  return claims;
}

export interface JwksOptions {
  url: string;
  /** An unknown kid refetches the set at most this often, so forged kids cannot flood the proxy. */
  minRefetchMs?: number;
  /** Keys older than this are fetched again before use (a removed key stops working). */
  maxAgeMs?: number;
  timeoutMs?: number;
}

interface CachedKey {
  kid: string | undefined;
  kty: string;
  key: KeyObject;
}

export function createJwks({ url, minRefetchMs = 5_000, maxAgeMs = 60 * 60_000, timeoutMs = 5000 }: JwksOptions) {
  let keys: CachedKey[] = [];
  let fetchedAt = 0;
  let lastAttempt = -Infinity;
  let inflight: Promise<void> | undefined;

  const load = async (): Promise<void> => {
    lastAttempt = Date.now();
    let body: unknown;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = await res.json();
    } catch (err) {
      throw new JwksUnavailableError(`cannot fetch the proxy's keys: ${(err as Error).message}`);
    }
    const list = (body as { keys?: unknown }).keys;
    if (!Array.isArray(list)) throw new JwksUnavailableError('the proxy key set has no "keys" array');
    const loaded: CachedKey[] = [];
    for (const jwk of list as Array<JsonWebKey & { kid?: string; use?: string }>) {
      if (jwk.use !== undefined && jwk.use !== 'sig') continue;
      if (jwk.kty !== 'EC' && jwk.kty !== 'RSA') continue;
      if (jwk.kty === 'EC' && jwk.crv !== 'P-256') continue;
      try {
        const key = createPublicKey({ key: jwk, format: 'jwk' });
        if (jwk.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) continue;
        loaded.push({ kid: jwk.kid, kty: jwk.kty, key });
      } catch {
        // a key we cannot import is a key we do not trust
      }
    }
    keys = loaded;
    fetchedAt = Date.now();
  };

  const refresh = (): Promise<void> => {
    inflight ??= load().finally(() => (inflight = undefined));
    return inflight;
  };

  const matching = (kid: string | undefined, kty: string) =>
    keys.filter((k) => k.kty === kty && (kid === undefined || k.kid === kid)).map((k) => k.key);

  return {
    async keysFor(kid: string | undefined, kty: string): Promise<KeyObject[]> {
      const now = Date.now();
      if (now - fetchedAt > maxAgeMs) {
        // Never fetched, or too old to trust: fetch now; failing that, nothing is believed. After a
        // failure, wait a second before asking the proxy again.
        if (now - lastAttempt < 1000 && !inflight) throw new JwksUnavailableError('the proxy key set could not be fetched just now');
        await refresh();
        return matching(kid, kty);
      }
      const found = matching(kid, kty);
      if (found.length || now - lastAttempt < minRefetchMs) return found;
      await refresh(); // an unknown kid: the proxy may have rotated its keys
      return matching(kid, kty);
    },
  };
}
