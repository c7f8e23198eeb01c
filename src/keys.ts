// The keys that protect what the database holds (the HMACs of confirmation codes) and the forms
// we hand out (CSRF tokens). They are derived, never stored: a copy of the database, or of a
// backup, must not carry the key to its own secrets. HKDF-SHA256 from the Slack signing secret,
// one purpose label per key. Anyone who holds the signing secret can already speak for every
// Slack user, so deriving from it adds no secret to guard; rotating it (README: "Rotating the
// signing secret") voids only what is in flight: open confirmation pages and pending codes.
import { hkdfSync } from 'node:crypto';

export interface ServerKeys {
  /** CSRF tokens of the confirmation form. */
  csrf: Buffer;
  /** HMACs of the six-digit codes of LINK_VERIFICATION=code. */
  code: Buffer;
}

const derive = (secret: string, purpose: string): Buffer =>
  Buffer.from(hkdfSync('sha256', secret, 'slack-account-binding', `slack-account-binding ${purpose} v1`, 32));

export function deriveKeys(signingSecret: string): ServerKeys {
  return { csrf: derive(signingSecret, 'csrf'), code: derive(signingSecret, 'confirmation-code') };
}
