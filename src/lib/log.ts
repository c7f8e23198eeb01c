// One JSON object per line on stdout. Secrets never reach a log line: fields whose names say they
// hold one are replaced before anything is written, whatever a caller passes.
export type Level = 'info' | 'warn' | 'error';

export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

const SECRET_FIELD = /nonce|token|secret|password|authorization|cookie|csrf|signature|(^|_)code$/i;

// Field names come from our code, a few dozen at most: each is tested against SECRET_FIELD once.
const secretByName = new Map<string, boolean>();
const isSecretField = (key: string): boolean => {
  let secret = secretByName.get(key);
  if (secret === undefined) {
    secret = SECRET_FIELD.test(key);
    if (secretByName.size < 1000) secretByName.set(key, secret);
  }
  return secret;
};

/** Past this much unwritten output, lines are dropped: a stuck log reader must not grow the server. */
export const MAX_UNWRITTEN_LOG_BYTES = 4 * 1024 * 1024;

export interface BatchedOutput {
  (line: string): void;
  /** Told how many lines were dropped each time some are (e.g. to count them in a metric). */
  onDropped: (count: number) => void;
  /** Lines dropped since start. */
  readonly dropped: number;
}

/**
 * stdout, with the lines of one event-loop turn joined into one write: under load a write per
 * line cost a fifth of a bound user's command. What is pending is written at exit; a SIGKILL can
 * lose at most the lines of the turn it interrupts. A reader that stops reading (a stuck logging
 * agent) leaves the output in memory: past `maxUnwritten` bytes lines are dropped and counted, and
 * once the reader catches up one line says how many. A reader gone (EPIPE) is not a crash: the
 * lines are dropped from then on.
 */
export function batchedStdout(stream: NodeJS.WritableStream & { writableLength: number } = process.stdout, maxUnwritten = MAX_UNWRITTEN_LOG_BYTES): BatchedOutput {
  let pending: string[] = [];
  let dropped = 0;
  let droppedUnsaid = 0;
  let broken = false;
  const drop = (count: number) => {
    dropped += count;
    droppedUnsaid += count;
    out.onDropped(count);
  };
  stream.on('error', () => {
    broken = true;
  });
  const flush = () => {
    if (!pending.length) return;
    const lines = pending;
    pending = [];
    if (broken || stream.writableLength > maxUnwritten) return drop(lines.length);
    if (droppedUnsaid) {
      lines.unshift(`${JSON.stringify({ time: new Date().toISOString(), level: 'warn', event: 'log_lines_dropped', count: droppedUnsaid, reason: 'the log reader was not reading' })}\n`);
      droppedUnsaid = 0;
    }
    stream.write(lines.join(''));
  };
  process.on('exit', flush);
  const out = ((line: string) => {
    if (!pending.length) setImmediate(flush);
    pending.push(line);
  }) as BatchedOutput;
  out.onDropped = () => undefined;
  Object.defineProperty(out, 'dropped', { get: () => dropped });
  return out;
}

/**
 * Date.now() as toISOString() would write it. Formatting a Date took 4% of a bound user's command
 * (callgrind: V8 formats it through snprintf); the part up to the second changes once a second.
 */
export function isoTime(clock: () => number = Date.now): () => string {
  let second = Number.NaN;
  let prefix = '';
  return () => {
    const now = clock();
    const s = Math.floor(now / 1000);
    if (s !== second) {
      second = s;
      prefix = new Date(s * 1000).toISOString().slice(0, -4); // "2026-11-29T23:15:07." without "000Z"
    }
    const ms = now - s * 1000;
    return `${prefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
  };
}

export function createLogger(write: (line: string) => void = batchedStdout()): Logger {
  const time = isoTime();
  const emit = (level: Level, event: string, fields: Record<string, unknown> = {}) => {
    const line: Record<string, unknown> = { time: time(), level, event };
    for (const key of Object.keys(fields)) {
      const value = fields[key];
      if (value !== undefined) line[key] = isSecretField(key) ? '[redacted]' : value;
    }
    write(`${JSON.stringify(line)}\n`);
  };
  return {
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
    error: (event, fields) => emit('error', event, fields),
  };
}

/** An error as one line for a log field: its name and message, never its stack. */
export function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
