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

/**
 * Whether a stored code is `code` for this Slack identity. A Grid user's pending confirmation may
 * have been issued under their workspace's key and moved to the enterprise's since the workspace
 * joined the organisation (grid-migration.ts): its HMAC names the workspace, so for a Grid user
 * (`teamId` not their key) that key is tried too. Still only the one code, for the one user, matches.
 */
export const codeMatches = (key: Buffer, id: SlackIdentity & { teamId?: string }, code: string) => {
  const keys = id.teamId && id.teamId !== id.org ? [id.org, id.teamId] : [id.org];
  return (stored: Buffer): boolean => keys.some((org) => timingSafeEqual(codeMac(key, { org, userId: id.userId }, code), stored));
};

export function describeVerification(mode: LinkVerification, command: string): string {
  switch (mode) {
    case 'email':
      return 'Linking is verified by email: your Slack email must match the email you sign in with.';
    case 'code':
      return `Linking is verified by code: after confirming in the browser, type "${command} confirm <code>" in Slack yourself.`;
    case 'confirm':
      return 'Linking is verified by the confirmation page only.';
    case 'slack':
      return 'Linking is verified by Sign in with Slack: sign in as the Slack user who asked for this link.';
  }
}

/** Where Sign in with Slack sends the browser back, for links from a slash command and from the web alike. */
export const slackRedirectUri = (publicBaseUrl: string): string => `${publicBaseUrl}/associate/slack`;

/** slack mode: how long the browser may take between "Continue with Slack" and coming back. */
export const SLACK_STATE_TTL_MS = 10 * 60_000;

/**
 * What a Sign in with Slack `state` vouches for: the link (null when the linking started on the web,
 * from "My Slack links", with no link yet), who was signed in, and the pending command's fate.
 */
export interface SlackState {
  nonceHash: Buffer | null;
  internalUser: string;
  runPending: boolean;
}

/** The link part of a state that started on the web: not base64url of 32 bytes, so never a link's. */
const WEB = 'web';

const stateMac = (key: Buffer, link: string, internalUser: string, expires: string, run: string): Buffer =>
  createHmac('sha256', key).update(`slack-state\0${link}\0${internalUser}\0${expires}\0${run}`).digest();

/**
 * The `state` sent to Slack and back: the link (the hash of its nonce, never the nonce; "web" for
 * none), an expiry, whether to run the pending command, and an HMAC over them and the signed-in
 * internal user, so that it is good for this link and this user only, for minutes. Single use comes
 * from the link: once it binds, the link is gone and so is every state made for it. A web state
 * makes nothing but a confirmation page, so a replay of one is harmless.
 */
export function slackState(key: Buffer, s: SlackState, now: number): string {
  const link = s.nonceHash ? s.nonceHash.toString('base64url') : WEB;
  const expires = String(Math.floor((now + SLACK_STATE_TTL_MS) / 1000));
  const run = s.runPending ? '1' : '0';
  return `${link}.${expires}.${run}.${stateMac(key, link, s.internalUser, expires, run).toString('base64url')}`;
}

/** The state's link and pending-command choice, if it is ours, unexpired and made for `internalUser`. */
export function readSlackState(key: Buffer, state: string | null, internalUser: string, now: number): SlackState | 'expired' | undefined {
  const m = /^([A-Za-z0-9_-]{43}|web)\.(\d{1,12})\.([01])\.([A-Za-z0-9_-]{43})$/.exec(state ?? '');
  if (!m) return undefined;
  const [, link, expires, run, mac] = m as unknown as [string, string, string, string, string];
  if (!timingSafeEqual(stateMac(key, link, internalUser, expires, run), Buffer.from(mac, 'base64url'))) return undefined;
  if (Number(expires) * 1000 <= now) return 'expired';
  return { nonceHash: link === WEB ? null : Buffer.from(link, 'base64url'), internalUser, runPending: run === '1' };
}

/** The OIDC `nonce` for a state: Slack signs it into the id_token, tying the token to this browser's request. */
export const slackNonce = (key: Buffer, state: string): string => createHmac('sha256', key).update(`slack-nonce\0${state}`).digest('base64url');

/**
 * Linking started on the web: the confirmation form's proof that Slack itself said who signed in,
 * for this link and this internal user. Only the return from Sign in with Slack hands one out (the
 * link was made there, for the Slack user Slack named), so the form binds as verified by Slack,
 * whichever LINK_VERIFICATION the slash command's links use.
 */
export const slackProof = (key: Buffer, nonceHash: Buffer, internalUser: string): string =>
  createHmac('sha256', key).update('slack-proof\0').update(nonceHash).update('\0').update(internalUser).digest('base64url');

export function slackProofValid(key: Buffer, nonceHash: Buffer, internalUser: string, proof: string | null | undefined): boolean {
  if (!proof) return false;
  const expected = Buffer.from(slackProof(key, nonceHash, internalUser));
  const given = Buffer.from(proof);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** How long the address a Sign in with Slack return redirects to can be reloaded (a link's own expiry still applies). */
export const SIGNED_IN_TTL_MS = SLACK_STATE_TTL_MS;

const addressMac = (key: Buffer, purpose: string, parts: readonly string[], internalUser: string, expires: string): Buffer =>
  createHmac('sha256', key).update(`slack-address\0${purpose}\0${parts.join('\0')}\0${internalUser}\0${expires}`).digest();

/**
 * The address a Sign in with Slack return redirects to (303), so that a reload shows its page again
 * instead of spending Slack's single-use code twice: `parts` (no secret, no dot), an expiry, and an
 * HMAC over them, the purpose and the signed-in internal user: good for this user only, for minutes.
 */
function signAddress(key: Buffer, purpose: string, parts: readonly string[], internalUser: string, now: number): string {
  const expires = String(Math.floor((now + SIGNED_IN_TTL_MS) / 1000));
  return [...parts, expires, addressMac(key, purpose, parts, internalUser, expires).toString('base64url')].join('.');
}

/** An address's parts, if it is ours, for this purpose, unexpired, made for `internalUser`, and each part matches its pattern. */
function readAddress(key: Buffer, purpose: string, token: string | null, patterns: readonly RegExp[], internalUser: string, now: number): string[] | 'expired' | undefined {
  const all = (token ?? '').split('.');
  if (all.length !== patterns.length + 2) return undefined;
  const parts = all.slice(0, patterns.length);
  const [expires, mac] = all.slice(patterns.length) as [string, string];
  if (!parts.every((p, i) => patterns[i]!.test(p)) || !/^\d{1,12}$/.test(expires) || !/^[A-Za-z0-9_-]{43}$/.test(mac)) return undefined;
  if (!timingSafeEqual(addressMac(key, purpose, parts, internalUser, expires), Buffer.from(mac, 'base64url'))) return undefined;
  if (Number(expires) * 1000 <= now) return 'expired';
  return parts;
}

const LINK_HASH = /^[A-Za-z0-9_-]{43}$/;

/**
 * Linking started on the web: the confirmation page's address. It names the link by the hash of
 * its nonce (as the state does; the nonce of a link made on the web is never shown to anyone).
 * Single use comes from the link: once it binds or is cancelled it is gone, and the address says so.
 */
export const signedInTicket = (key: Buffer, nonceHash: Buffer, internalUser: string, now: number): string =>
  signAddress(key, 'web-confirmation', [nonceHash.toString('base64url')], internalUser, now);

/** The link a confirmation address names, if the address is ours, unexpired and made for `internalUser`. */
export function readSignedInTicket(key: Buffer, ticket: string | null, internalUser: string, now: number): Buffer | 'expired' | undefined {
  const parts = readAddress(key, 'web-confirmation', ticket, [LINK_HASH], internalUser, now);
  return Array.isArray(parts) ? Buffer.from(parts[0]!, 'base64url') : parts;
}

/** What the page after a binding by Sign in with Slack shows: whose binding, and why Slack refused the DM (null: sent). */
export interface LinkedAddress {
  org: string;
  userId: string;
  dmRefused: string | null;
}

const SLACK_ID = /^[A-Z0-9]{1,32}$/;
const DM_REFUSAL = /^(?:-|[a-z_]{1,64})$/;

/**
 * slack mode, a link from a slash command: the address of the "linked" page, which Slack's return
 * redirects to once it has bound. It names the Slack user (ids, not secrets) and the DM's fate;
 * the page shows only while that Slack user is still bound to this internal user.
 */
export const linkedTicket = (key: Buffer, a: LinkedAddress, internalUser: string, now: number): string =>
  signAddress(key, 'linked', [a.org, a.userId, dmPart(a.dmRefused)], internalUser, now);

/**
 * The DM's fate as the address carries it: '-' when sent, else Slack's error name. A name the
 * reader would refuse (Slack's are lowercase words; a proxy in between may say anything) travels
 * as a fixed one, or the user who has just bound would land on a refusal.
 */
const dmPart = (refused: string | null): string => (refused === null ? '-' : DM_REFUSAL.test(refused) && refused !== '-' ? refused : UNEXPECTED_DM_REFUSAL);
const UNEXPECTED_DM_REFUSAL = 'unexpected_error';

export function readLinkedTicket(key: Buffer, ticket: string | null, internalUser: string, now: number): LinkedAddress | 'expired' | undefined {
  const parts = readAddress(key, 'linked', ticket, [SLACK_ID, SLACK_ID, DM_REFUSAL], internalUser, now);
  if (!Array.isArray(parts)) return parts;
  const [org, userId, dm] = parts as [string, string, string];
  return { org, userId, dmRefused: dm === '-' ? null : dm };
}

/**
 * The link a confirmation form names by its hash (linking started on the web), or undefined. The
 * form binds only with the CSRF token and the Slack proof, both made for this hash and this user.
 */
export function readLinkHash(field: string | null | undefined): Buffer | undefined {
  return field && LINK_HASH.test(field) ? Buffer.from(field, 'base64url') : undefined;
}
