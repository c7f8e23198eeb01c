// The service assembled: the domain built from its parts, and the routing table, every URL this
// service answers and what answers it. main.ts listens; tests may build it in-process.
import type { Server } from 'node:http';
import { createHttpServer, type Routes } from './http.ts';
import { createCommandAnswerer } from './domain/run-as-user.ts';
import { createLinking, type Linking } from './domain/linking.ts';
import { createSlashCommands } from './domain/slash-command.ts';
import { commandsRoute } from './routes/commands.ts';
import { associateRoute } from './routes/associate.ts';
import { healthRoute } from './routes/health.ts';
import { metricsRoute } from './routes/metrics.ts';
import { createSso } from './routes/page-guard.ts';
import { eventsRoute } from './routes/events.ts';
import { adminRoute } from './routes/admin-api.ts';
import { interactionsRoute } from './routes/interactions.ts';
import { linksRoute } from './routes/links.ts';
import { createHome } from './domain/home.ts';
import { createPages } from './pages.ts';
import type { Config } from './config.ts';
import type { Store } from './store/store.ts';
import type { Logger } from './lib/log.ts';
import type { SlackApi } from './slack/api.ts';
import type { Background } from './lib/background.ts';
import type { CommandRunner } from './runners/runner.ts';
import type { Metrics } from './lib/metrics.ts';
import type { ServerKeys } from './domain/secrets.ts';
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
  events: 'slack_events_total',
  interactions: 'slack_interactions_total',
  links: 'links_page_requests_total',
  admin: 'admin_api_requests_total',
  health: null,
  metrics: null,
} as const satisfies Record<Operation, string | null>;

export interface App {
  server: Server;
  /** The domain, for what main.ts does outside a request (the periodic purge). */
  linking: Linking;
}

export function createApp(deps: AppDeps): App {
  const { config, store, keys, log, slack, background, runner, metrics } = deps;
  const answerer = createCommandAnswerer({
    runner,
    // Defined once linking exists below: a 410 from the internal application ends the binding.
    onUserGone: (binding, requestId) => linking.revoke({ identity: binding }, 'internal_user_inactive', { actor: 'internal_app', requestId, clientAddress: null }),
    slack,
    log,
    metrics,
    background,
  });
  const home = createHome({ config, store, slack, background, log });
  const linking = createLinking({ config, store, keys, slack, log, metrics, background, answerer, onChanged: home.refresh });
  const slashCommands = createSlashCommands({ config, store, linking, answerer, runner, log });
  const sso = createSso(config, log);
  const pages = createPages({ appName: config.appName, slashCommand: config.slashCommand });

  const routes: Routes = {
    '/healthz': healthRoute(store),
    '/metrics': metricsRoute(metrics, config.metricsAllow),
    '/slack/commands': commandsRoute({ signingSecret: config.signingSecret, claimRequest: store.claimRequest, log, metrics, handle: slashCommands }),
    '/associate': associateRoute({ config, keys, linking, sso, pages, log }),
    '/slack/events': eventsRoute({
      signingSecret: config.signingSecret,
      store,
      linking,
      onAppHomeOpened: (event) => home.publish(event.user),
      log,
      metrics,
    }),
    '/slack/interactions': interactionsRoute({ config, store, claimRequest: store.claimRequest, linking, home, slack, runner, background, log, metrics }),
    '/links': linksRoute({ config, keys, store, linking, sso, pages, log }),
    '/admin/bindings': adminRoute({ token: config.adminApiToken, allow: config.adminAllow, store, linking, log }),
  };
  const server = createHttpServer({
    routes,
    log,
    basePath: config.basePath,
    onOutcome(operation, outcome) {
      const counter = COUNTERS[operation];
      if (counter) metrics.inc(counter, { outcome });
    },
  });
  return { server, linking };
}
