// LINK_VERIFICATION: how we make sure the person confirming a link is the Slack user who asked
// for it, and not a colleague they forwarded it to.
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { LinkVerification, SlackIdentity } from '../model.ts';

/** code mode: how long the code shown in the browser can be typed in Slack. */
export const CODE_TTL_MS = 5 * 60_000;
/** code mode: wrong codes before the pending binding is void. */
export const MAX_CODE_FAILURES = 5;

/**
 * Emails compared with ASCII letters folded and nothing else: Unicode case folding would make the
 * Kelvin sign "K" (U+212A) equal "k", and let a look-alike address match a real one.
 */
const foldAscii = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, '').replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
export const sameEmail = (a: string, b: string): boolean => foldAscii(a) === foldAscii(b);

export const newCode = (): string => String(randomInt(0, 1_000_000)).padStart(6, '0');

/** The code as stored: an HMAC bound to the Slack identity it was issued for. */
export function codeMac(key: Buffer, id: SlackIdentity, code: string): Buffer {
  return createHmac('sha256', key).update(`${id.org}\0${id.userId}\0${code}`).digest();
}

export const codeMatches = (key: Buffer, id: SlackIdentity, code: string) => (stored: Buffer): boolean =>
  timingSafeEqual(codeMac(key, id, code), stored);

export function describeVerification(mode: LinkVerification, command: string): string {
  switch (mode) {
    case 'email':
      return 'Linking is verified by email: your Slack email must match the email you sign in with.';
    case 'code':
      return `Linking is verified by code: after confirming in the browser, type "${command} confirm <code>" in Slack yourself.`;
    case 'confirm':
      return 'Linking is verified by the confirmation page only.';
  }
}
