// `npm run demo` is README's first command: it must walk the whole story on a fresh clone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ROOT } from './support/server.ts';

for (const socket of [false, true]) test(`npm run demo -- --once${socket ? ' --socket' : ''} walks the whole story and exits 0`, async () => {
  const child = spawn('npm', ['run', '--silent', 'demo', '--', '--once', ...(socket ? ['--socket'] : [])], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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
  if (socket) assert.match(out, /slash commands arrive over that socket/);
});

test('npm run demo -- --host 0.0.0.0 --port P: the links name this machine\'s address and port, and open from it', async () => {
  const { freePort } = await import('./support/server.ts');
  const { networkInterfaces } = await import('node:os');
  const port = await freePort();
  const child = spawn('npm', ['run', '--silent', 'demo', '--', '--host', '0.0.0.0', '--port', String(port)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const deadline = Date.now() + 60_000;
    // The link is printed on the lines after "Your turn", possibly in a later chunk: wait for it.
    const linkAfterYourTurn = () =>
      out.includes('Your turn') ? new RegExp(`http://([0-9.]+):${port}/associate\\?nonce=[\\w-]+`).exec(out.slice(out.indexOf('Your turn'))) : null;
    while (!linkAfterYourTurn() && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    const link = linkAfterYourTurn();
    assert.ok(link, out);
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address ?? '127.0.0.1';
    assert.equal(link[1], external, 'the address another machine reaches');
    const page = await fetch(link[0]);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Link your Slack account\?/);
  } finally {
    process.kill(-child.pid!, 'SIGINT');
    await new Promise((resolve) => child.on('exit', resolve));
  }
});
