// node:http plumbing: a routing table, bounded bodies, timeouts and one place where errors become
// status codes. Handlers return their reply with the outcome it ends in; they never touch the
// response object, and the request's log line is written from what they return.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { describe, type Logger } from './lib/log.ts';
import { HttpError, refusal, tooLarge, type About } from './refusals.ts';
import type { Operation, OutcomeOf } from './outcomes.ts';

export interface Reply {
  status: number;
  headers?: Readonly<Record<string, string>>;
  body?: string;
}

/** What a handler returns: the reply, the outcome it ends in (its route's vocabulary) and whom it was about. */
export interface Handled<O extends string = string> {
  reply: Reply;
  outcome: O;
  about?: About;
}

export interface Context {
  req: IncomingMessage;
  requestId: string;
  path: string;
  query: URLSearchParams;
}

export type Handler<O extends string = string> = (ctx: Context) => Handled<O> | Promise<Handled<O>>;

export interface Route<Op extends Operation = Operation> {
  /** The outcome vocabulary (src/outcomes.ts) this route's requests end in. */
  operation: Op;
  GET?: Handler<OutcomeOf<Op>>;
  POST?: Handler<OutcomeOf<Op>>;
  DELETE?: Handler<OutcomeOf<Op>>;
  /** How this route shows an HttpError (an HTML page, JSON…); plain text when absent. */
  renderError?: (err: HttpError, ctx: Context) => Reply;
}

// Each route keeps its own outcome type; the table only needs to know it is some route.
// biome-ignore lint/suspicious/noExplicitAny: a table of routes of different operations
export type Routes = Record<string, Route<any>>;

export const handled = <O extends string>(outcome: O, reply: Reply, about?: About): Handled<O> => (about ? { outcome, reply, about } : { outcome, reply });

const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/json; charset=utf-8' });

export const json = (status: number, value: unknown): Reply => ({ status, headers: JSON_HEADERS, body: JSON.stringify(value) });

const text = (status: number, message: string, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers },
  body: `${message}\n`,
});

const unreadable = () => refusal('body_unreadable', { headers: { connection: 'close' } });

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
    throw refusal('form_invalid', { detail: 'broken %-escape or invalid UTF-8' });
  }
  return form;
}

/**
 * A form Slack sends, refused unless it is exactly that: `key=value` pairs of `[a-z_]` keys, each
 * once, none that `refused` names. Slack's signature covers the body, not the path or the content
 * type, so a body signed for one path (an event's JSON, whose strings an attacker can choose) must
 * not parse as a form of another path's fields.
 */
export function parseSlackForm(body: Buffer, refused: ReadonlySet<string>): Form {
  const text = body.toString('latin1');
  if (text.startsWith('{')) throw refusal('form_invalid', { detail: 'a JSON body where a form was expected' });
  const pairs = text.split('&');
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (eq === -1 || !/^[a-z_]{1,64}$/.test(key)) throw refusal('form_invalid', { detail: 'a field that is not key=value with a key of [a-z_]' });
    if (refused.has(key)) throw refusal('form_invalid', { detail: `a field ${key} that this path does not take` });
  }
  const form = parseForm(body);
  if (form.size !== pairs.length) throw refusal('form_invalid', { detail: 'a field given twice' });
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
  };
  const route = Object.hasOwn(routes, ctx.path) ? routes[ctx.path] : undefined;
  let result: Handled;
  try {
    result = await dispatch(route, ctx);
  } catch (err) {
    result = failed(err, route, ctx, log);
  }
  if (route) onOutcome(route.operation, result.outcome);
  const { reply } = result;
  const body = withRequestId(reply, ctx.requestId);
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
    outcome: result.outcome,
    ...result.about,
  });
}

/**
 * Every HTML page that refuses or fails shows the request id (README: "in every error page"), so a
 * user can quote it and an operator find the log line; one place, whichever page a route chose.
 */
function withRequestId(reply: Reply, requestId: string): string {
  const body = reply.body ?? '';
  if (reply.status < 400 || !reply.headers?.['content-type']?.startsWith('text/html') || body.includes(requestId)) return body;
  const at = body.lastIndexOf('</main>');
  if (at < 0) return body;
  return `${body.slice(0, at)}<p class="note">Request ${requestId}: quote it to your administrator if you ask for help.</p>\n${body.slice(at)}`;
}

/** A refusal becomes its status and text; anything else thrown is a bug or an outage: a 500 with the request id. */
function failed(err: unknown, route: Route | undefined, ctx: Context, log: Logger): Handled {
  if (err instanceof HttpError) {
    const reply = route?.renderError ? route.renderError(err, ctx) : text(err.status, err.message);
    reply.headers = { ...reply.headers, ...err.headers };
    const about = err.detail ? { ...err.about, detail: err.detail } : err.about;
    return { outcome: err.outcome ?? (err.status >= 500 ? 'error' : 'refused'), reply, about };
  }
  log.error('unhandled_error', { request_id: ctx.requestId, path: ctx.path, error: describe(err) });
  return { outcome: 'error', reply: text(500, `Internal error (request ${ctx.requestId}).`) };
}

function dispatch(route: Route | undefined, ctx: Context): Handled | Promise<Handled> {
  if (!route) throw refusal('not_found');
  const method = ctx.req.method === 'HEAD' ? 'GET' : ctx.req.method;
  const handler = method === 'GET' || method === 'POST' || method === 'DELETE' ? route[method] : undefined;
  if (!handler) {
    const allow = [route.GET && 'GET, HEAD', route.POST && 'POST', route.DELETE && 'DELETE'].filter(Boolean).join(', ');
    throw refusal('method_not_allowed', { headers: { allow } });
  }
  return handler(ctx);
}
