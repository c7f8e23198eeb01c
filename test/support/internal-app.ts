// A local stand-in for the internal application's command endpoint, and a catcher for what we
// post to response_urls. Each answers by the first word of the command text, so a test picks
// the behaviour by what the user "types".
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export const APP_TOKEN = 'internal-app-test-token';

export interface Received {
  headers: IncomingHttpHeaders;
  body: any;
  url: string;
}

export interface TestHttpServer {
  url: string;
  received: Received[];
  waitFor(count: number, where?: (r: Received) => boolean): Promise<Received[]>;
  close(): Promise<void>;
}

/** An HTTP answer: its status, body and any headers (Retry-After…). */
export interface Answered {
  status: number;
  body: string;
  headers?: Record<string, string>;
}
type Answer = (r: Received) => Promise<Answered> | Answered;

async function serve(answer: Answer): Promise<TestHttpServer> {
  const received: Received[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = raw;
    try {
      body = JSON.parse(raw);
    } catch {
      // keep the raw text
    }
    const r = { headers: req.headers, body, url: req.url ?? '' };
    received.push(r);
    const { status, body: out, headers } = await answer(r);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(out);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    received,
    async waitFor(count, where = () => true) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const matching = received.filter(where);
        if (matching.length >= count) return matching;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} request(s); got ${matching.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const reply = (value: unknown, status = 200) => ({ status, body: JSON.stringify(value) });

/** The example internal application: what a team would write against our contract. */
export function startInternalApp(): Promise<TestHttpServer> {
  return serve(async ({ headers, body }) => {
    if (headers.authorization !== `Bearer ${APP_TOKEN}`) return reply({ error: 'bad token' }, 401);
    if (body.type === 'action' && body.action.action_id === 'gone') return reply({ error: 'no such user' }, 410);
    if (body.type === 'action') {
      return reply({ text: `${body.action.action_id} (${body.action.value}) done by ${body.internal_user}`, replace_original: true });
    }
    const [word, ...rest] = String(body.text).split(' ');
    const who = body.internal_user;
    switch (word) {
      case 'slow':
        await sleep(Number(rest[0] ?? 3000));
        return reply({ text: `slow report ready for ${who}` });
      case 'forbidden':
        return reply({ error: 'only finance may see payroll' }, 403);
      case 'boom':
        return reply({ error: 'database exploded' }, 500);
      case 'garbage':
        return { status: 200, body: '<html>not json</html>' };
      case 'wrongtype':
        return reply({ text: 42, blocks: 'nope' });
      case 'badblocks':
        return reply({ text: 'x', blocks: [1, 2] });
      case 'huge':
        return reply({ text: 'x'.repeat(300 * 1024) });
      case 'gone':
        return reply({ error: 'no such user' }, 410);
      case 'badtoken':
        return reply({ error: 'bad token' }, 401);
      case 'long':
        // A report longer than a Block Kit section takes (3000 characters), a link right at the cut.
        return reply({ text: `long report for ${who}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `${'a'.repeat(2990)}<https://reports.example/q3|the q3 report> ${'b'.repeat(2000)}` } }] });
      case 'announce':
        return reply({ text: `${who} announces ${rest.join(' ')}`, response_type: 'in_channel' });
      default:
        return reply({
          text: `ran ${body.text} as ${who}`,
          blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${body.text}* for ${who}` } }],
        });
    }
  });
}

export interface ResponseCatcher extends TestHttpServer {
  /** How the next posts are answered (a refusal, a 429…); undefined for the request: `{"ok": true}`, as Slack accepts. */
  answer: ((r: Received) => Answered | undefined) | null;
}

/** Stands in for Slack's response_url endpoint (hooks.slack.com). */
export async function startResponseCatcher(): Promise<ResponseCatcher> {
  const catcher: ResponseCatcher = Object.assign(await serve((r) => catcher.answer?.(r) ?? reply({ ok: true })), { answer: null });
  return catcher;
}
