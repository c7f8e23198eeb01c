// The SQLite server's replay set is bounded: past 200,000 signed requests within five minutes its
// oldest claims are dropped early, and a replay of one of them would be accepted. That must not be
// silent: /metrics counts it, so an operator can alert on it (docs/security.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startApp } from './support/app.ts';

const series = (text: string, name: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no ${name} in /metrics`);
  return Number(line.split(' ')[1]);
};

test('claims dropped early from the replay set are counted on /metrics; the database has no connection errors', async () => {
  const app = await startApp();
  try {
    const scrape = async () => (await fetch(`${app.url}/metrics`)).text();
    assert.equal(series(await scrape(), 'slack_replay_claims_forgotten_early_total'), 0);
    assert.equal(series(await scrape(), 'database_connection_errors_total'), 0);
    const now = Date.now();
    const key = (i: number) => `v0=${i.toString(16).padStart(64, '0')}`;
    // Two full generations of 100,000, then one more: the oldest generation goes, all of it live.
    for (let i = 0; i <= 200_000; i++) assert.equal(await app.store.claimRequest(key(i), now + 300_000, now), true);
    assert.equal(series(await scrape(), 'slack_replay_claims_forgotten_early_total'), 100_000);
    assert.equal(await app.store.claimRequest(key(0), now + 300_000, now), true, 'what the counter warns of: a forgotten claim is taken as new');
    assert.equal(await app.store.claimRequest(key(150_000), now + 300_000, now), false, 'the newer generation is kept');
  } finally {
    await app.close();
  }
});
