// The shape of src/: no import cycle (type-only imports included), and no import that climbs from a
// lower layer to a higher one. The folder says the layer (docs/development.md draws it), lowest
// first: the vocabulary and small helpers → the adapters (storage, Slack's formats and API, the
// SSO proxy's identity, HTTP plumbing, configuration) → what the adapters serve (the runners, the
// pages, the self-check) → the domain → the routes and transports → assembly (app, main, CLI, demo).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './support/server.ts';

const SRC = join(ROOT, 'src');

const LAYERS: Array<[number, RegExp]> = [
  [5, /^(app|main|admin)\.ts$|^(demo|cli)\//],
  [4, /^routes\//],
  [3, /^domain\//],
  [2, /^runners\/|^(pages|doctor)\.ts$/],
  [1, /^(store|slack|sso|config)\/|^(http|config|refusals)\.ts$/],
  [0, /^lib\/|^(model|outcomes)\.ts$/],
];
/** Every file must be in a layer: a new folder is placed in the rule on purpose, not by default. */
const layerOf = (file: string): number => {
  const found = LAYERS.find(([, pattern]) => pattern.test(file));
  assert.ok(found, `${file} is in no layer: add its folder to LAYERS (and to docs/development.md)`);
  return found[0];
};


function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

/** Every relative import of a file, as a path under src/ (static, dynamic and type-only alike). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specifiers.map((s) => relative(SRC, resolve(dirname(join(SRC, file)), s)));
}

const graph = new Map(sources(SRC).map((f) => [f, importsOf(f)]));

test('src/ has no import cycle', () => {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
      return;
    }
    state.set(file, 'visiting');
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});

test('no import climbs from a lower layer to a higher one', () => {
  const climbs: string[] = [];
  for (const [file, imports] of graph) {
    for (const target of imports) {
      assert.ok(graph.has(target), `${file} imports ${target}, which is not a source file`);
      if (layerOf(target) > layerOf(file)) climbs.push(`${file} (layer ${layerOf(file)}) → ${target} (layer ${layerOf(target)})`);
    }
  }
  assert.deepEqual(climbs, []);
});

test('the layer check sees the real graph (it would catch a climb)', () => {
  assert.ok(graph.size > 20, 'found the sources');
  assert.ok(graph.get('routes/commands.ts')!.includes('http.ts'), 'a route imports the plumbing');
  assert.ok(layerOf('routes/commands.ts') > layerOf('domain/linking.ts') && layerOf('domain/linking.ts') > layerOf('http.ts'));
  for (const file of graph.keys()) layerOf(file);
});
