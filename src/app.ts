// The routing table: every URL this service answers, and what answers it.
import type { Server } from 'node:http';
import { HttpError, createHttpServer, json, type Routes } from './http.ts';
import { isTrustedProxy } from './proxy.ts';
import { commandsRoute } from './slack/commands.ts';
import { associateRoute } from './associate.ts';
import type { Services } from './services.ts';
import { createCommandAnswerer } from './run-command.ts';
import { createAnnouncer } from './bound.ts';

export function createApp(services: Services): Server {
  const answerer = createCommandAnswerer(services);
  const announce = createAnnouncer(services, answerer);
  const routes: Routes = {
    '/healthz': {
      GET() {
        try {
          if (services.store.ping()) return json(200, { status: 'ok' });
        } catch {
          // the database does not answer: report it below
        }
        return json(503, { status: 'unavailable', reason: 'database does not answer' });
      },
    },
    '/metrics': {
      GET(ctx) {
        if (!isTrustedProxy(services.config.metricsAllow, ctx.req.socket.remoteAddress)) {
          throw new HttpError(403, 'Metrics are only served to addresses in METRICS_ALLOW.');
        }
        return { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, body: services.metrics.render() };
      },
    },
    '/slack/commands': commandsRoute(services, answerer, announce),
    '/associate': associateRoute(services, announce),
  };
  return createHttpServer({ routes, log: services.log });
}
