// The internal application a bound user's commands run against; unset, the built-in commands answer.
import type { Reader } from './reader.ts';

export interface InternalAppSettings {
  /** Unset: commands run against the built-in handler. */
  internalApp: { url: string; token: string; timeoutMs: number } | null;
}

export function readInternalApp(r: Reader): InternalAppSettings {
  if (!r.env.INTERNAL_APP_URL) {
    if (r.env.INTERNAL_APP_TOKEN || r.env.INTERNAL_APP_TOKEN_FILE) r.problem('INTERNAL_APP_TOKEN is set but INTERNAL_APP_URL is not, so it would be ignored');
    return { internalApp: null };
  }
  const url = r.httpUrl('INTERNAL_APP_URL', r.env.INTERNAL_APP_URL);
  const token = r.secret('INTERNAL_APP_TOKEN', true, ' when INTERNAL_APP_URL is set');
  return { internalApp: { url: url?.href ?? '', token, timeoutMs: r.integer('INTERNAL_APP_TIMEOUT_MS', 10_000, 100, 600_000) } };
}
