// Claims remembered in this process's memory, bounded: the SQLite store's replay guard (one server
// process per SQLite file). Two generations of at most `capacity` keys each; a generation is
// dropped once everything in it has expired, or early when the newer one fills up. An early drop
// is counted: a replay of a request forgotten that way would be accepted, so it must stay rare
// (it needs more than 2 × capacity genuine Slack requests within five minutes).

export interface SeenSet {
  /** True the first time `key` is claimed before `expiresAt` (ms); false for a repeat. */
  claim(key: string, expiresAt: number, now: number): boolean;
  /** Keys dropped while still within their window, since start. */
  readonly forgottenEarly: number;
}

export function createSeenSet(capacity = 100_000): SeenSet {
  let current = new Map<string, number>();
  let previous = new Map<string, number>();
  let previousExpiry = 0;
  let currentExpiry = 0;
  let forgottenEarly = 0;

  const rotate = (now: number) => {
    if (previousExpiry > now) for (const expiresAt of previous.values()) if (expiresAt > now) forgottenEarly++;
    previous = current;
    previousExpiry = currentExpiry;
    current = new Map();
    currentExpiry = 0;
  };

  return {
    claim(key, expiresAt, now) {
      const seen = current.get(key) ?? previous.get(key);
      if (seen !== undefined && seen > now) return false;
      if (previous.size && previousExpiry <= now) {
        previous = new Map();
        previousExpiry = 0;
      }
      if (current.size >= capacity) rotate(now);
      current.set(key, expiresAt);
      if (expiresAt > currentExpiry) currentExpiry = expiresAt;
      return true;
    },
    get forgottenEarly() {
      return forgottenEarly;
    },
  };
}
