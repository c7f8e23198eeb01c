// Where a bound user's slash command spends its time inside this project: each step of the path
// (verify → parse → look up → reply → log) timed alone, in this process, on the benchmark's
// database. What the whole server costs beyond their sum is HTTP plumbing and the kernel.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import Database from 'better-sqlite3';
import pino from 'pino';
import { json, parseForm } from '../../src/http.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createMetrics } from '../../src/lib/metrics.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { createSeenSet } from '../../src/store/seen-in-memory.ts';
import * as messages from '../../src/slack/messages.ts';
import { parseSlashCommand } from '../../src/slack/command-payload.ts';
import { verifySlackRequest } from '../../src/slack/signature.ts';

// better-sqlite3 12 on Node 24 aborts the process if the garbage collector frees one of its
// objects (see src/store.ts), so what this module opens stays referenced until the bench exits.
export const keepAlive: unknown[] = [];

export interface Step {
  label: string;
  us: number;
  /** Not a step of its own (a part of the one before it, or a comparison): shown indented, not summed. */
  part?: boolean;
}

/** Median µs per call of `f` over five batches, after a warm-up. */
function time(f: () => unknown, calls = 100_000): number {
  for (let i = 0; i < 20_000; i++) f();
  const batches: number[] = [];
  for (let b = 0; b < 5; b++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) f();
    batches.push(Number(process.hrtime.bigint() - started) / calls / 1000);
  }
  return batches.sort((a, b) => a - b)[2]!;
}

export async function measureSteps(databasePath: string, secret: string, request: { headers: Record<string, string>; body: string }): Promise<Step[]> {
  const body = Buffer.from(request.body);
  const timestamp = request.headers['x-slack-request-timestamp']!;
  const signature = request.headers['x-slack-signature']!;
  const store = openSqliteStore(databasePath, { mustExist: true });
  const form = parseForm(body);
  const parsed = parseSlashCommand(form);
  if (!parsed.ok) throw new Error(parsed.reason);
  const cmd = parsed.value;
  const binding = await store.getBinding(cmd.user);
  if (!binding) throw new Error(`${cmd.user.userId} is not bound in ${databasePath}`);
  let written = 0;
  const log = createLogger((line) => (written += line.length));
  // The ecosystem's standard fast JSON logger, with the same fields, ISO times and redaction of the
  // same names, writing to the same counter: our line against it.
  const pinoLog = pino(
    { base: null, timestamp: pino.stdTimeFunctions.isoTime, redact: ['nonce', 'token', 'secret', 'password', 'authorization', 'cookie', 'csrf', 'signature', 'code'] },
    { write: (line: string) => (written += line.length) },
  );
  const metrics = createMetrics();
  // The same locks as the lookup (a WAL read transaction), without reading a row.
  const raw = new Database(databasePath, { readonly: true });
  const dataVersion = raw.prepare('PRAGMA data_version').pluck();
  keepAlive.push(store, raw, dataVersion);
  // Unique claims, as every request's signature is.
  let claims = 0;
  const seen = createSeenSet();
  const by = { actor: `slack:${cmd.user.userId}`, requestId: null, clientAddress: null };

  /** The fields of a bound user's request log line, as src/http.ts writes them (a fresh object each time, as there). */
  const requestLine = () => ({
    request_id: randomUUID(),
    method: 'POST',
    path: '/slack/commands',
    status: 200,
    duration_ms: 0.3,
    slack_team: cmd.user.teamId,
    slack_user: cmd.user.userId,
    internal_user: binding.internalUser,
    outcome: 'whoami',
  });

  const steps: Step[] = [
    {
      label: 'HMAC-SHA256 check alone (all the bare server does)',
      us: time(() => {
        const expected = Buffer.from(`v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')}`);
        return timingSafeEqual(expected, Buffer.from(signature));
      }),
    },
    {
      label: 'verifySlackRequest (the same, plus header format checks)',
      us: time(() => verifySlackRequest({ signingSecret: secret, timestamp, signature, rawBody: body, nowSeconds: Math.floor(Date.now() / 1000) })),
    },
    { label: 'parseForm (strict form decoding)', us: time(() => parseForm(body)) },
    { label: 'parseSlashCommand (field checks)', us: time(() => parseSlashCommand(form)) },
    {
      label: 'store.startCommand (SQLite, 10,000 bindings: the replay claim, the lookup; not awaited)',
      us: time(() => store.startCommand({ user: cmd.user, now: Date.now(), claim: { key: `${signature}${claims++}`, expiresAt: Date.now() + 300_000 }, link: null, by })),
    },
    { label: 'of which the replay claim (a 64-bit MAC into the in-memory set)', us: time(() => seen.claim(`${signature}${claims++}`, Date.now() + 300_000, Date.now())), part: true },
    { label: 'of which a read transaction alone', us: time(() => dataVersion.get()), part: true },
    { label: 'whoami reply (Block Kit, JSON)', us: time(() => json(200, messages.whoami(binding))) },
    {
      label: 'request log line (JSON, redaction)',
      us: time(() => log.info('http', requestLine())),
    },
    {
      label: 'the same line through pino (for comparison; not used)',
      us: time(() => pinoLog.info(requestLine(), 'http')),
      part: true,
    },
    { label: 'metrics counter', us: time(() => metrics.inc('slack_commands_total', { outcome: 'whoami' })) },
  ];
  raw.close();
  await store.close();
  if (!written) throw new Error('the logger wrote nothing');
  return steps;
}
