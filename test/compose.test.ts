// deploy/compose.yaml, checked without a YAML library: a reader for the plain subset of YAML the
// file keeps to (block mappings and lists, quoted or plain scalars, `|` blocks, comments), then the
// shape README's "Docker Compose" promises. test/container/compose.test.ts brings it up for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './support/server.ts';

type Yaml = string | Yaml[] | { [key: string]: Yaml };
type Line = { indent: number; text: string; no: number };

/** The subset of YAML that deploy/compose.yaml uses; anything else throws, naming the line. */
function parseYaml(source: string): Yaml {
  const raw = source.split('\n');
  const lines: Line[] = [];
  raw.forEach((text, i) => {
    if (/^\s*(#.*)?$/.test(text)) return;
    if (text.includes('\t')) throw new Error(`line ${i + 1}: a tab`);
    lines.push({ indent: text.length - text.trimStart().length, text: text.trim(), no: i });
  });
  let at = 0;
  const scalar = (text: string, no: number): string => {
    const value = text.replace(/\s+#.*$/, '');
    if (/^'.*'$/.test(value)) return value.slice(1, -1).replace(/''/g, "'");
    if (/^".*"$/.test(value)) return JSON.parse(value) as string;
    if (/^[[{&*!%@`]/.test(value)) throw new Error(`line ${no + 1}: flow collections, anchors and tags are not in the subset: ${text}`);
    return value;
  };
  /** A `|` block: the raw lines more indented than its key, up to the first line that is not. */
  const block = (keyIndent: number, no: number): string => {
    const body: string[] = [];
    let indent = -1;
    let i = no + 1;
    for (; i < raw.length; i++) {
      const text = raw[i]!;
      if (text.trim() === '') {
        body.push('');
        continue;
      }
      const own = text.length - text.trimStart().length;
      if (own <= keyIndent) break;
      if (indent < 0) indent = own;
      body.push(text.slice(indent));
    }
    while (at < lines.length && lines[at]!.no < i) at++;
    return `${body.join('\n').replace(/\n+$/, '')}\n`;
  };
  const value = (rest: string, indent: number, no: number): Yaml => {
    if (rest === '|') return block(indent, no);
    if (rest !== '') return scalar(rest, no);
    const next = lines[at];
    if (!next || next.indent < indent || (next.indent === indent && !next.text.startsWith('- '))) return '';
    return node(next.indent);
  };
  const node = (indent: number): Yaml => {
    const first = lines[at]!;
    if (first.text.startsWith('- ')) {
      const list: Yaml[] = [];
      while (at < lines.length && lines[at]!.indent === indent && lines[at]!.text.startsWith('- ')) {
        const line = lines[at]!;
        const item = line.text.slice(2).trim();
        if (/^[\w.-]+:(\s|$)/.test(item)) {
          // "- key: value" opens a mapping whose keys line up two columns in.
          lines[at] = { indent: indent + 2, text: item, no: line.no };
          list.push(node(indent + 2));
          continue;
        }
        at++;
        list.push(item === '|' ? block(indent, line.no) : scalar(item, line.no));
      }
      return list;
    }
    const map: { [key: string]: Yaml } = {};
    while (at < lines.length && lines[at]!.indent === indent) {
      const line = lines[at++]!;
      const m = /^([\w.-]+):(?:\s+(.*))?$/.exec(line.text);
      if (!m) throw new Error(`line ${line.no + 1}: expected "key: value": ${line.text}`);
      if (m[1]! in map) throw new Error(`line ${line.no + 1}: ${m[1]} twice`);
      map[m[1]!] = value((m[2] ?? '').trim(), indent, line.no);
    }
    if (at < lines.length && lines[at]!.indent > indent) throw new Error(`line ${lines[at]!.no + 1}: unexpected indentation`);
    return map;
  };
  const doc = node(0);
  if (at < lines.length) throw new Error(`line ${lines[at]!.no + 1}: unexpected indentation`);
  return doc;
}

const text = readFileSync(join(ROOT, 'deploy/compose.yaml'), 'utf8');
const compose = parseYaml(text) as any;
const { app, proxy } = compose.services;
/** `environment` as a mapping (the file uses the mapping form). */
const env = (service: any): Record<string, string> => service.environment ?? {};

test('the reader reads the subset it claims, and refuses the rest', () => {
  assert.deepEqual(parseYaml('a:\n  b: 1 # note\n  c:\n    - x\n    - "y z"\n  d: |\n    one\n      two\n  e: \'q\'\n'), {
    a: { b: '1', c: ['x', 'y z'], d: 'one\n  two\n', e: 'q' },
  });
  assert.throws(() => parseYaml('a: [1, 2]\n'), /flow collections/);
  assert.deepEqual(parseYaml('a:\n  - b: 1\n    c: 2\n  - d\n'), { a: [{ b: '1', c: '2' }, 'd'] });
  assert.throws(() => parseYaml('a: 1\n   b: 2\n'), /unexpected indentation/);
});

test('two services, and only the proxy publishes a port, on 127.0.0.1', () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ['app', 'proxy']);
  assert.equal(app.ports, undefined, 'the app publishes no port');
  assert.equal(app.network_mode, undefined);
  assert.ok(Array.isArray(proxy.ports) && proxy.ports.length === 1, 'the proxy publishes one port');
  for (const port of proxy.ports) assert.match(port, /^127\.0\.0\.1:(\$\{PROXY_PORT:-\d+\}|\d+):80$/, 'published on loopback only');
  assert.equal(app.image, 'account-binding', "the image README's docker build -t names");
});

test('both on one private network, whose range is TRUSTED_PROXIES, with the proxy secret', () => {
  assert.deepEqual(app.networks, ['private']);
  assert.deepEqual(proxy.networks, ['private']);
  const [range, ...more] = compose.networks.private.ipam.config;
  assert.equal(more.length, 0, 'one range');
  assert.equal(env(app).TRUSTED_PROXIES, range.subnet);
  assert.match(env(app).TRUSTED_PROXIES!, /^(10|172\.(1[6-9]|2\d|3[01])|192\.168)\.[\d.]+\/(2[0-9]|3[0-2])$/, 'a private range, no wider than /20');
  assert.equal(env(app).TRUSTED_PROXY_SECRET_FILE, '/run/secrets/trusted_proxy_secret');
  assert.ok(proxy.secrets.includes('trusted_proxy_secret'), 'the proxy reads the same secret');
  assert.match(env(app).PUBLIC_BASE_URL!, /^https:\/\//);
});

test('secrets are files, never values in the file', () => {
  for (const name of ['SLACK_SIGNING_SECRET', 'SLACK_BOT_TOKEN', 'TRUSTED_PROXY_SECRET', 'INTERNAL_APP_TOKEN', 'ADMIN_API_TOKEN', 'DATABASE_URL']) {
    assert.equal(env(app)[name], undefined, `${name} is not set as a value`);
  }
  for (const name of ['SLACK_SIGNING_SECRET', 'SLACK_BOT_TOKEN', 'TRUSTED_PROXY_SECRET']) {
    const path = env(app)[`${name}_FILE`];
    const secret = name.toLowerCase();
    assert.equal(path, `/run/secrets/${secret}`, `${name}_FILE`);
    assert.ok(app.secrets.includes(secret), `the app mounts ${secret}`);
  }
  for (const service of [app, proxy]) {
    for (const secret of service.secrets) assert.match(compose.secrets[secret]?.file ?? '', /^\.\/secrets\/\w+$/, `${secret} is declared as a file under ./secrets/`);
  }
  assert.doesNotMatch(text, /xox[bp]-|BEGIN [A-Z ]*PRIVATE KEY/, 'no token or key in the file');
});

test('the database is the named volume at /data', () => {
  assert.deepEqual(app.volumes, ['data:/data']);
  assert.ok('data' in compose.volumes);
});

test('the proxy runs the shipped nginx config, pointed at the app, with the files it includes', () => {
  const shipped = readFileSync(join(ROOT, 'deploy/nginx-sso-proxy.conf'), 'utf8');
  assert.deepEqual(proxy.volumes, ['./nginx-sso-proxy.conf:/etc/nginx/account-binding.conf.in:ro']);
  const script = proxy.command[2] as string;
  assert.deepEqual(proxy.command.slice(0, 2), ['sh', '-ec']);
  assert.ok(shipped.includes('server 127.0.0.1:3000;'));
  assert.match(script, /sed 's\/server 127\.0\.0\.1:3000;\/server app:3000;\/' \/etc\/nginx\/account-binding\.conf\.in > \/etc\/nginx\/conf\.d\/default\.conf/);
  for (const included of ['/etc/nginx/account-binding-proxy-secret.conf', '/etc/nginx/account-binding.htpasswd']) {
    assert.ok(shipped.includes(included), `the shipped config uses ${included}`);
    assert.ok(script.includes(`> ${included}`) || script.includes(` ${included}\n`), `the proxy writes ${included}`);
  }
  assert.match(script, /\$\$\(cat \/run\/secrets\/trusted_proxy_secret\)/, "the secret's line is written from the secret file ($$ is Compose's escaped $)");
  assert.match(script, /exec nginx -g 'daemon off;'\n$/);
});
