// GET /healthz: 200 while the database can be read and written and, with Socket Mode, while Slack
// can reach us: not before the first hello, nor after 30 s without a connection (an orchestrator
// then restarts the process). For the image's HEALTHCHECK and load balancers.
import { handled, json, type Route } from '../http.ts';
import type { Store } from '../store/store.ts';
import type { SocketStatus } from '../slack/socket-mode.ts';

/** A connection may drop and come back (a refresh, a network blip) this long before the service is unhealthy. */
export const SOCKET_DOWN_GRACE_MS = 30_000;

/** Why Slack cannot reach us over the socket, or null while it can. */
function socketProblem(status: SocketStatus, now: number): string | null {
  if (!status.everUp) return 'Socket Mode: not connected to Slack yet';
  if (status.up || status.downSince === null || now - status.downSince <= SOCKET_DOWN_GRACE_MS) return null;
  return `Socket Mode: no connection to Slack for ${Math.round((now - status.downSince) / 1000)} s`;
}

export function healthRoute(store: Pick<Store, 'ping'>, socket: { status(): SocketStatus } | null): Route<'health'> {
  return {
    operation: 'health',
    async GET() {
      const unavailable = (reason: string) => handled('unavailable', json(503, { status: 'unavailable', reason }));
      try {
        if (!(await store.ping())) return unavailable('database does not answer');
      } catch {
        return unavailable('database does not answer');
      }
      const problem = socket && socketProblem(socket.status(), Date.now());
      return problem ? unavailable(problem) : handled('ok', json(200, { status: 'ok' }));
    },
  };
}
