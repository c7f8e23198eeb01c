// GET /metrics: Prometheus text, only for the addresses in METRICS_ALLOW.
import { HttpError, type Route } from '../http.ts';
import { isAllowed, type AddressList } from '../lib/address-list.ts';
import type { Metrics } from '../lib/metrics.ts';

export function metricsRoute(metrics: Metrics, allowed: AddressList): Route {
  return {
    operation: 'metrics',
    GET(ctx) {
      if (!isAllowed(allowed, ctx.req.socket.remoteAddress)) {
        throw new HttpError(403, 'Metrics are only served to addresses in METRICS_ALLOW.');
      }
      ctx.fields.outcome = 'served';
      return { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, body: metrics.render() };
    },
  };
}
