// The reference's outcome table (docs/reference.md) is the vocabulary in src/outcomes.ts, name for
// name: operators alert on these.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUTCOMES } from '../src/outcomes.ts';
import { ROOT } from './support/server.ts';

test("docs/reference.md's outcome table lists exactly the names of src/outcomes.ts, per route", () => {
  const readme = readFileSync(join(ROOT, 'docs/reference.md'), 'utf8');
  const table = /<!-- outcomes:start -->([\s\S]*?)<!-- outcomes:end -->/.exec(readme)?.[1];
  assert.ok(table, 'docs/reference.md has the outcomes table');
  const rows = table.split('\n').filter((l) => l.startsWith('| `'));
  const documented = rows.map((row) => [...row.split('|')[2]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!));
  const common = ['refused', 'error'];
  const inCode = Object.values(OUTCOMES).map((list) => list.filter((o) => !common.includes(o)));
  assert.deepEqual(documented, inCode);
  for (const list of Object.values(OUTCOMES)) for (const c of common) assert.ok((list as readonly string[]).includes(c));
  assert.match(readme, /`refused`.*`error`/s);
});
