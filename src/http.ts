// node:http plumbing: a routing table, bounded bodies, timeouts and one place where errors become
// status codes. Handlers return a Reply; they never touch the response object.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { describe, type Logger } from './lib/log.ts';
import type { Operation } from './outcomes.ts';

/** An error whose message is safe to show to the client; `detail` is for the log only. */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly detail: string | undefined;
  constructor(status: number, message: string, headers: Record<string, string> = {}, detail?: string) {
    super(message);
    this.status = status;
    this.headers = headers;
    this.detail = detail;
  }
}

export interface Reply {
  status: number;
  headers?: Readonly<Record<string, string>>;
  body?: string;
}

/** What a handler adds to the request's log line. `outcome` is from its route's vocabulary. */
export interface RequestFields {
  outcome?: string;
  slack_team?: string;
  slack_user?: string;
  internal_user?: string;
  /** Log-only detail of a refusal or failure. */
  detail?: string;
}

export interface Context {
  req: IncomingMessage;
  requestId: string;
  path: string;
  query: URLSearchParams;
  fields: RequestFields;
}

export type Handler = (ctx: Context) => Reply | Promise<Reply>;

export interface Route {
  /** The outcome vocabulary (src/outcomes.ts) this route's requests end in. */
  operation: Operation;
  GET?: Handler;
  POST?: Handler;
  DELETE?: Handler;
  /** How this route shows an HttpError (an HTML page, JSON…); plain text when absent. */
  renderError?: (err: HttpError, ctx: Context) => Reply;
}

export type Routes = Record<string, Route>;

const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/json; charset=utf-8' });

export const json = (status: number, value: unknown): Reply => ({ status, headers: JSON_HEADERS, body: JSON.stringify(value) });

const text = (status: number, message: string, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers },
  body: `${message}\n`,
});

const tooLarge = (limit: number) => new HttpError(413, `Request body is larger than ${limit} bytes.`, { connection: 'close' });
const unreadable = () => new HttpError(400, 'The request body could not be read.', { connection: 'close' });

/**
 * The body as a Buffer, refusing more than `limit` bytes: by Content-Length before reading
 * anything, or as soon as the stream passes the limit (chunked or lying clients).
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  // Listeners rather than `for await`: the async iterator costs more than the rest of the read.
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', () => reject(unreadable()));
    req.once('aborted', () => reject(unreadable()));
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A parsed form: the first value of each field, as URLSearchParams.get would give it. */
export type Form = ReadonlyMap<string, string>;

/**
 * application/x-www-form-urlencoded, strictly: URLSearchParams would quietly turn broken
 * %-escapes and invalid UTF-8 into replacement characters; here they are a 400.
 */
export function parseForm(body: Buffer): Form {
  const form = new Map<string, string>();
  try {
    for (const pair of utf8.decode(body).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      const key = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
      const value = eq === -1 ? '' : decodeComponent(pair.slice(eq + 1));
      if (!form.has(key)) form.set(key, value);
    }
  } catch {
    throw new HttpError(400, 'The form body is not valid form encoding (broken %-escape or invalid UTF-8).');
  }
  return form;
}

// Most of Slack's fields hold neither "+" nor "%": those are returned as they are.
const decodeComponent = (s: string): string => {
  const spaced = s.includes('+') ? s.replaceAll('+', ' ') : s;
  return spaced.includes('%') ? decodeURIComponent(spaced) : spaced;
};

/** Content-Type without parameters, lower-cased. */
export const mediaType = (req: IncomingMessage): string =>
  (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();

export interface ServerOptions {
  routes: Routes;
  log: Logger;
  /** Called once per routed request with its outcome (for the route's counter). */
  onOutcome(operation: Operation, outcome: string): void;
  /**
   * PUBLIC_BASE_URL's path ("" or "/slack-link"): a path-routed ingress may forward it or strip it,
   * so a request path under it is routed as if it were not there.
   */
  basePath?: string;
}

export function createHttpServer(options: ServerOptions): Server {
  // Timeouts below are enforced when Node sweeps connections; every second, not every 30.
  const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    void handle(options, req, res);
  });
  // Slow clients are cut off: headers must arrive within 10 s, a whole request within 30 s.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  // Longer than the idle timeout of common proxies and load balancers (60 s), so that a proxy never
  // reuses a keep-alive socket we are closing at the same moment (which it reports as a 502).
  server.keepAliveTimeout = 65_000;
  return server;
}

async function handle({ routes, log, onOutcome, basePath }: ServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  let query: URLSearchParams | undefined;
  let path = q === -1 ? url : url.slice(0, q);
  if (basePath && path.startsWith(basePath) && path[basePath.length] === '/') path = path.slice(basePath.length);
  const ctx: Context = {
    req,
    requestId: randomUUID(),
    path,
    // Parsed on first use: most requests (Slack's) have no query.
    get query() {
      query ??= new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
      return query;
    },
    fields: {},
  };
  const route = Object.hasOwn(routes, ctx.path) ? routes[ctx.path] : undefined;
  let reply: Reply;
  try {
    reply = await dispatch(route, ctx);
  } catch (err) {
    if (err instanceof HttpError) {
      if (err.detail) ctx.fields.detail = err.detail;
      ctx.fields.outcome ??= err.status >= 500 ? 'error' : 'refused';
      reply = route?.renderError ? route.renderError(err, ctx) : text(err.status, err.message);
      reply.headers = { ...reply.headers, ...err.headers };
    } else {
      log.error('unhandled_error', { request_id: ctx.requestId, path: ctx.path, error: describe(err) });
      ctx.fields.outcome = 'error';
      reply = text(500, `Internal error (request ${ctx.requestId}).`);
    }
  }
  if (route && ctx.fields.outcome) onOutcome(route.operation, ctx.fields.outcome);
  const body = reply.body ?? '';
  res.writeHead(reply.status, {
    ...reply.headers,
    'content-length': Buffer.byteLength(body),
    'x-request-id': ctx.requestId,
  });
  res.end(body);
  log.info('http', {
    request_id: ctx.requestId,
    method: req.method,
    path: ctx.path, // never the query: it can hold a nonce
    status: reply.status,
    duration_ms: Math.round((performance.now() - started) * 10) / 10,
    ...ctx.fields,
  });
}

function dispatch(route: Route | undefined, ctx: Context): Reply | Promise<Reply> {
  if (!route) throw new HttpError(404, 'Not found.');
  const method = ctx.req.method === 'HEAD' ? 'GET' : ctx.req.method;
  const handler = method === 'GET' || method === 'POST' || method === 'DELETE' ? route[method] : undefined;
  if (!handler) {
    const allow = [route.GET && 'GET, HEAD', route.POST && 'POST', route.DELETE && 'DELETE'].filter(Boolean).join(', ');
    throw new HttpError(405, 'Method not allowed.', { allow });
  }
  return handler(ctx);
}
