// Claims remembered in this process's memory, bounded: the SQLite store's replay guard (one server
// process per SQLite file). Two generations of at most `capacity` keys each; a generation is
// dropped once everything in it has expired, or early when the newer one fills up. An early drop
// is counted: a replay of a request forgotten that way would be accepted, so it must stay rare
// (it needs more than 2 × capacity genuine Slack requests within five minutes).
//
// A key is kept as a 64-bit MAC of itself (HMAC-SHA256 truncated to 8 bytes, under a key drawn at
// random when the set is made) and its expiry in whole seconds. Why 64 bits are enough
// (docs/security.md, "Replay protection"): two different keys share a MAC with a chance of 2^-64
// per pair; the set holds at most 2 × capacity = 200,000 keys, so a new key collides with one of
// them with a chance below 1.1 × 10^-14, and a collision only refuses a genuine request as a
// replay — a replay is never accepted because of one (the same key always has the same MAC). No one
// can aim for a collision: the MAC's key never leaves this process.
//
// Each generation is an open-addressing table (linear probing) in typed arrays sized once, when
// the set is made: 12 bytes a slot, at most 4/5 full, so about 3 MB for the two at the default
// capacity whatever the traffic, against ~60 bytes of V8 heap per entry in a Map that grows (and
// leaves its outgrown tables to the collector) as traffic rises.
import { createHmac, randomBytes } from 'node:crypto';

export interface SeenSet {
  /** True the first time `key` is claimed before `expiresAt` (ms); false for a repeat. */
  claim(key: string, expiresAt: number, now: number): boolean;
  /** Keys dropped while still within their window, since start. */
  readonly forgottenEarly: number;
}

/** One generation: MACs as two 32-bit halves and expiries in seconds (an expiry of 0: an empty slot). */
class Generation {
  readonly high: Uint32Array;
  readonly low: Uint32Array;
  readonly expiry: Uint32Array;
  readonly mask: number;
  size = 0;
  /** The latest expiry in it, in seconds: once past, the whole generation can go. */
  latest = 0;

  constructor(slots: number) {
    this.high = new Uint32Array(slots);
    this.low = new Uint32Array(slots);
    this.expiry = new Uint32Array(slots);
    this.mask = slots - 1;
  }

  /** The slot holding this MAC, or the empty slot where it would go. */
  slot(high: number, low: number): number {
    let i = low & this.mask;
    while (this.expiry[i] !== 0 && (this.high[i] !== high || this.low[i] !== low)) i = (i + 1) & this.mask;
    return i;
  }

  /** Fills an empty slot, or renews the expired claim of the same key held there. */
  put(slot: number, high: number, low: number, expiresS: number): void {
    if (this.expiry[slot] === 0) this.size++;
    this.high[slot] = high;
    this.low[slot] = low;
    this.expiry[slot] = expiresS;
    if (expiresS > this.latest) this.latest = expiresS;
  }

  /** Keys still within their window at `nowS`. */
  live(nowS: number): number {
    if (this.latest <= nowS) return 0;
    let n = 0;
    for (const e of this.expiry) if (e > nowS) n++;
    return n;
  }

  clear(): void {
    this.high.fill(0);
    this.low.fill(0);
    this.expiry.fill(0);
    this.size = 0;
    this.latest = 0;
  }
}

/** Expiries are kept in whole seconds in 32 bits: up to 2106. */
const LAST_EXPIRY_MS = (2 ** 32 - 1) * 1000;

export function createSeenSet(capacity = 100_000): SeenSet {
  // At least one key, so that a table always has an empty slot and a probe ends.
  if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`a seen set holds at least one key, not ${capacity}`);
  const macKey = randomBytes(32);
  // A power of two at least 5/4 of the capacity (131,072 slots for 100,000): a full generation is
  // at most 4/5 full, so it always has empty slots and a probe ends; at the default's 0.76, about 3
  // probes find a repeat and 9 reach the empty slot for a new key.
  const slots = 2 ** Math.ceil(Math.log2(Math.ceil((capacity * 5) / 4)));
  let current = new Generation(slots);
  let previous = new Generation(slots);
  let forgottenEarly = 0;

  return {
    claim(key, expiresAt, now) {
      // As the PostgreSQL store: an expiry that is not a time in whole ms is the caller's bug.
      if (!Number.isSafeInteger(expiresAt) || expiresAt < 0 || expiresAt > LAST_EXPIRY_MS) throw new TypeError('a claim expires at a time in whole ms');
      const nowS = now / 1000;
      const mac = createHmac('sha256', macKey).update(key).digest();
      const high = mac.readUInt32LE(0);
      const low = mac.readUInt32LE(4);
      if (previous.size && previous.expiry[previous.slot(high, low)]! > nowS) return false;
      let at = current.slot(high, low);
      if (current.expiry[at]! > nowS) return false;
      if (previous.size && previous.latest <= nowS) previous.clear();
      if (current.expiry[at] === 0 && current.size >= capacity) {
        forgottenEarly += previous.live(nowS);
        const emptied = previous;
        emptied.clear();
        previous = current;
        current = emptied;
        at = current.slot(high, low);
      }
      // Rounded up, so never forgotten early by the rounding; at least 1, since 0 marks an empty slot.
      current.put(at, high, low, Math.max(1, Math.ceil(expiresAt / 1000)));
      return true;
    },
    get forgottenEarly() {
      return forgottenEarly;
    },
  };
}
