// How many association links one Slack user may create per minute. In memory: a restart forgets
// the counts, which only ever lets a user make a few more links, and one live link per user holds
// regardless (the database cannot be filled by one user either way).
export type RateLimiter = ReturnType<typeof createRateLimiter>;

const WINDOW_MS = 60_000;

export function createRateLimiter(perMinute: number) {
  const hits = new Map<string, number[]>();
  let lastSweep = 0;

  const sweep = (now: number) => {
    lastSweep = now;
    for (const [key, times] of hits) if (times[times.length - 1]! <= now - WINDOW_MS) hits.delete(key);
  };

  return {
    /** Records an attempt; false when `key` already had `perMinute` in the last minute. */
    allow(key: string, now = Date.now()): boolean {
      if (perMinute === 0) return true;
      if (now - lastSweep > WINDOW_MS) sweep(now);
      const recent = (hits.get(key) ?? []).filter((t) => t > now - WINDOW_MS);
      if (recent.length >= perMinute) {
        hits.set(key, recent);
        return false;
      }
      recent.push(now);
      hits.set(key, recent);
      return true;
    },
  };
}
