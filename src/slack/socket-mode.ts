// Slack's Socket Mode, the protocol: an outbound WebSocket to Slack over which slash commands,
// events and clicks arrive as envelopes, each acknowledged by its envelope_id within 3 seconds
// (with a payload: a slash command's answer). This file keeps a connection up and acknowledges;
// what an envelope means is the handler's (src/routes/socket-mode.ts), so that the socket hands
// the same verified payloads to the same domain as the signed HTTP routes.
//
// Slack's behaviour it follows: apps.connections.open with the app-level token gives a single-use
// wss:// URL (its query holds a ticket: never logged); Slack says `hello`, then sends envelopes;
// it asks for a refresh (`disconnect`: refresh_requested, or warning) some seconds before it
// closes a connection, and delivers to any open connection of the app meanwhile, so the new
// connection is opened first and the old one closed once its envelopes are acknowledged; an
// envelope not acknowledged is sent again (retry_attempt > 0, the same envelope_id).
import type WebSocket from 'ws';
import { describe, type Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import { object } from './ids.ts';
import { TOKEN_REJECTED } from './api.ts';

export const ENVELOPE_TYPES = ['slash_commands', 'events_api', 'interactive'] as const;
export type EnvelopeType = (typeof ENVELOPE_TYPES)[number];

export interface Envelope {
  id: string;
  type: EnvelopeType;
  payload: Record<string, unknown>;
  /** 0 the first time; Slack's re-sends count up. */
  retryAttempt: number;
}

/** What an envelope means: resolves with the ack's payload (undefined: none); rejects to leave it unacknowledged, so that Slack sends it again. */
export type EnvelopeHandler = (envelope: Envelope) => Promise<unknown>;

export interface SocketModeOptions {
  appToken: string;
  /** SLACK_API_URL: apps.connections.open is called there; a ws:// URL is accepted only when it is http: (a local stand-in). */
  slackApiUrl: string;
  handle: EnvelopeHandler;
  log: Logger;
  metrics: Metrics;
  /** Reconnection backoff, first and longest wait (tests shorten them). */
  backoffMs?: { min: number; max: number };
  /** How often we ping; a connection that does not answer within this long is dropped (half-open). */
  pingIntervalMs?: number;
}

export interface SocketStatus {
  /** A connection is open and Slack has said hello on it. */
  up: boolean;
  /** Slack has said hello at least once since start. */
  everUp: boolean;
  /** Since when no connection has been up (ms since the epoch); null while one is. */
  downSince: number | null;
}

export type SocketMode = ReturnType<typeof createSocketMode>;

/** Messages above this are refused unread (Slack's envelopes are a few KiB; its payload limit is far below). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Beyond this the WebSocket layer itself closes the connection (1009) before buffering more. */
const MAX_FRAME_BYTES = 4 * MAX_MESSAGE_BYTES;
const OPEN_TIMEOUT_MS = 10_000;
/** An old connection whose envelopes are not all acknowledged by then is closed anyway. */
const RETIRE_GRACE_MS = 10_000;
/** Envelope ids remembered to recognise Slack's re-sends (which come within minutes). */
const RECENT_ENVELOPES = 10_000;
const ENVELOPE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
/** WebSocket's readyState values (the ws module is loaded only once Socket Mode connects). */
const OPEN = 1;
const CLOSED = 3;

// ws is loaded at the first connection: a server Slack reaches over HTTP never loads it.
let loadedWs: Promise<typeof WebSocket> | undefined;
const loadWs = (): Promise<typeof WebSocket> =>
  (loadedWs ??= import('ws').then(
    (m) => m.default,
    (err: unknown) => {
      loadedWs = undefined;
      throw err;
    },
  ));

interface Connection {
  ws: WebSocket;
  /** Slack has said hello on it: it is the current connection, or was. */
  hello: boolean;
  /** Envelopes received on it whose acknowledgement has not been sent. */
  pending: number;
  retiring: boolean;
  awaitingPongSince: number | null;
  timer?: NodeJS.Timeout;
}

/** The connection URL's host, for logs: never its query (the ticket). */
const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
};

/**
 * Slack's connection URLs are wss://. A ws:// one would carry the ticket and every payload in
 * clear: accepted only from a Web API that is itself plain http: (a local stand-in, never Slack).
 */
export function socketUrlAllowed(url: string, slackApiUrl: string): boolean {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return false;
  }
  return protocol === 'wss:' || (protocol === 'ws:' && new URL(slackApiUrl).protocol === 'http:');
}

export function createSocketMode(o: SocketModeOptions) {
  const { log, metrics } = o;
  const backoff = o.backoffMs ?? { min: 1000, max: 30_000 };
  const pingMs = o.pingIntervalMs ?? 10_000;
  let current: Connection | null = null;
  let opening: Connection | null = null;
  let openingUrl = false;
  const retiring = new Set<Connection>();
  let stopped = false;
  let everUp = false;
  let downSince: number | null = Date.now();
  let failures = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let connectsAfterFirst = 0;
  const recent = new Map<string, Promise<unknown>>();
  metrics.set('slack_socket_connected', 0);

  /** apps.connections.open: a fresh single-use URL, or why not (logged here; the caller backs off). */
  const openUrl = async (): Promise<{ url: string } | { retryAfterMs: number }> => {
    let res: Response;
    let body: { ok?: boolean; url?: unknown; error?: string };
    try {
      res = await fetch(`${o.slackApiUrl}apps.connections.open`, {
        method: 'POST',
        headers: { authorization: `Bearer ${o.appToken}`, 'content-type': 'application/x-www-form-urlencoded' },
        signal: AbortSignal.timeout(OPEN_TIMEOUT_MS),
      });
      body = (await res.json()) as typeof body;
    } catch (err) {
      log.warn('socket_open_failed', { reason: `Slack could not be asked for a connection: ${describe(err)}` });
      return { retryAfterMs: 0 };
    }
    if (res.status === 429) {
      const seconds = Number(res.headers.get('retry-after'));
      log.warn('socket_open_failed', { reason: 'rate limited by Slack', retry_after_s: seconds });
      return { retryAfterMs: Number.isFinite(seconds) ? seconds * 1000 : 0 };
    }
    if (!body.ok || typeof body.url !== 'string') {
      const rejected = body.error !== undefined && TOKEN_REJECTED.has(body.error);
      log[rejected ? 'error' : 'warn']('socket_open_failed', {
        reason: body.error ?? 'no url in the answer',
        fix: rejected ? 'SLACK_APP_TOKEN is wrong or revoked: an app-level token (xapp-…) with connections:write, from Basic Information → App-Level Tokens' : undefined,
      });
      return { retryAfterMs: rejected ? backoff.max : 0 };
    }
    if (!socketUrlAllowed(body.url, o.slackApiUrl)) {
      const protocol = hostOf(body.url) === '?' ? 'malformed' : new URL(body.url).protocol;
      log.error('socket_open_failed', { reason: `apps.connections.open gave a ${protocol} URL, not wss://: refused`, host: hostOf(body.url) });
      return { retryAfterMs: backoff.max };
    }
    return { url: body.url };
  };

  const scheduleReconnect = (atLeastMs = 0): void => {
    if (stopped || reconnectTimer || opening || openingUrl) return;
    const wait = Math.max(atLeastMs, Math.min(backoff.max, backoff.min * 2 ** failures) * (0.5 + Math.random() / 2));
    failures++;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      void connect();
    }, wait);
    reconnectTimer.unref();
  };

  const send = (conn: Connection, message: unknown): boolean => {
    // An acknowledgement goes back on the connection the envelope came on, else on the current one.
    for (const c of [conn, current]) {
      if (c && c.ws.readyState === OPEN) {
        c.ws.send(JSON.stringify(message));
        return true;
      }
    }
    return false;
  };

  const ack = (conn: Connection, id: string, payload: unknown): void => {
    if (!send(conn, payload === undefined ? { envelope_id: id } : { envelope_id: id, payload })) log.warn('socket_ack_lost', { envelope_id: id });
  };

  /** Closes a connection once its envelopes are acknowledged (or after a grace period). */
  const retire = (conn: Connection): void => {
    conn.retiring = true;
    retiring.add(conn);
    if (conn.pending === 0) conn.ws.close(1000);
    else setTimeout(() => conn.ws.readyState === OPEN && conn.ws.close(1000), RETIRE_GRACE_MS).unref();
  };

  const onEnvelope = (conn: Connection, message: Record<string, unknown>, type: string): void => {
    const id = typeof message.envelope_id === 'string' && ENVELOPE_ID.test(message.envelope_id) ? message.envelope_id : null;
    if (!id) {
      log.warn('socket_message_refused', { reason: 'an envelope without a valid envelope_id', type: type.slice(0, 40) });
      return;
    }
    if (stopped) {
      // Shutting down: not acknowledged, so Slack delivers it again to a connection that will.
      log.info('socket_envelope_declined', { envelope_id: id, reason: 'shutting down' });
      return;
    }
    const payload = object(message.payload);
    if (!(ENVELOPE_TYPES as readonly string[]).includes(type) || !payload) {
      log.warn('socket_message_refused', { envelope_id: id, reason: payload ? `unknown envelope type ${JSON.stringify(type.slice(0, 40))}` : 'the payload is not an object' });
      ack(conn, id, undefined); // nothing to do with it, and nothing a re-send would change
      return;
    }
    const retryAttempt = typeof message.retry_attempt === 'number' ? message.retry_attempt : 0;
    const earlier = recent.get(id);
    if (earlier) log.info('socket_envelope_resent', { envelope_id: id, retry_attempt: retryAttempt });
    const work = earlier ?? o.handle({ id, type: type as EnvelopeType, payload, retryAttempt });
    if (!earlier) {
      recent.set(id, work);
      if (recent.size > RECENT_ENVELOPES) recent.delete(recent.keys().next().value!);
    }
    conn.pending++;
    work.then(
      (answer) => ack(conn, id, answer),
      () => {
        // The handler logged why; unacknowledged, Slack sends it again and it is acted on then.
        recent.delete(id);
      },
    ).finally(() => {
      conn.pending--;
      if (conn.retiring && conn.pending === 0 && conn.ws.readyState === OPEN) conn.ws.close(1000);
    });
  };

  const onMessage = (conn: Connection, data: WebSocket.RawData, isBinary: boolean): void => {
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).length;
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString();
    if (isBinary || size > MAX_MESSAGE_BYTES) {
      // Not read: but its envelope_id, if one can be found, is acknowledged so that it is not sent again.
      const id = /"envelope_id"\s*:\s*"([A-Za-z0-9_.:-]{1,128})"/.exec(text)?.[1];
      log.warn('socket_message_refused', { reason: isBinary ? 'a binary message' : `a message of ${size} bytes, over ${MAX_MESSAGE_BYTES}`, envelope_id: id });
      if (id) ack(conn, id, undefined);
      return;
    }
    let message: Record<string, unknown> | null;
    try {
      message = object(JSON.parse(text));
    } catch {
      message = null;
    }
    if (!message) {
      log.warn('socket_message_refused', { reason: 'not a JSON object' });
      return;
    }
    const type = typeof message.type === 'string' ? message.type : '';
    if (type === 'hello') onHello(conn, message);
    else if (type === 'disconnect') onDisconnect(conn, String(message.reason ?? ''));
    else onEnvelope(conn, message, type);
  };

  const onHello = (conn: Connection, message: Record<string, unknown>): void => {
    if (conn.hello) return;
    conn.hello = true;
    if (opening === conn) opening = null;
    const previous = current;
    current = conn;
    failures = 0;
    downSince = null;
    everUp = true;
    metrics.set('slack_socket_connected', 1);
    log.info('socket_connected', { num_connections: message.num_connections, host: hostOf(conn.ws.url) });
    if (previous && previous !== conn) retire(previous);
  };

  const onDisconnect = (conn: Connection, reason: string): void => {
    if (reason === 'link_disabled') {
      log.error('socket_disconnect', { reason, fix: "Socket Mode was turned off for this app in Slack: turn it on again (Settings → Socket Mode), or remove SLACK_APP_TOKEN and use the HTTP request URLs" });
      conn.ws.close(1000);
      return;
    }
    // refresh_requested, warning (and anything new): a new connection first, then this one closed.
    log.info('socket_disconnect', { reason: reason.slice(0, 40) });
    if (conn === current && !opening && !openingUrl) void connect();
  };

  const onClose = (conn: Connection, code: number): void => {
    clearInterval(conn.timer);
    retiring.delete(conn);
    if (opening === conn) opening = null;
    if (conn !== current) {
      if (!conn.hello && !stopped) scheduleReconnect();
      return;
    }
    current = null;
    downSince = Date.now();
    metrics.set('slack_socket_connected', 0);
    log[stopped ? 'info' : 'warn']('socket_closed', { code });
    if (!stopped && !opening && !openingUrl) scheduleReconnect();
  };

  /** Pings Slack; a connection that has not answered the last ping within the interval is dropped. */
  const keepAlive = (conn: Connection): void => {
    conn.timer = setInterval(() => {
      if (conn.awaitingPongSince !== null && Date.now() - conn.awaitingPongSince >= pingMs) {
        log.warn('socket_unresponsive', { waited_ms: Date.now() - conn.awaitingPongSince });
        conn.ws.terminate();
        return;
      }
      conn.awaitingPongSince ??= Date.now();
      conn.ws.ping();
    }, pingMs);
    conn.timer.unref();
  };

  const connect = async (): Promise<void> => {
    if (stopped || opening || openingUrl) return;
    if (everUp) {
      connectsAfterFirst++;
      metrics.inc('slack_socket_reconnects_total');
    }
    openingUrl = true;
    const got = await openUrl();
    const WebSocketClient = 'url' in got ? await loadWs().catch((err: unknown) => log.error('socket_error', { error: describe(err) })) : undefined;
    openingUrl = false;
    if (stopped) return;
    if (!('url' in got) || !WebSocketClient) {
      scheduleReconnect('url' in got ? 0 : got.retryAfterMs);
      return;
    }
    const ws = new WebSocketClient(got.url, { maxPayload: MAX_FRAME_BYTES, handshakeTimeout: OPEN_TIMEOUT_MS, perMessageDeflate: false });
    const conn: Connection = { ws, hello: false, pending: 0, retiring: false, awaitingPongSince: null };
    opening = conn;
    ws.on('open', () => keepAlive(conn));
    ws.on('message', (data, isBinary) => onMessage(conn, data, isBinary));
    ws.on('pong', () => (conn.awaitingPongSince = null));
    // The error's message names no URL (ws reports the host at most); the close that follows reconnects.
    ws.on('error', (err) => log.warn('socket_error', { error: describe(err), host: hostOf(got.url) }));
    ws.on('close', (code) => onClose(conn, code));
  };

  return {
    start(): void {
      void connect();
    },

    status(): SocketStatus {
      return { up: current !== null && current.ws.readyState === OPEN, everUp, downSince };
    },

    /** Connections opened after the first, since start (refreshes and reconnections). */
    get reconnects(): number {
      return connectsAfterFirst;
    },

    /**
     * Shutdown: no new envelope is taken (Slack sends them again elsewhere, or later), the ones
     * taken are acknowledged as their work ends, then every connection is closed cleanly.
     */
    async stop(deadlineMs: number): Promise<void> {
      stopped = true;
      clearTimeout(reconnectTimer);
      const all = [current, opening, ...retiring].filter((c): c is Connection => c !== null);
      const until = Date.now() + deadlineMs;
      while (all.some((c) => c.pending > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await Promise.all(
        all.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.ws.readyState === CLOSED) return resolve();
              c.ws.once('close', () => resolve());
              c.ws.close(1000);
              setTimeout(() => {
                c.ws.terminate();
                resolve();
              }, 1000).unref();
            }),
        ),
      );
    },
  };
}
