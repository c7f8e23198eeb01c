// A child process that logs through the server's own logger as fast as it can, for a parent that
// decides whether to read its stdout. It reports on stderr, one JSON line per report:
// {"logged", "dropped", "writableLength", "rss"}; on "resume\n" from stdin (the parent now reads) it
// waits for the backlog to drain, logs one more line, waits for it to be written and reports again.
import { batchedStdout, createLogger } from '../../src/lib/log.ts';

const out = batchedStdout();
const log = createLogger(out);
const lines = Number(process.argv[2] ?? 100_000);
const report = (logged: number) =>
  process.stderr.write(`${JSON.stringify({ logged, dropped: out.dropped, writableLength: process.stdout.writableLength, rss: process.memoryUsage().rss })}\n`);

let logged = 0;
const filler = 'x'.repeat(200);
const burst = () => {
  for (let i = 0; i < 1000 && logged < lines; i++, logged++) log.info('http', { n: logged, filler });
  if (logged < lines) setImmediate(burst);
  else setImmediate(() => setImmediate(() => report(logged)));
};
burst();
process.stdin.on('data', (d) => {
  if (!String(d).includes('resume')) return;
  // Once the reader has caught up, the next line written says how many were dropped before it.
  const drained = (then: () => void) => (process.stdout.writableLength ? setTimeout(() => drained(then), 20) : then());
  drained(() => {
    log.info('after_resume', {});
    setTimeout(() => drained(() => report(logged)), 20);
  });
});
