// The service assembled: the domain (src/domain/service.ts) and the routing table, every URL this
// service answers and what answers it. main.ts listens; tests may build it in-process.
import type { Server } from 'node:http';
import { createHttpServer, type Routes } from './http.ts';
import { createDomain, type Domain, type DomainDeps } from './domain/service.ts';
import { createPages } from './pages.ts';
import { commandsRoute } from './routes/commands.ts';
import { associateRoute } from './routes/associate.ts';
import { healthRoute } from './routes/health.ts';
import { metricsRoute } from './routes/metrics.ts';
import { eventsRoute } from './routes/events.ts';
import { adminRoute } from './routes/admin-api.ts';
import { interactionsRoute } from './routes/interactions.ts';
import { linksRoute } from './routes/links.ts';
import { createPageGuard } from './routes/page-guard.ts';
import { createSlackGuard } from './routes/slack-guard.ts';
import type { Operation } from './outcomes.ts';

export type AppDeps = DomainDeps;

/** The counter each route's outcomes are counted in. */
export const COUNTERS = {
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
  domain: Domain;
}

export function createApp(deps: AppDeps): App {
  const { config, store, keys, log, metrics } = deps;
  const domain = createDomain(deps);
  const slackGuard = createSlackGuard({ signingSecret: config.signingSecret, claimRequest: store.claimRequest, log, metrics });
  const pageGuard = createPageGuard(config, log);
  const pages = createPages({ appName: config.appName, slashCommand: config.slashCommand });

  const routes: Routes = {
    '/healthz': healthRoute(store),
    '/metrics': metricsRoute(metrics, config.metricsAllow),
    '/slack/commands': commandsRoute({ guard: slackGuard, slashCommands: domain.slashCommands, log }),
    '/slack/events': eventsRoute({ guard: slackGuard, events: domain.events }),
    '/slack/interactions': interactionsRoute({ guard: slackGuard, buttons: domain.buttons }),
    '/associate': associateRoute({ config, keys, linking: domain.linking, guard: pageGuard, pages, log }),
    '/links': linksRoute({ config, keys, store, linking: domain.linking, guard: pageGuard, pages, log }),
    '/admin/bindings': adminRoute({ token: config.adminApiToken, allow: config.adminAllow, store, revocation: domain.revocation, log }),
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
  return { server, domain };
}
