// The tests' stand-in for Slack, on loopback: its Web API as Slack documents it (the methods we call,
// each recorded), with a way to make any method answer otherwise, and its Socket Mode server (the
// WebSocket that apps.connections.open points at: hello, envelopes and their acknowledgements,
// refreshes, drops), and Sign in with Slack (OpenID Connect: authorize, openid.connect.token, the
// key set). The server under test reaches it through SLACK_API_URL and the real
// @slack/web-api client.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createSign, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

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
  /** Back to the stand-in's own answer for a method. */
  restore(method: string): void;
  /** Resolves once `count` calls of `method` (that `where` accepts, if given) have arrived. */
  waitFor(method: string, count?: number, where?: (call: SlackCall) => boolean): Promise<SlackCall[]>;
  /** Socket Mode, as Slack runs it for an app whose app-level token is an xapp- one. */
  socket: SocketStandIn;
  /** Sign in with Slack, as Slack runs it for the app whose client id and secret these are. */
  oidc: OidcStandIn;
  close(): Promise<void>;
}

/** Who signs in at Slack's authorization endpoint, and how the test wants the id_token spoilt, if at all. */
export interface OidcStandIn {
  clientId: string;
  clientSecret: string;
  /** The Slack user the browser is signed in as: authorize redirects back at once, as them. */
  signedInAs: { userId: string; teamId: string; enterpriseId?: string };
  /** Authorize answers error=access_denied (the user clicked Cancel). */
  deny: boolean;
  /** Changes the id_token's claims before signing (a wrong aud, nonce, issuer…). */
  tamper: ((claims: Record<string, unknown>) => void) | null;
  /** Sign the id_token with a key that is not in the key set. */
  foreignKey: boolean;
  /** /openid/connect/keys answers HTTP 500. */
  keysDown: boolean;
  /** Every authorization request's query, in order. */
  authorizations: URLSearchParams[];
  /** The stand-in's origin: its id_tokens' issuer. */
  issuer: string;
}

/** An acknowledgement the app sent: the envelope it names, and its payload if any. */
export interface Ack {
  envelope_id: string;
  payload?: any;
}

export interface SocketConnection {
  ws: WebSocket;
  /** The ticket in the URL it connected with. */
  ticket: string;
  closed: boolean;
  openedAt: number;
  closedAt: number | null;
  /** Envelopes sent on it. */
  sent: number;
}

export interface SocketStandIn {
  /** Every connection the app opened, in order. */
  connections: SocketConnection[];
  /** Every acknowledgement received, in order. */
  acks: Ack[];
  /** Every text message the app sent that was not an acknowledgement. */
  other: string[];
  /**
   * An envelope on the newest open connection (or `on`); resolves with its acknowledgement, or null
   * when none came within Slack's 3 seconds.
   */
  send(type: string, payload: unknown, o?: { envelopeId?: string; retryAttempt?: number; on?: SocketConnection; waitMs?: number }): Promise<Ack | null>;
  /** Anything at all, on the newest open connection. */
  sendRaw(data: string | Buffer, binary?: boolean): void;
  /** Slack's `disconnect` message on the newest connection; Slack closes it `closeAfterMs` later (as it does after a refresh). */
  disconnect(reason: string, closeAfterMs?: number): SocketConnection;
  /** Every connection cut without a close handshake (a network drop). */
  drop(): void;
  /** Resolves once `count` connections have been opened (and greeted) in all. */
  waitForConnections(count: number): Promise<SocketConnection[]>;
  /** Open connections now. */
  open(): SocketConnection[];
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
    ['users.info', (args) => ({ body: { ok: true, user: { id: args.user, name: `slack-${String(args.user).toLowerCase()}`, profile: emails.has(String(args.user)) ? { email: emails.get(String(args.user)) } : {} } } })],
    ['chat.postMessage', (args) => ({ body: { ok: true, channel: args.channel, ts: `${Date.now() / 1000}` } })],
    ['views.publish', () => ({ body: { ok: true, view: { id: 'V0001', type: 'home' } } })],
    [
      'apps.connections.open',
      (_args, call) =>
        // An app-level token opens a connection; any other kind, or one the test calls revoked, is refused as Slack refuses it.
        call.token?.includes('-revoked-') ? { body: { ok: false, error: 'invalid_auth' } } : call.token?.startsWith('xapp-') ? { body: { ok: true, url: `ws://127.0.0.1:${port}/link/?ticket=ticket-${++tickets}-secret&app_id=A0001` } } : { body: { ok: false, error: 'not_allowed_token_type' } },
    ],
  ]);
  let port = 0;
  let tickets = 0;

  const oidc = oidcStandIn();
  answers.set('openid.connect.token', (args) => oidc.token(args));
  const defaults = new Map(answers);
  const server = createServer((req, res) => {
    if ((req.url ?? '').startsWith('/openid/connect/')) return oidc.serve(req, res);
    void argsOf(req).then((args) => {
      const call: SlackCall = { method: (req.url ?? '').replace(/^\/api\//, '').split('?')[0]!, token: req.headers.authorization?.replace(/^Bearer /, ''), args };
      calls.push(call);
      const answer = answers.get(call.method)?.(args, call) ?? { body: { ok: false, error: 'unknown_method' } };
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.body));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
  const socket = socketModeOn(server);
  oidc.state.issuer = `http://127.0.0.1:${port}`;

  return {
    socket,
    oidc: oidc.state,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`,
    calls,
    emails,
    on: (method, handler) => void answers.set(method, handler),
    restore: (method) => void answers.set(method, defaults.get(method)!),
    async waitFor(method, count = 1, where = () => true) {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const matching = calls.filter((c) => c.method === method && where(c));
        if (matching.length >= count) return matching;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} ${method} call(s); got ${matching.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: async () => {
      socket.drop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Socket Mode's server side on the stand-in's own port, at /link/ (the URLs apps.connections.open gives). */
function socketModeOn(server: ReturnType<typeof createServer>): SocketStandIn {
  const wss = new WebSocketServer({ server, path: '/link/' });
  const connections: SocketConnection[] = [];
  const acks: Ack[] = [];
  const other: string[] = [];
  const waiting = new Map<string, (ack: Ack) => void>();
  let envelopes = 0;
  const open = () => connections.filter((c) => !c.closed && c.ws.readyState === WebSocket.OPEN);
  const newest = () => {
    const c = open().at(-1);
    if (!c) throw new Error('no open Socket Mode connection');
    return c;
  };

  wss.on('connection', (ws, req) => {
    const conn: SocketConnection = { ws, ticket: new URL(req.url ?? '/', 'http://x').searchParams.get('ticket') ?? '', closed: false, openedAt: performance.now(), closedAt: null, sent: 0 };
    connections.push(conn);
    ws.on('close', () => {
      conn.closed = true;
      conn.closedAt = performance.now();
    });
    ws.on('message', (data) => {
      const text = data.toString();
      let message: any;
      try {
        message = JSON.parse(text);
      } catch {
        other.push(text);
        return;
      }
      if (typeof message?.envelope_id !== 'string') return void other.push(text);
      acks.push(message);
      waiting.get(message.envelope_id)?.(message);
    });
    ws.send(JSON.stringify({ type: 'hello', num_connections: open().length, debug_info: { host: 'applink-stand-in', approximate_connection_time: 18060 }, connection_info: { app_id: 'A0001' } }));
  });

  return {
    connections,
    acks,
    other,
    open,
    async send(type, payload, o = {}) {
      const envelopeId = o.envelopeId ?? `env-${Date.now()}-${++envelopes}`;
      const conn = o.on ?? newest();
      conn.sent++;
      const acked = new Promise<Ack | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), o.waitMs ?? 3000);
        waiting.set(envelopeId, (ack) => {
          clearTimeout(timer);
          waiting.delete(envelopeId);
          resolve(ack);
        });
      });
      conn.ws.send(
        JSON.stringify({
          envelope_id: envelopeId,
          type,
          payload,
          accepts_response_payload: type === 'slash_commands',
          retry_attempt: o.retryAttempt ?? 0,
          retry_reason: o.retryAttempt ? 'timeout' : '',
        }),
      );
      return acked;
    },
    sendRaw(data, binary = false) {
      newest().ws.send(data, { binary });
    },
    disconnect(reason, closeAfterMs = 3000) {
      const conn = newest();
      conn.ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-stand-in' } }));
      setTimeout(() => conn.ws.readyState === WebSocket.OPEN && conn.ws.close(1001), closeAfterMs).unref();
      return conn;
    },
    drop() {
      for (const c of connections) c.ws.terminate();
    },
    async waitForConnections(count) {
      const deadline = Date.now() + 15_000;
      while (connections.filter((c) => c.ws.readyState === WebSocket.OPEN || c.closed).length < count) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} Socket Mode connection(s); got ${connections.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return connections;
    },
  };
}

/** Sign in with Slack's three endpoints: /openid/connect/authorize, openid.connect.token, /openid/connect/keys. */
function oidcStandIn() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const kid = 'stand-in-1';
  const state: OidcStandIn = {
    clientId: '1234567890.9876543210',
    clientSecret: 'stand-in-client-secret',
    signedInAs: { userId: 'U0000', teamId: 'T0001' },
    deny: false,
    tamper: null,
    foreignKey: false,
    keysDown: false,
    authorizations: [],
    issuer: '',
  };
  /** Codes handed out and not yet exchanged: what each was issued for. */
  const codes = new Map<string, { redirectUri: string; nonce: string | null; who: OidcStandIn['signedInAs'] }>();

  const sign = (claims: Record<string, unknown>, key: KeyObject): string => {
    const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const signed = `${part({ alg: 'RS256', typ: 'JWT', kid })}.${part(claims)}`;
    return `${signed}.${createSign('sha256').update(signed).sign(key).toString('base64url')}`;
  };

  return {
    state,
    serve(req: IncomingMessage, res: ServerResponse): void {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/openid/connect/keys') {
        if (state.keysDown) return void res.writeHead(500).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] }));
        return;
      }
      if (url.pathname !== '/openid/connect/authorize') return void res.writeHead(404).end();
      state.authorizations.push(url.searchParams);
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      if (url.searchParams.get('client_id') !== state.clientId) back.searchParams.set('error', 'invalid_client_id');
      else if (state.deny) back.searchParams.set('error', 'access_denied');
      else {
        const code = `code-${randomBytes(12).toString('hex')}`;
        codes.set(code, { redirectUri: back.origin + back.pathname, nonce: url.searchParams.get('nonce'), who: { ...state.signedInAs } });
        back.searchParams.set('code', code);
      }
      res.writeHead(302, { location: back.href }).end();
    },
    token(args: Record<string, unknown>): { body: unknown } {
      if (args.client_id !== state.clientId || args.client_secret !== state.clientSecret) return { body: { ok: false, error: 'invalid_client_id' } };
      const issued = codes.get(String(args.code));
      codes.delete(String(args.code));
      if (!issued) return { body: { ok: false, error: 'invalid_code' } };
      if (issued.redirectUri !== args.redirect_uri) return { body: { ok: false, error: 'bad_redirect_uri' } };
      const now = Math.floor(Date.now() / 1000);
      const claims: Record<string, unknown> = {
        iss: state.issuer,
        sub: issued.who.userId,
        aud: state.clientId,
        exp: now + 3600,
        iat: now,
        auth_time: now,
        ...(issued.nonce === null ? {} : { nonce: issued.nonce }),
        'https://slack.com/user_id': issued.who.userId,
        'https://slack.com/team_id': issued.who.teamId,
        ...(issued.who.enterpriseId ? { 'https://slack.com/enterprise_id': issued.who.enterpriseId } : {}),
      };
      state.tamper?.(claims);
      const idToken = sign(claims, state.foreignKey ? other : privateKey);
      return { body: { ok: true, access_token: `xoxp-oidc-${randomBytes(8).toString('hex')}`, token_type: 'Bearer', id_token: idToken } };
    },
  };
}
