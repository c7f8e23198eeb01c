// The service assembled: the domain built from its parts, and the routing table, every URL this
// service answers and what answers it. main.ts listens; tests may build it in-process.
import type { Server } from 'node:http';
import { createHttpServer, type Routes } from './http.ts';
import { createCommandAnswerer } from './run-command.ts';
import { createLinking } from './linking.ts';
import { createSlashCommands } from './commands.ts';
import { commandsRoute } from './routes/commands.ts';
import { associateRoute } from './routes/associate.ts';
import { healthRoute } from './routes/health.ts';
import { metricsRoute } from './routes/metrics.ts';
import { createSso } from './routes/sso.ts';
import type { Config } from './config.ts';
import type { Store } from './store/store.ts';
import type { Logger } from './log.ts';
import type { SlackApi } from './slack/api.ts';
import type { Background } from './background.ts';
import type { CommandRunner } from './runner.ts';
import type { Metrics } from './metrics.ts';
import type { ServerKeys } from './keys.ts';
import type { Operation } from './outcomes.ts';

/** What the service is built from. main.ts makes one of each; in-process tests make their own. */
export interface AppDeps {
  config: Config;
  store: Store;
  keys: ServerKeys;
  log: Logger;
  slack: SlackApi;
  background: Background;
  /** Runs a bound user's command: the internal application, or the built-in handler. */
  runner: CommandRunner;
  metrics: Metrics;
}

/** The counter each route's outcomes are counted in. */
const COUNTERS = {
  commands: 'slack_commands_total',
  associate: 'associate_requests_total',
  health: null,
  metrics: null,
} as const satisfies Record<Operation, string | null>;

export function createApp(deps: AppDeps): Server {
  const { config, store, keys, log, slack, background, runner, metrics } = deps;
  const answerer = createCommandAnswerer({ runner, slack, log, metrics, background });
  const linking = createLinking({ config, store, keys, slack, log, metrics, background, answerer });
  const slashCommands = createSlashCommands({ config, store, linking, answerer, runner });
  const sso = createSso(config, log);

  const routes: Routes = {
    '/healthz': healthRoute(store),
    '/metrics': metricsRoute(metrics, config.metricsAllow),
    '/slack/commands': commandsRoute({ signingSecret: config.signingSecret, claimRequest: store.claimRequest, log, metrics, handle: slashCommands }),
    '/associate': associateRoute({ config, keys, linking, sso, log }),
  };
  return createHttpServer({
    routes,
    log,
    basePath: config.basePath,
    onOutcome(operation, outcome) {
      const counter = COUNTERS[operation];
      if (counter) metrics.inc(counter, { outcome });
    },
  });
}
