// The demo's stand-in for Slack: its Web API (the methods the server calls, every call kept, so that
// the story can show the DMs Slack would deliver) and, for `--socket`, its Socket Mode server, over
// which the story's slash commands then travel. (The tests have their own, with failures on demand:
// test/support/slack-stand-in.ts.)
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface SlackCall {
  method: string;
  token: string | undefined;
  args: Record<string, unknown>;
}

type MethodHandler = (args: Record<string, unknown>) => { status?: number; body: unknown };

export interface SlackStub {
  url: string;
  calls: SlackCall[];
  /** Slack user id → the email users.info shows for them. */
  emails: Map<string, string>;
  /** Socket Mode: a slash command's fields as an envelope on the server's connection; its acknowledged answer. */
  socketCommand(fields: Record<string, string>): Promise<unknown>;
  /** Resolves when the server has connected over Socket Mode. */
  socketConnected(): Promise<void>;
  close(): Promise<void>;
}

const defaults = (emails: Map<string, string>): Record<string, MethodHandler> => ({
  'users.info': (args) => {
    const email = emails.get(String(args.user));
    return { body: { ok: true, user: { id: args.user, profile: email ? { email } : {} } } };
  },
  'chat.postMessage': (args) => ({ body: { ok: true, channel: args.channel, ts: `${Date.now() / 1000}` } }),
  'views.publish': () => ({ body: { ok: true, view: { id: 'V0001', type: 'home' } } }),
  'auth.test': () => ({ body: { ok: true, url: 'https://acme.slack.com/', team: 'Acme', user: 'account-binding', team_id: 'T0001', user_id: 'UBOT' } }),
});

export async function startSlackStub(): Promise<SlackStub> {
  const emails = new Map<string, string>();
  const handlers = defaults(emails);
  const calls: SlackCall[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0]!;
    const args: Record<string, unknown> = (req.headers['content-type'] ?? '').includes('json')
      ? JSON.parse(raw || '{}')
      : Object.fromEntries(new URLSearchParams(raw));
    for (const [k, v] of Object.entries(args)) {
      if (typeof v === 'string' && (v.startsWith('[') || v.startsWith('{'))) {
        try {
          args[k] = JSON.parse(v);
        } catch {
          // keep the string
        }
      }
    }
    calls.push({ method, token: req.headers.authorization?.replace(/^Bearer /, ''), args });
    const handler = Object.hasOwn(handlers, method) ? handlers[method] : undefined;
    const { status = 200, body } = handler ? handler(args) : { body: { ok: false, error: 'unknown_method' } };
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  handlers['apps.connections.open'] = () => ({ body: { ok: true, url: `ws://127.0.0.1:${port}/link/?ticket=demo` } });
  let socket: WebSocket | undefined;
  const connected = new Promise<void>((resolve) => {
    new WebSocketServer({ server, path: '/link/' }).on('connection', (ws) => {
      socket = ws;
      ws.send(JSON.stringify({ type: 'hello', num_connections: 1 }));
      resolve();
    });
  });
  let envelopes = 0;
  return {
    url: `http://127.0.0.1:${port}/api/`,
    calls,
    emails,
    socketConnected: () => connected,
    socketCommand(fields) {
      const id = `demo-envelope-${++envelopes}`;
      return new Promise((resolve) => {
        const onAck = (data: Buffer) => {
          const ack = JSON.parse(data.toString()) as { envelope_id?: string; payload?: unknown };
          if (ack.envelope_id !== id) return;
          socket!.off('message', onAck);
          resolve(ack.payload);
        };
        socket!.on('message', onAck);
        socket!.send(JSON.stringify({ envelope_id: id, type: 'slash_commands', payload: fields, accepts_response_payload: true }));
      });
    },
    close: () => {
      socket?.terminate();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
