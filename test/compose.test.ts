// deploy/compose.yaml, checked without a YAML library (test/support/yaml.ts reads the plain subset of
// YAML the deploy files keep to, and is tested here), then the shape README's "Docker Compose"
// promises. test/container/compose.test.ts brings it up for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { ROOT } from './support/server.ts';
import { readYaml } from './support/yaml.ts';

const text = readFileSync(join(ROOT, 'deploy/compose.yaml'), 'utf8');
const compose = readYaml(text) as any;
const { app, proxy } = compose.services;
/** `environment` as a mapping (the file uses the mapping form). */
const env = (service: any): Record<string, string> => service.environment ?? {};

test('the YAML reader reads what it claims and refuses what it does not', () => {
  assert.deepEqual(readYaml('a: 1 # note\nb:\n  - x\n  - k: "v # not a comment"\n    n: \'it\'\'s\'\nc:\nd:\n  - |\n    one # kept\n      two\n  - y\n'), {
    a: '1',
    b: ['x', { k: 'v # not a comment', n: "it's" }],
    c: null,
    d: ['one # kept\n  two\n', 'y'],
  });
  assert.deepEqual(readYaml('a:\n  b: 1 # note\n  c:\n    - x\n    - "y z"\n  d: |\n    one\n      two\n  e: \'q\'\n'), {
    a: { b: '1', c: ['x', 'y z'], d: 'one\n  two\n', e: 'q' },
  });
  assert.deepEqual(readYaml('a:\n  - b: 1\n    c: 2\n  - d\n'), { a: [{ b: '1', c: '2' }, 'd'] });
  assert.throws(() => readYaml('a: {b: 1}'), /outside the YAML/);
  assert.throws(() => readYaml('a: [1, 2]\n'), /outside the YAML/);
  assert.throws(() => readYaml('a: &x 1'), /outside the YAML/);
  assert.throws(() => readYaml('a:\n    b: 1\n  c: 2'), /indentation|not read/);
  assert.throws(() => readYaml('a: 1\n   b: 2\n'), /indentation|not read/);
  assert.throws(() => readYaml('a: 1\na: 2'), /twice/);
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

test('production files prove links by email, never confirm; the README trial sets confirm itself, saying why', () => {
  // email, not code: the shipped nginx config already passes the SSO's email (X-Forwarded-Email),
  // so a deployer needs nothing more; code stays the choice for an SSO that passes no email.
  assert.equal(env(app).LINK_VERIFICATION, 'email', 'deploy/compose.yaml');
  const replicas = readYaml(readFileSync(join(ROOT, 'deploy/compose.replicas.yaml'), 'utf8')) as any;
  for (const name of ['app1', 'app2']) assert.equal(env(replicas.services[name]).LINK_VERIFICATION, 'email', `deploy/compose.replicas.yaml ${name}`);
  const example = parseEnv(readFileSync(join(ROOT, 'deploy/account-binding.env.example'), 'utf8'));
  assert.equal(example.LINK_VERIFICATION, 'email', "deploy/account-binding.env.example (docker run's --env-file)");
  assert.match(readFileSync(join(ROOT, 'deploy/nginx-sso-proxy.conf'), 'utf8'), /proxy_set_header X-Forwarded-Email \$remote_user@/, 'the shipped proxy passes the email the check needs');
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.match(readme, /\n# A trial: links open on this machine only, so the confirmation page alone proves a link\.\nLINK_VERIFICATION=confirm\nEOF\n/, "the trial's settings say confirm, and why");
  assert.match(readme, /without its `HOST` and `LINK_VERIFICATION=confirm` lines/, "production's docker run drops the trial's confirm");
});
