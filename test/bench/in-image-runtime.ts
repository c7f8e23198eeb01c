// `npm run bench:image -- NAME`: `npm run bench` in the image's runtime. The image's `node` and its
// `node_modules` (better-sqlite3 built for that Node) are copied out of the built image NAME
// (`docker build -t NAME .` first) into a temporary copy of this checkout; the dev dependencies the
// bench itself needs (wrk's driver, the stand-ins, Bolt) are linked in from this checkout's. Then
// that Node runs test/bench/bench.ts there, with this process's environment (BENCH_ONLY and the
// others), so every server it starts runs as the image's CMD does: Node's own type stripping and
// `--max-semi-space-size=1`. The copy is removed afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { docker } from '../container/docker.ts';
import { ROOT } from '../support/server.ts';

const image = process.argv[2];
if (!image) {
  console.error('usage: npm run bench:image -- IMAGE (built first: docker build -t IMAGE .)');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'acct-bench-image-'));
const container = docker('create', image);
let status = 1;
try {
  for (const part of ['package.json', 'src', 'test']) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  docker('cp', `${container}:/usr/local/bin/node`, join(dir, 'node'));
  docker('cp', `${container}:/app/node_modules`, join(dir, 'node_modules'));
  // What the bench needs beyond the image's production dependencies, from this checkout (plain
  // JavaScript; anything the image has, native addons included, stays the image's).
  const ours = join(ROOT, 'node_modules');
  const names = readdirSync(ours).flatMap((n) => (n.startsWith('@') ? readdirSync(join(ours, n)).map((m) => `${n}/${m}`) : [n]));
  for (const name of names) {
    const target = join(dir, 'node_modules', name);
    if (existsSync(target) || name.startsWith('.')) continue;
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(ours, name), target);
  }
  const node = join(dir, 'node');
  console.log(`the image's runtime: ${image}, ${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()}`);
  status = spawnSync(node, ['test/bench/bench.ts'], { cwd: dir, stdio: 'inherit', env: process.env }).status ?? 1;
} finally {
  docker('rm', container);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
