// Environment → one typed, validated Config, read section by section (one file each beside this
// one). Every problem is collected so an operator fixes them all in one go.
import { Reader, type Env } from './reader.ts';
import { readSlack, type SlackSettings } from './slack.ts';
import { readLinks, type LinkSettings } from './links.ts';
import { readSso, type SsoSettings } from './sso.ts';
import { readDatabase, type DatabaseSettings } from './database.ts';
import { readInternalApp, type InternalAppSettings } from './internal-app.ts';
import { readOperations, type OperationSettings } from './operations.ts';

export { redactUrl, type Env } from './reader.ts';
export { DEFAULT_DATABASE_PATH, databasePathIgnored, describeDatabase } from './database.ts';
export type { JwtConfig } from './sso.ts';
export { isLoopbackHost, linkExample } from './links.ts';

export interface Config extends SlackSettings, LinkSettings, SsoSettings, DatabaseSettings, InternalAppSettings, OperationSettings {
  /** Settings that work but deserve the operator's attention, logged at startup. */
  warnings: string[];
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

export function loadConfig(env: Env): Config {
  const r = new Reader(env);
  const config: Config = {
    ...readSlack(r),
    ...readLinks(r),
    ...readSso(r),
    ...readDatabase(r),
    ...readInternalApp(r),
    ...readOperations(r),
    warnings: r.warnings,
  };
  if (r.problems.length) throw new ConfigError(r.problems);
  return config;
}
