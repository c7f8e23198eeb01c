// GET /metrics: Prometheus text, only for the addresses in METRICS_ALLOW.
import { handled, type Route } from '../http.ts';
import { refusal } from '../refusals.ts';
import { isAllowed, type AddressList } from '../lib/address-list.ts';
import type { Metrics } from '../lib/metrics.ts';
import { forwardedBy } from './operator-guard.ts';

/** `proxyMarkers`: the headers that say a request came through a proxy (operator-guard.ts). */
export function metricsRoute(metrics: Metrics, allowed: AddressList, proxyMarkers: readonly string[]): Route<'metrics'> {
  return {
    operation: 'metrics',
    GET(ctx) {
      const marker = forwardedBy(ctx.req, proxyMarkers);
      if (marker) throw refusal('metrics_proxied', { detail: `through a proxy (${marker})` });
      if (!isAllowed(allowed, ctx.req.socket.remoteAddress)) {
        throw refusal('metrics_not_allowed');
      }
      return handled('served', { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, body: metrics.render() });
    },
  };
}
