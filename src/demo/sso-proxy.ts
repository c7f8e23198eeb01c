// A stand-in for the company's SSO proxy: every request that passes is "signed in" as one user,
// whose name and email it sets in the trusted headers, overwriting whatever the client sent.
import { createServer, request, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface SsoProxy {
  url: string;
  /** Where to forward to (known once the server it fronts has started). */
  target: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

/** `host`/`port`: where browsers reach it (0.0.0.0 to open the demo from another machine). */
export async function startSsoProxy(user: string, email: string, host = '127.0.0.1', port = 0): Promise<SsoProxy> {
  const proxy: SsoProxy = { url: '', target: '', close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'x-forwarded-user' && name !== 'x-forwarded-email') headers[name] = value;
    }
    headers['x-forwarded-user'] = user;
    headers['x-forwarded-email'] = email;
    const upstream = request(`${proxy.target}${req.url}`, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end('upstream unavailable\n'));
    req.pipe(upstream);
  });
  server.listen(port, host);
  await once(server, 'listening');
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return proxy;
}
