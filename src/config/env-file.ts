// ACCOUNT_BINDING_ENV: the settings file the server and the admin CLI both read, so that an
// operator's `npm run admin -- doctor` checks the settings the server runs with. Variables already
// in the environment win over the file's, as with `node --env-file`.
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { ConfigError, type Env } from './index.ts';

export const ENV_FILE_VARIABLE = 'ACCOUNT_BINDING_ENV';

/** The process's environment with ACCOUNT_BINDING_ENV's file under it; a file that cannot be read is a ConfigError that names it. */
export function withEnvFile(env: Env): Env {
  const file = env[ENV_FILE_VARIABLE];
  if (!file) return env;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${ENV_FILE_VARIABLE} (${file}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  return { ...parseEnv(text), ...env };
}
