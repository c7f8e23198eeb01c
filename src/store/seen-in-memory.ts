// Claims remembered in this process's memory, bounded: the SQLite store's replay guard (one server
// process per SQLite file). Two generations of at most `capacity` keys each; a generation is
// dropped once everything in it has expired, or early when the newer one fills up. An early drop
// is counted: a replay of a request forgotten that way would be accepted, so it must stay rare
// (it needs more than 2 × capacity genuine Slack requests within five minutes).
//
// A key is kept as a 64-bit MAC of itself (HMAC-SHA256 truncated to 8 bytes, under a key drawn at
// random when the set is made), as an 8-character string, and its expiry in whole seconds: about
// half the memory of a Slack signature (67 characters) and its expiry in ms. Why 64 bits are enough
// (docs/security.md, "Replay protection"): two different keys share a MAC with a chance of 2^-64
// per pair; the set holds at most 2 × capacity = 200,000 keys, so a new key collides with one of
// them with a chance below 1.1 × 10^-14, and a collision only refuses a genuine request as a
// replay — a replay is never accepted because of one (the same key always has the same MAC). No one
// can aim for a collision: the MAC's key never leaves this process.
import { createHmac, randomBytes } from 'node:crypto';

export interface SeenSet {
  /** True the first time `key` is claimed before `expiresAt` (ms); false for a repeat. */
  claim(key: string, expiresAt: number, now: number): boolean;
  /** Keys dropped while still within their window, since start. */
  readonly forgottenEarly: number;
}

export function createSeenSet(capacity = 100_000): SeenSet {
  const macKey = randomBytes(32);
  /** Expiries in whole seconds, rounded up (a claim is never forgotten early by the rounding). */
  let current = new Map<string, number>();
  let previous = new Map<string, number>();
  let previousExpiry = 0;
  let currentExpiry = 0;
  let forgottenEarly = 0;
  const nowS = (now: number) => now / 1000;

  const rotate = (now: number) => {
    if (previousExpiry > nowS(now)) for (const expiresAt of previous.values()) if (expiresAt > nowS(now)) forgottenEarly++;
    previous = current;
    previousExpiry = currentExpiry;
    current = new Map();
    currentExpiry = 0;
  };

  return {
    claim(key, expiresAt, now) {
      const mac = createHmac('sha256', macKey).update(key).digest().toString('latin1', 0, 8);
      const seen = current.get(mac) ?? previous.get(mac);
      if (seen !== undefined && seen > nowS(now)) return false;
      if (previous.size && previousExpiry <= nowS(now)) {
        previous = new Map();
        previousExpiry = 0;
      }
      if (current.size >= capacity) rotate(now);
      const expiresS = Math.ceil(expiresAt / 1000);
      current.set(mac, expiresS);
      if (expiresS > currentExpiry) currentExpiry = expiresS;
      return true;
    },
    get forgottenEarly() {
      return forgottenEarly;
    },
  };
}
