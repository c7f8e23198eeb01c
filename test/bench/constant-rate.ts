// An open-loop load at a constant rate, as Slack sends at its real rates: request i is due at
// start + i / rate whatever became of the ones before, and its latency runs from that due time to
// its answer. A server (or this process) that falls behind makes every later request late, and
// that lateness is counted: no coordinated omission, where a closed loop (wrk's connections, each
// waiting for its answer before sending again) sends less while the server stalls and so never
// measures the stall.
import { Agent, request } from 'node:http';

export interface RateResult {
  sent: number;
  /** Answers that were not a success (HTTP status other than 200, no acknowledgement), and failures. */
  errors: number;
  p50: number;
  p99: number;
  max: number;
  /** How late this process itself sent (ms past the due time), p99 and worst: part of the latencies above. */
  sendLagP99: number;
  sendLagMax: number;
}

/** `send(i)` resolves true on success; it is started at its due time and never awaited before the next. */
export async function constantRate(send: (i: number) => Promise<boolean>, rate: number, seconds: number): Promise<RateResult> {
  const count = Math.round(rate * seconds);
  const latencies = new Float64Array(count);
  let errors = 0;
  const lags = new Float64Array(count);
  const pending: Promise<void>[] = [];
  const start = performance.now() + 20;
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    await until(due);
    const lag = performance.now() - due;
    lags[i] = lag;
    pending.push(
      send(i).then(
        (ok) => {
          latencies[i] = performance.now() - due;
          if (!ok) errors++;
        },
        () => {
          latencies[i] = performance.now() - due;
          errors++;
        },
      ),
    );
  }
  await Promise.all(pending);
  const sorted = latencies.sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const lagSorted = lags.sort();
  return { sent: count, errors, p50: at(0.5), p99: at(0.99), max: sorted.at(-1)!, sendLagP99: lagSorted[Math.ceil(0.99 * count) - 1]!, sendLagMax: lagSorted.at(-1)! };
}

/**
 * Resolves at `due` (a performance.now() time), give or take a few µs. A timer alone wakes up to a
 * millisecond late (its resolution is 1 ms), and that lateness would land in every latency
 * measured from the due time: the bare server's p99 at 200/s was 1.66 ms, most of it the timer's.
 * So the timer wakes a millisecond early, and the rest is waited out in turns of the event loop
 * (setImmediate): this process keeps reading answers (and playing Slack's socket) meanwhile, at the
 * price of one busy core for up to 1 ms before each send. Its remaining lateness is still in the
 * latencies, and reported apart.
 */
async function until(due: number): Promise<void> {
  const early = due - performance.now() - 1;
  if (early > 0) await new Promise((r) => setTimeout(r, early));
  while (performance.now() < due) await new Promise((r) => setImmediate(r));
}

/** HTTP requests over keep-alive connections (as many as are in flight at once, up to 100). */
export function httpSender(url: string, requests: Array<{ method: string; path: string; headers: Record<string, string>; body: string }>) {
  const agent = new Agent({ keepAlive: true, maxSockets: 100 });
  const { hostname, port } = new URL(url);
  const send = (i: number) =>
    new Promise<boolean>((resolve, reject) => {
      const r = requests[i]!;
      const req = request({ agent, hostname, port, method: r.method, path: r.path, headers: r.headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(r.body);
    });
  return { send, close: () => agent.destroy() };
}
