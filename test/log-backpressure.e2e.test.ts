// A stuck log reader (a logging agent that stops reading the pipe) must not grow the server
// without bound, and a reader gone (EPIPE) must not crash it: a real child process logging through
// the server's logger into a pipe its parent does not read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { MAX_UNWRITTEN_LOG_BYTES } from '../src/lib/log.ts';
import { ROOT } from './support/server.ts';

const FLOOD = join(ROOT, 'test/support/log-flood.ts');
const nextReport = async (lines: AsyncIterator<string>) => JSON.parse((await lines.next()).value as string);

async function* linesOf(stream: NodeJS.ReadableStream): AsyncGenerator<string> {
  let buffered = '';
  for await (const chunk of stream) {
    const parts = (buffered + String(chunk)).split('\n');
    buffered = parts.pop()!;
    yield* parts;
  }
}

test('with stdout never read, 60 MB of log lines leave at most a few MB buffered; the rest is dropped, counted, then said once', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', FLOOD, '250000'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout.pause(); // the stuck reader: nothing is read until told
  const reports = linesOf(child.stderr)[Symbol.asyncIterator]();
  try {
    const stalled = await nextReport(reports);
    assert.equal(stalled.logged, 250_000);
    assert.ok(stalled.writableLength <= MAX_UNWRITTEN_LOG_BYTES + 2 * 1024 * 1024, `buffered ${stalled.writableLength} bytes`);
    assert.ok(stalled.dropped > 200_000, `dropped ${stalled.dropped}`);
    assert.ok(stalled.rss < 250 * 1024 * 1024, `rss ${stalled.rss}`);
    // The reader catches up: one line says how many were dropped.
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    child.stdout.resume();
    child.stdin.write('resume\n');
    const resumed = await nextReport(reports);
    assert.equal(resumed.dropped, stalled.dropped);
    const said = stdout.split('\n').filter((l) => l.includes('"log_lines_dropped"')).map((l) => JSON.parse(l));
    assert.equal(said.length, 1);
    assert.equal(said[0].count, stalled.dropped);
    assert.match(stdout, /"after_resume"/);
  } finally {
    child.kill();
  }
});

test('a log reader gone (EPIPE) does not crash: the process keeps running and exits as it means to', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', FLOOD, '50000'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader goes away
  const reports = linesOf(child.stderr)[Symbol.asyncIterator]();
  const done = await nextReport(reports);
  assert.equal(done.logged, 50_000);
  assert.equal(child.exitCode, null, 'still running');
  child.stdin.end();
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});
