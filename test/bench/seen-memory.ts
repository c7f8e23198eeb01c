// Memory per entry of the SQLite store's replay set (src/store/seen-in-memory.ts): V8's heap and
// ArrayBuffers in use
// after claiming 200,000 Slack signatures (two full generations, the most it keeps) against the
// heap before, after full collections; and the time per claim. Each checkout in a process of its
// own: `npx tsx test/bench/seen-memory.ts [DIR…]` (DIR: another checkout, e.g. the commit before,
// to compare in the same run; default: this one).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ENTRIES = 200_000;

async function measure(dir: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const { createSeenSet } = (await import(pathToFileURL(resolve(dir, 'src/store/seen-in-memory.ts')).href)) as typeof import('../../src/store/seen-in-memory.ts');
  // The signatures as the server gets them: 'v0=' and 64 hex digits, each its own flat string (as
  // Node's HTTP parser makes each header value), made from these bytes in the loop.
  const signatures = Array.from({ length: ENTRIES }, () => Buffer.from(`v0=${randomBytes(32).toString('hex')}`, 'latin1'));
  const now = Date.now();
  const heap = () => {
    gc();
    gc();
    // The V8 heap and the memory behind ArrayBuffers (a typed array's contents live outside the heap).
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    return heapUsed + arrayBuffers;
  };
  // Warm-up: the claim code compiled, Buffer#toString's paths taken.
  const warm = createSeenSet(1000);
  for (let i = 0; i < 5000; i++) warm.claim(signatures[i]!.toString('latin1'), now + 300_000, now);
  const before = heap();
  const set = createSeenSet();
  const started = performance.now();
  for (const [i, signature] of signatures.entries()) {
    // Expiries in whole seconds, as Slack's timestamps are.
    if (!set.claim(signature.toString('latin1'), now - (now % 1000) + 300_000 + (i % 1000) * 1000, now)) throw new Error('a fresh key refused');
  }
  const us = ((performance.now() - started) * 1000) / ENTRIES;
  const perEntry = (heap() - before) / ENTRIES;
  // The set is alive until measured, and still refuses a repeat.
  if (set.claim(signatures[0]!.toString('latin1'), now + 300_000, now + 1)) throw new Error('a repeat accepted');
  console.log(`${dir}: ${perEntry.toFixed(1)} bytes per entry after ${ENTRIES.toLocaleString('en')} claims, ${us.toFixed(2)} µs per claim`);
}

if (process.env.SEEN_MEMORY_DIR) await measure(process.env.SEEN_MEMORY_DIR);
else {
  for (const dir of process.argv.length > 2 ? process.argv.slice(2) : ['.']) {
    const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', process.argv[1]!], { env: { ...process.env, SEEN_MEMORY_DIR: dir }, stdio: 'inherit' });
    if (run.status !== 0) process.exit(run.status ?? 1);
  }
}
