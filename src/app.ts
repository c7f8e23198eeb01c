// The service assembled: the domain (src/domain/service.ts), the routing table (every URL this
// service answers and what answers it) and, with SLACK_APP_TOKEN, the Socket Mode connection that
// brings Slack's requests the other way. main.ts listens and connects; tests may build it in-process.
import type { Server } from 'node:http';
import { createHttpServer, type Routes } from './http.ts';
import { createDomain, type Domain, type DomainDeps } from './domain/service.ts';
import { createPages } from './pages.ts';
import { commandsRoute } from './routes/commands.ts';
import { associateRoute } from './routes/associate.ts';
import { associateSlackRoute } from './routes/associate-slack.ts';
import { healthRoute } from './routes/health.ts';
import { metricsRoute } from './routes/metrics.ts';
import { eventsRoute } from './routes/events.ts';
import { adminRoute } from './routes/admin-api.ts';
import { proxyMarkers } from './routes/operator-guard.ts';
import { interactionsRoute } from './routes/interactions.ts';
import { linksRoute } from './routes/links.ts';
import { createPageGuard } from './routes/page-guard.ts';
import { createSlackGuard } from './routes/slack-guard.ts';
import { socketHandler } from './routes/socket-mode.ts';
import { createSocketMode, type SocketMode } from './slack/socket-mode.ts';
import { createSlackSignIn, type SlackSignIn } from './slack/openid.ts';
import { COUNTERS } from './outcomes.ts';
import type { Config } from './config/index.ts';

/** What the server is built from: the domain's parts, but Sign in with Slack, which is made here from the config. */
export type AppDeps = Omit<DomainDeps, 'signIn'>;

/** Sign in with Slack for SLACK_CLIENT_ID and its secret, on the origin of SLACK_API_URL; null without a client id. */
export const slackSignInFor = (config: Pick<Config, 'slackApiUrl' | 'slackClientId' | 'slackClientSecret'>): SlackSignIn | null =>
  config.slackClientId ? createSlackSignIn({ slackApiUrl: config.slackApiUrl, clientId: config.slackClientId, clientSecret: config.slackClientSecret }) : null;

export interface App {
  server: Server;
  /** Socket Mode (SLACK_APP_TOKEN), not yet connected: main.ts starts and stops it. */
  socket: SocketMode | null;
  /** The domain, for what main.ts does outside a request (the periodic purge). */
  domain: Domain;
}

export interface AppOptions {
  /** Socket Mode's reconnection backoff and pings, shortened by tests. */
  socket?: { backoffMs?: { min: number; max: number }; pingIntervalMs?: number };
}

export function createApp(deps: AppDeps, options: AppOptions = {}): App {
  const { config, store, keys, log, metrics } = deps;
  metrics.readAtScrape('slack_replay_claims_forgotten_early_total', () => store.claimsForgottenEarly);
  metrics.readAtScrape('database_connection_errors_total', () => store.connectionErrors);
  const domain = createDomain({ ...deps, signIn: slackSignInFor(config) });
  const pageGuard = createPageGuard(config, log);
  const pages = createPages({ appName: config.appName, slashCommand: config.slashCommand });
  const socket = config.appToken
    ? createSocketMode({ appToken: config.appToken, slackApiUrl: config.slackApiUrl, handle: socketHandler({ ...domain, log, metrics }), log, metrics, ...options.socket })
    : null;
  // Slack's HTTP paths need the signing secret; with Socket Mode alone they do not exist (404).
  const slackGuard = config.signingSecret ? createSlackGuard({ signingSecret: config.signingSecret, claimRequest: store.claimRequest, claimsRememberedSince: store.claimsRememberedSince, log, metrics }) : null;

  const routes: Routes = {
    '/healthz': healthRoute(store, socket),
    '/metrics': metricsRoute(metrics, config.metricsAllow, proxyMarkers(config)),
    ...(slackGuard && {
      '/slack/commands': commandsRoute({ guard: slackGuard, slashCommands: domain.slashCommands, log }),
      '/slack/events': eventsRoute({ guard: slackGuard, events: domain.events }),
      '/slack/interactions': interactionsRoute({ guard: slackGuard, buttons: domain.buttons }),
    }),
    '/associate': associateRoute({ config, keys, linking: domain.linking, guard: pageGuard, pages, log }),
    // Sign in with Slack's return: the slack link proof, and linking started from "My Slack links".
    ...(config.slackClientId && { '/associate/slack': associateSlackRoute({ config, keys, linking: domain.linking, guard: pageGuard, pages }) }),
    '/links': linksRoute({ config, keys, store, linking: domain.linking, guard: pageGuard, pages, log }),
    '/admin/bindings': adminRoute({ token: config.adminApiToken, allow: config.adminAllow, proxyMarkers: proxyMarkers(config), store, revocation: domain.revocation, log }),
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
  return { server, socket, domain };
}
