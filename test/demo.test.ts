// `npm run demo` is README's first command: it must walk the whole story on a fresh clone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ROOT } from './support/server.ts';

test('npm run demo -- --once walks the whole story and exits 0', async () => {
  const child = spawn('npm', ['run', '--silent', 'demo', '--', '--once'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, out);
  for (const expected of [
    /To run `\/acct report` as yourself, link your account first/,
    /Link Slack user roadrunner \(U0DEMO01\) in workspace/,
    /Your Slack account is now linked to alice/,
    /I am now running `\/acct report q3` for you/,
    /Expense report: q3/,
    /You are linked to \*alice\*/,
    /Working on `\/acct slow q4`/,
    /You are not allowed to run `\/acct payroll`/,
    /no longer linked to \*alice\*/,
    /Demo complete\./,
  ]) {
    assert.match(out, expected);
  }
});
