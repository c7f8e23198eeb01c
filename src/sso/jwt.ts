// Signed identity assertions from zero-trust proxies (Cloudflare Access, Google IAP, Pomerium,
// Teleport): a JWT checked with node:crypto alone. Only ES256 and RS256; never "none", never an
// HMAC algorithm (whose "secret" an attacker could take from the public key: algorithm confusion).
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { parseJsonObject, readLimitedText, type JsonObject } from '../lib/json.ts';
import { accept, refuse, type Checked } from '../lib/checked.ts';

/** Clock skew we tolerate between the proxy and us. */
export const JWT_SKEW_SECONDS = 30;

const ALGORITHMS = {
  ES256: { kty: 'EC', dsaEncoding: 'ieee-p1363' as const },
  RS256: { kty: 'RSA', dsaEncoding: undefined },
};
type Algorithm = keyof typeof ALGORITHMS;

/** A key set larger than this is not a proxy's. */
const MAX_JWKS_BYTES = 256 * 1024;

/**
 * The claims of a valid token, or why it is refused (the detail says what exactly). `unavailable`:
 * the keys could not be had, so nothing can be verified and nothing is believed (a retry later may
 * succeed); `invalid`: the token itself is wrong.
 */
export type JwtVerdict = Checked<JsonObject, 'invalid' | 'unavailable'>;

/** Keys that may have signed a token, or why none could be had (the detail). */
export type KeysVerdict = Checked<KeyObject[], 'unavailable'>;

export interface VerifyOptions {
  issuer: string;
  audience: string;
  nowSeconds: number;
  /** A token valid for longer than this in all (exp − iat, or exp − now without iat) is refused. */
  maxLifetimeSeconds: number;
  /** The setting that sets maxLifetimeSeconds, named in that refusal; absent when it is fixed (Slack's tokens). */
  maxLifetimeSetting?: string;
  /** Keys that may have signed a token with this kid (or any kid, when the token names none). */
  keysFor(kid: string | undefined, kty: string): Promise<KeysVerdict>;
}

const decodePart = (part: string): JsonObject | undefined => parseJsonObject(Buffer.from(part, 'base64url').toString('utf8'));
const invalid = (detail: string): JwtVerdict => refuse('invalid', detail);

export async function verifyJwt(token: string, o: VerifyOptions): Promise<JwtVerdict> {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) return invalid('not a compact JWS');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodePart(headerPart);
  if (!header) return invalid("the token's header is not a JSON object");
  // RFC 7515 §4.1.11: a recipient must refuse extensions it does not understand; we understand none.
  if (header.crit !== undefined) return invalid('the token names critical extensions ("crit")');
  const alg = header.alg;
  if (typeof alg !== 'string' || !Object.hasOwn(ALGORITHMS, alg)) return invalid(`algorithm ${String(alg)} is not accepted`);
  const { kty, dsaEncoding } = ALGORITHMS[alg as Algorithm];
  const kid = typeof header.kid === 'string' ? header.kid : undefined;

  const found = await o.keysFor(kid, kty);
  if (!found.ok) return found;
  if (!found.value.length) return invalid(`no key${kid ? ` with kid ${kid}` : ''} for ${alg}`);
  const signed = Buffer.from(`${headerPart}.${payloadPart}`);
  const signature = Buffer.from(signaturePart, 'base64url');
  const valid = found.value.some((key) => verify('sha256', signed, dsaEncoding ? { key, dsaEncoding } : key, signature));
  if (!valid) return invalid('bad signature');

  const claims = decodePart(payloadPart);
  if (!claims) return invalid("the token's payload is not a JSON object");
  const now = o.nowSeconds;
  if (claims.iss !== o.issuer) return invalid('wrong issuer');
  const aud = claims.aud;
  if (!(aud === o.audience || (Array.isArray(aud) && aud.includes(o.audience)))) return invalid('wrong audience');
  if (typeof claims.exp !== 'number') return invalid('no expiry');
  if (claims.exp + JWT_SKEW_SECONDS <= now) return invalid('expired');
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf - JWT_SKEW_SECONDS > now)) return invalid('not yet valid');
  if (claims.iat !== undefined && (typeof claims.iat !== 'number' || claims.iat - JWT_SKEW_SECONDS > now)) return invalid('issued in the future');
  // A stolen token must not be good for years: the lifetime is bounded whether or not iat is given.
  const issued = typeof claims.iat === 'number' ? claims.iat : now;
  if (claims.exp - issued > o.maxLifetimeSeconds) return invalid(`valid for longer than ${o.maxLifetimeSeconds} s${o.maxLifetimeSetting ? ` (${o.maxLifetimeSetting})` : ''}`);
  return accept(claims);
}

export interface JwksOptions {
  url: string;
  /** An unknown kid refetches the set at most this often, so forged kids cannot flood the proxy. */
  minRefetchMs?: number;
  /** Keys older than this are fetched again before use (a removed key stops working). */
  maxAgeMs?: number;
  timeoutMs?: number;
  /** Whose key set this is, in its error messages: the SSO proxy's (TRUSTED_JWT_JWKS_URL) or Slack's. */
  owner?: string;
}

interface CachedKey {
  kid: string | undefined;
  kty: string;
  key: KeyObject;
}

export function createJwks({ url, minRefetchMs = 5_000, maxAgeMs = 60 * 60_000, timeoutMs = 5000, owner = "the proxy's" }: JwksOptions) {
  let keys: CachedKey[] = [];
  let fetchedAt = 0;
  let lastAttempt = -Infinity;
  let inflight: Promise<string | undefined> | undefined;

  /** Fetches the key set; undefined when it was loaded, else why not. */
  const load = async (): Promise<string | undefined> => {
    lastAttempt = Date.now();
    let body: JsonObject | undefined;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
      if (!res.ok) {
        await res.body?.cancel();
        return `cannot fetch ${owner} keys: HTTP ${res.status}`;
      }
      const text = await readLimitedText(res, MAX_JWKS_BYTES);
      body = text === undefined ? undefined : parseJsonObject(text);
    } catch (err) {
      return `cannot fetch ${owner} keys: ${(err as Error).message}`;
    }
    const list = body?.keys;
    if (!Array.isArray(list)) return `${owner} key set is not a JSON object with a "keys" array`;
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
    return undefined;
  };

  const refresh = (): Promise<string | undefined> => {
    inflight ??= load().finally(() => (inflight = undefined));
    return inflight;
  };

  const matching = (kid: string | undefined, kty: string) =>
    keys.filter((k) => k.kty === kty && (kid === undefined || k.kid === kid)).map((k) => k.key);

  return {
    async keysFor(kid: string | undefined, kty: string): Promise<KeysVerdict> {
      const now = Date.now();
      if (now - fetchedAt > maxAgeMs) {
        // Never fetched, or too old to trust: fetch now; failing that, nothing is believed. After a
        // failure, wait a second before asking again.
        if (now - lastAttempt < 1000 && !inflight) return refuse('unavailable', `${owner} key set could not be fetched just now`);
        const failed = await refresh();
        return failed ? refuse('unavailable', failed) : accept(matching(kid, kty));
      }
      const found = matching(kid, kty);
      if (found.length || now - lastAttempt < minRefetchMs) return accept(found);
      const failed = await refresh(); // an unknown kid: the proxy may have rotated its keys
      return failed ? refuse('unavailable', failed) : accept(matching(kid, kty));
    },
  };
}
