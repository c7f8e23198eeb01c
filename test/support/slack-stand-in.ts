// The tests' stand-in for Slack, on loopback: its Web API as Slack documents it (the methods we call,
// each recorded), with a way to make any method answer otherwise. The server under test reaches it
// through SLACK_API_URL and the real @slack/web-api client.
import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

/** One Web API call as it arrived: the method, the bearer token, and its arguments (JSON fields parsed). */
export interface SlackCall {
  method: string;
  token: string | undefined;
  args: Record<string, unknown>;
}

/** How a method answers: Slack's body (and an HTTP status other than 200, or headers such as Retry-After). */
export type MethodHandler = (args: Record<string, unknown>, call: SlackCall) => { status?: number; headers?: Record<string, string>; body: unknown };

export interface SlackStub {
  /** SLACK_API_URL for the server under test (ends with /api/). */
  url: string;
  calls: SlackCall[];
  /** Slack user id → the email users.info shows for them. */
  emails: Map<string, string>;
  /** Replace how a method answers (e.g. make it fail). */
  on(method: string, handler: MethodHandler): void;
  /** Resolves once `count` calls of `method` (that `where` accepts, if given) have arrived. */
  waitFor(method: string, count?: number, where?: (call: SlackCall) => boolean): Promise<SlackCall[]>;
  close(): Promise<void>;
}

const WAIT_MS = 5000;

/** Slack's Web API accepts form bodies and JSON bodies; nested values arrive as JSON strings in forms. */
async function argsOf(req: IncomingMessage): Promise<Record<string, unknown>> {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  if ((req.headers['content-type'] ?? '').includes('json')) return raw ? JSON.parse(raw) : {};
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const looksJson = value.startsWith('{') || value.startsWith('[');
    try {
      args[key] = looksJson ? JSON.parse(value) : value;
    } catch {
      args[key] = value;
    }
  }
  return args;
}

export async function startSlackStub(): Promise<SlackStub> {
  const emails = new Map<string, string>();
  const calls: SlackCall[] = [];
  const answers = new Map<string, MethodHandler>([
    ['auth.test', () => ({ body: { ok: true, url: 'https://acme.slack.com/', team: 'Acme', user: 'account-binding', team_id: 'T0001', user_id: 'UBOT' } })],
    ['users.info', (args) => ({ body: { ok: true, user: { id: args.user, profile: emails.has(String(args.user)) ? { email: emails.get(String(args.user)) } : {} } } })],
    ['chat.postMessage', (args) => ({ body: { ok: true, channel: args.channel, ts: `${Date.now() / 1000}` } })],
    ['views.publish', () => ({ body: { ok: true, view: { id: 'V0001', type: 'home' } } })],
  ]);

  const server = createServer((req, res) => {
    void argsOf(req).then((args) => {
      const call: SlackCall = { method: (req.url ?? '').replace(/^\/api\//, '').split('?')[0]!, token: req.headers.authorization?.replace(/^Bearer /, ''), args };
      calls.push(call);
      const answer = answers.get(call.method)?.(args, call) ?? { body: { ok: false, error: 'unknown_method' } };
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.body));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`,
    calls,
    emails,
    on: (method, handler) => void answers.set(method, handler),
    async waitFor(method, count = 1, where = () => true) {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const matching = calls.filter((c) => c.method === method && where(c));
        if (matching.length >= count) return matching;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} ${method} call(s); got ${matching.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
