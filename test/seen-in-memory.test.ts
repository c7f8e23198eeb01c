// The SQLite store's replay set (src/store/seen-in-memory.ts): a repeat is refused for as long as
// its window lasts, whatever else was claimed meanwhile, up to two full generations; beyond that
// the oldest are forgotten and counted; an expired key can be claimed again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createSeenSet } from '../src/store/seen-in-memory.ts';

const NOW = 1_800_000_000_000;
const WINDOW = 300_000;
const keys = (n: number) => Array.from({ length: n }, () => `v0=${randomBytes(32).toString('hex')}`);

test('a key is claimed once within its window, and again once it has expired', () => {
  const set = createSeenSet(10);
  assert.equal(set.claim('v0=abc', NOW + WINDOW, NOW), true);
  assert.equal(set.claim('v0=abc', NOW + WINDOW, NOW + 1000), false);
  assert.equal(set.claim('v0=abd', NOW + WINDOW, NOW + 1000), true, 'another key is its own');
  // Expiries are kept in whole seconds, rounded up: still refused in the last part of a second.
  assert.equal(set.claim('v0=abc', NOW + WINDOW, NOW + WINDOW - 1), false);
  assert.equal(set.claim('v0=abc', NOW + 2 * WINDOW, NOW + WINDOW), true, 'expired, so claimed afresh');
  assert.equal(set.claim('v0=abc', NOW + 2 * WINDOW, NOW + WINDOW + 1), false, 'and refused again within its new window');
  assert.equal(set.forgottenEarly, 0);
});

test('two full generations are remembered: every repeat refused, nothing forgotten', () => {
  const capacity = 1000;
  const set = createSeenSet(capacity);
  const all = keys(2 * capacity);
  for (const k of all) assert.equal(set.claim(k, NOW + WINDOW, NOW), true);
  for (const k of all) assert.equal(set.claim(k, NOW + WINDOW, NOW + 1), false, 'a repeat within the window');
  assert.equal(set.forgottenEarly, 0);
});

test('beyond two generations the oldest is dropped early, counted, and its keys can be claimed again', () => {
  const capacity = 1000;
  const set = createSeenSet(capacity);
  const [oldest, middle, newest] = [keys(capacity), keys(capacity), keys(1)];
  for (const k of [...oldest, ...middle, ...newest]) assert.equal(set.claim(k, NOW + WINDOW, NOW), true);
  assert.equal(set.forgottenEarly, capacity, 'the oldest generation, all still within its window');
  for (const k of [...middle, ...newest]) assert.equal(set.claim(k, NOW + WINDOW, NOW + 1), false, 'the two newer generations are kept');
  assert.equal(set.claim(oldest[0]!, NOW + WINDOW, NOW + 1), true, 'a forgotten key is taken as new: why an early drop is counted');
});

test('a generation whose keys have all expired goes without being counted as forgotten', () => {
  const capacity = 100;
  const set = createSeenSet(capacity);
  for (const k of keys(2 * capacity)) set.claim(k, NOW + WINDOW, NOW);
  const later = NOW + WINDOW + 1000;
  const fresh = keys(2 * capacity);
  for (const k of fresh) assert.equal(set.claim(k, later + WINDOW, later), true);
  assert.equal(set.forgottenEarly, 0, 'everything dropped had expired');
  assert.equal(set.claim(fresh.at(-1)!, later + WINDOW, later + 1), false);
});

test('keys that share a slot are told apart: a small table, filled to its limit, many times over', () => {
  // 3 keys in a table of 4 slots: most keys probe past another's slot.
  const set = createSeenSet(3);
  for (let round = 0; round < 200; round++) {
    const batch = keys(3);
    for (const k of batch) assert.equal(set.claim(k, NOW + WINDOW, NOW), true, `round ${round}: a new key`);
    for (const k of batch) assert.equal(set.claim(k, NOW + WINDOW, NOW), false, `round ${round}: its repeat`);
  }
});

test('a capacity below one key, or an expiry that is not a time in whole ms, is refused: never a probe without end, never a claim stored as empty', () => {
  for (const capacity of [0, -1, 0.5, Number.NaN]) assert.throws(() => createSeenSet(capacity), RangeError, String(capacity));
  const set = createSeenSet(10);
  for (const expiresAt of [Number.POSITIVE_INFINITY, Number.NaN, -1, 1.5, 2 ** 32 * 1000]) {
    assert.throws(() => set.claim('v0=abc', expiresAt, NOW), TypeError, String(expiresAt));
  }
  assert.equal(set.claim('v0=abc', NOW + WINDOW, NOW), true, 'nothing was stored by the refusals');
  assert.equal(set.claim('v0=abc', NOW + WINDOW, NOW), false);
});
