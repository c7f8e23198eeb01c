// The secrets of the association flow: the nonce in the link, the CSRF tokens of the forms, and
// the keys those tokens (and the codes of LINK_VERIFICATION=code) are made with. Nothing else
// creates or checks them.
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

const NONCE_BYTES = 32;
/** base64url of 32 bytes, no padding. */
const NONCE_FORMAT = /^[A-Za-z0-9_-]{43}$/;

export const newNonce = (): string => randomBytes(NONCE_BYTES).toString('base64url');

/** The nonce as stored: its SHA-256. Undefined for anything that cannot be one of our nonces. */
export function hashNonce(nonce: string | null | undefined): Buffer | undefined {
  if (!nonce || !NONCE_FORMAT.test(nonce)) return undefined;
  return createHash('sha256').update(nonce).digest();
}

/**
 * Binds a confirmation form to one link and the one internal user who was shown it: a form that
 * another user submits, or that another site makes a browser submit, carries a token that fails.
 */
export function csrfToken(key: Buffer, nonceHash: Buffer, internalUser: string): string {
  return createHmac('sha256', key).update(nonceHash).update('\0').update(internalUser).digest('base64url');
}

export function csrfTokenValid(key: Buffer, nonceHash: Buffer, internalUser: string, token: string | null | undefined): boolean {
  if (!token) return false;
  const expected = Buffer.from(csrfToken(key, nonceHash, internalUser));
  const given = Buffer.from(token);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The CSRF token of a page that acts for the signed-in user alone (no link): "My Slack links". */
export function userCsrfToken(key: Buffer, purpose: string, internalUser: string): string {
  return createHmac('sha256', key).update(`${purpose}\0`).update(internalUser).digest('base64url');
}

export function userCsrfTokenValid(key: Buffer, purpose: string, internalUser: string, token: string | null | undefined): boolean {
  if (!token) return false;
  const expected = Buffer.from(userCsrfToken(key, purpose, internalUser));
  const given = Buffer.from(token);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

// The keys that protect what the database holds (the HMACs of confirmation codes) and the forms
// we hand out (CSRF tokens). They are derived, never stored: a copy of the database, or of a
// backup, must not carry the key to its own secrets. HKDF-SHA256 from the Slack signing secret,
// one purpose label per key. Anyone who holds the signing secret can already speak for every
// Slack user, so deriving from it adds no secret to guard; rotating it (README: "Rotating the
// signing secret") voids only what is in flight: open confirmation pages and pending codes.

export interface ServerKeys {
  /** CSRF tokens of the confirmation form. */
  csrf: Buffer;
  /** HMACs of the six-digit codes of LINK_VERIFICATION=code. */
  code: Buffer;
  /** The `state` and `nonce` of Sign in with Slack (LINK_VERIFICATION=slack). */
  slackState: Buffer;
}

const derive = (secret: string, purpose: string): Buffer =>
  Buffer.from(hkdfSync('sha256', secret, 'slack-account-binding', `slack-account-binding ${purpose} v1`, 32));

export function deriveKeys(signingSecret: string): ServerKeys {
  return { csrf: derive(signingSecret, 'csrf'), code: derive(signingSecret, 'confirmation-code'), slackState: derive(signingSecret, 'sign-in-with-slack-state') };
}

/**
 * The server's keys, from the signing secret; with Socket Mode alone (no signing secret) from the
 * app-level token, the other secret only Slack and we hold. Moving from one to the other voids only
 * what is in flight, as rotating it does.
 */
export const serverKeys = (config: { signingSecret: string; appToken: string }): ServerKeys => deriveKeys(config.signingSecret || config.appToken);
