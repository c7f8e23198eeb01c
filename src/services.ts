// What the handlers are built from. main.ts makes one of each; tests start main.ts itself.
import type { Config } from './config.ts';
import type { Store } from './store.ts';
import type { Logger } from './log.ts';
import type { SlackApi } from './slack/notify.ts';
import type { Background } from './background.ts';
import type { CommandRunner } from './internal-app.ts';
import type { Metrics } from './metrics.ts';

export interface Services {
  config: Config;
  store: Store;
  log: Logger;
  slack: SlackApi;
  background: Background;
  /** Runs a bound user's command: the internal application, or the built-in handler. */
  runCommand: CommandRunner;
  metrics: Metrics;
}
