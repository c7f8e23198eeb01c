// GET /healthz: 200 while the database can be read and written, else 503 (for the image's
// HEALTHCHECK and load balancers).
import { handled, json, type Route } from '../http.ts';
import type { Store } from '../store/store.ts';

export function healthRoute(store: Pick<Store, 'ping'>): Route<'health'> {
  return {
    operation: 'health',
    async GET() {
      try {
        if (await store.ping()) return handled('ok', json(200, { status: 'ok' }));
      } catch {
        // the database does not answer: report it below
      }
      return handled('unavailable', json(503, { status: 'unavailable', reason: 'database does not answer' }));
    },
  };
}
