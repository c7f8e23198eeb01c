// Work that outlives its request (Slack DMs, response_url deliveries). Tracked so that shutdown can
// wait for it instead of dropping a message the user was promised.
import { describe, type Logger } from './log.ts';
import { within } from './within.ts';

export type Background = ReturnType<typeof createBackground>;

/**
 * Beyond this many in flight, new work is skipped and logged: a burst (thousands of bindings a
 * second, a Slack API that stops answering) must not grow memory without bound. Humans link at a
 * human pace; the benchmark's mass confirmations reach it.
 */
export const MAX_BACKGROUND_TASKS = 1000;

export function createBackground(log: Logger, maxTasks = MAX_BACKGROUND_TASKS) {
  const pending = new Set<Promise<void>>();
  return {
    /**
     * Runs `work` without blocking the caller; a failure is logged under `event`, never thrown.
     * False when it was skipped because too much is already in flight.
     */
    run(event: string, fields: Record<string, unknown>, work: () => Promise<unknown>): boolean {
      if (pending.size >= maxTasks) {
        log.warn(event, { ...fields, outcome: 'skipped_overloaded', in_flight: pending.size });
        return false;
      }
      const task = work().then(
        () => undefined,
        (err) => log.error(event, { ...fields, outcome: 'failed', error: describe(err) }),
      );
      pending.add(task);
      void task.finally(() => pending.delete(task));
      return true;
    },
    get size() {
      return pending.size;
    },
    /** Resolves when everything running has finished, or after `ms` (true when all finished). */
    async drain(ms: number): Promise<boolean> {
      const done = (async () => {
        while (pending.size) await Promise.allSettled([...pending]);
        return true as const;
      })();
      return within(done, ms, false);
    },
  };
}
