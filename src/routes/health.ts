// GET /healthz: 200 while the database can be read and written, else 503 (for the image's
// HEALTHCHECK and load balancers).
import { json, type Route } from '../http.ts';
import type { Store } from '../store/store.ts';

export function healthRoute(store: Store): Route {
  return {
    operation: 'health',
    async GET(ctx) {
      try {
        if (await store.ping()) {
          ctx.fields.outcome = 'ok';
          return json(200, { status: 'ok' });
        }
      } catch {
        // the database does not answer: report it below
      }
      ctx.fields.outcome = 'unavailable';
      return json(503, { status: 'unavailable', reason: 'database does not answer' });
    },
  };
}
