// What every check and parser returns: the value it vouches for, or the reason it refuses (with a
// log-only detail beside). The domain's own decisions are named outcomes instead (src/outcomes.ts);
// a lookup that finds nothing returns undefined. Nothing below the routes throws for bad input.
export type Checked<T, R extends string = string> = { ok: true; value: T } | Refused<R>;

export interface Refused<R extends string = string> {
  ok: false;
  reason: R;
  /** For the log only: never shown to a client. */
  detail?: string;
}

export const accept = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });

export const refuse = <R extends string>(reason: R, detail?: string): Refused<R> => (detail === undefined ? { ok: false, reason } : { ok: false, reason, detail });
