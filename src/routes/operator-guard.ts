// /metrics and /admin/… are for callers on the private side, admitted by address (METRICS_ALLOW,
// ADMIN_ALLOW; loopback by default). A proxy on the same host that forwards every path would make
// any client on the internet look like 127.0.0.1. A proxy usually says it is one: it adds
// X-Forwarded-For (oauth2-proxy, Caddy, cloudflared, Envoy…), its siblings, Forwarded, X-Real-IP,
// Cf-Connecting-Ip, or the SSO's identity headers. Such a request is refused on these paths whatever
// its address: operators' endpoints are never reached through the proxy. A bare nginx proxy_pass
// adds none, which is why the proxy must also forward only the paths it should (docs/sso.md).
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/index.ts';

const FORWARDING_HEADERS = ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-real-ip', 'cf-connecting-ip'];

/** The headers that mark a request as having come through a proxy, lower-case, for this configuration. */
export function proxyMarkers(config: Pick<Config, 'trustedUserHeader' | 'trustedEmailHeader' | 'trustedJwt'>): string[] {
  const identity = [config.trustedUserHeader, config.trustedEmailHeader, config.trustedJwt?.header ?? '', 'x-proxy-secret'];
  return [...new Set([...FORWARDING_HEADERS, ...identity.filter(Boolean).map((h) => h.toLowerCase())])];
}

/** The first of `markers` the request carries (even empty: a proxy set it), or undefined. */
export const forwardedBy = (req: IncomingMessage, markers: readonly string[]): string | undefined => markers.find((h) => req.headers[h] !== undefined);
