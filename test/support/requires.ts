// Tests that need a Debian package (nginx, Chromium): skipped with the reason on a machine that
// lacks it, so `npm test` works anywhere; never skipped in CI, where .ci/run installs them.
import { existsSync } from 'node:fs';

/** A `skip` value for node:test: false when `path` exists, else the reason. Throws in CI. */
export function requires(path: string, pkg: string): false | string {
  if (existsSync(path)) return false;
  const reason = `${path} is missing: apt-get install -y ${pkg}`;
  if (process.env.CI) throw new Error(`CI must install it: ${reason}`);
  return reason;
}
