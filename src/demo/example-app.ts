// An example internal application: the one endpoint a team adds to use this service (README's
// "Internal application contract" shows the same thing in 15 lines). `npm run demo` runs it.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export const EXAMPLE_SLOW_MS = 3500;

export async function startExampleApp(token: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    const reply = (status: number, value: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (req.headers.authorization !== `Bearer ${token}`) return reply(401, { error: 'bad token' });
    let body = '';
    for await (const chunk of req) body += chunk;
    const { internal_user: user, text } = JSON.parse(body) as { internal_user: string; text: string };
    const [cmd = '', ...args] = text.split(/\s+/);
    const period = args.join(' ') || 'this quarter';
    if (cmd === 'report' || cmd === 'slow') {
      if (cmd === 'slow') await new Promise((r) => setTimeout(r, EXAMPLE_SLOW_MS));
      return reply(200, {
        text: `Expense report for ${user}, ${period}`,
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: `Expense report: ${period}` } },
          {
            type: 'section',
            fields: [
              { type: 'mrkdwn', text: `*Owner*\n${user}` },
              { type: 'mrkdwn', text: '*Total*\n$1,284.50' },
              { type: 'mrkdwn', text: '*Open items*\n3' },
              { type: 'mrkdwn', text: '*Status*\nAwaiting approval' },
            ],
          },
        ],
      });
    }
    if (cmd === 'payroll') return reply(403, { error: 'only the finance team may see payroll' });
    return reply(404, { error: `no command "${cmd}"; try report, slow or payroll` });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/command`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
