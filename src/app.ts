// The routing table: every URL this service answers, and what answers it.
import type { Server } from 'node:http';
import { createHttpServer, json, type Routes } from './http.ts';
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
    '/slack/commands': commandsRoute(services, answerer, announce),
    '/associate': associateRoute(services, announce),
  };
  return createHttpServer({ routes, log: services.log });
}
