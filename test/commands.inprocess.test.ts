// Slash commands in-process: the subcommand precedence as a table (the pure choice, and the same
// table through the app over real HTTP: bound and unbound, code mode on and off), and the outcome
// every request ends in.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chooseSubcommand } from '../src/domain/slash-command.ts';
import { OUTCOMES, type Operation } from '../src/outcomes.ts';
import { hashNonce, newNonce } from '../src/domain/secrets.ts';
import { slashCommand } from './support/slack.ts';
import { startApp, type InProcessApp } from './support/app.ts';

test('chooseSubcommand: help first, confirm only in code mode and unbound, then link/whoami/unlink, else run', () => {
  const table: Array<[string, boolean, boolean, string]> = [
    // text, code mode, bound → kind
    ['', false, false, 'help'],
    ['help', true, true, 'help'],
    ['HELP me', false, true, 'help'],
    ['confirm 123456', true, false, 'confirm'],
    ['Confirm 123456', true, false, 'confirm'],
    ['confirm 123456', true, true, 'run'],
    ['confirm 123456', false, false, 'run'],
    ['link', false, false, 'link'],
    ['LINK', true, true, 'link'],
    ['whoami', false, true, 'whoami'],
    ['unlink', true, false, 'unlink'],
    ['unlink now', false, true, 'unlink'],
    ['report q3', false, true, 'run'],
    ['linkage', false, false, 'run'],
  ];
  for (const [text, codeMode, bound, kind] of table) {
    assert.equal(chooseSubcommand(text, { codeMode, bound }).kind, kind, `${JSON.stringify(text)} code=${codeMode} bound=${bound}`);
  }
  assert.deepEqual(chooseSubcommand('confirm 654321', { codeMode: true, bound: false }), { kind: 'confirm', code: '654321' });
  assert.deepEqual(chooseSubcommand('Report q3', { codeMode: false, bound: true }), { kind: 'run', word: 'Report' });
});

const apps: InProcessApp[] = [];
after(() => Promise.all(apps.map((a) => a.close())));

async function appWithBoundUser(codeMode: boolean): Promise<InProcessApp> {
  const app = await startApp({ LINK_VERIFICATION: codeMode ? 'code' : 'confirm', LINK_RATE_LIMIT_PER_MINUTE: '0' });
  apps.push(app);
  const nonceHash = hashNonce(newNonce())!;
  const user = { org: 'T0001', userId: 'UBOUND', teamId: 'T0001', enterpriseId: null, userName: 'b', teamDomain: 'acme' };
  const by = { actor: 'test', requestId: null, clientAddress: null };
  await app.store.createLink({ user, request: { command: '/acct', pendingText: null, channelId: null, responseUrl: null }, nonceHash, now: Date.now(), ttlMs: 60_000, perMinute: 0 }, by);
  await app.store.completeLink(nonceHash, 'bea', 'confirm', Date.now(), by);
  return app;
}

for (const codeMode of [false, true]) {
  test(`through the app, code mode ${codeMode ? 'on' : 'off'}: each subcommand's outcome, bound and unbound`, async () => {
    const app = await appWithBoundUser(codeMode);
    const table: Array<[string, boolean, string, RegExp]> = [
      ['help', false, 'help', /not linked/],
      ['', true, 'help', /linked to \*bea\*/],
      ['link', false, 'link_created', /Link your Slack user/],
      ['whoami', false, 'link_created', /not linked to an account yet/],
      ['unlink', false, 'link_created', /nothing to unlink/],
      ['report q3', false, 'link_created', /To run `\/acct report` as yourself/],
      ['confirm 123456', false, codeMode ? 'code_none' : 'link_created', codeMode ? /no link waiting/ : /To run `\/acct confirm`/],
      ['confirm', false, codeMode ? 'code_usage' : 'link_created', codeMode ? /six-digit code/ : /To run `\/acct confirm`/],
      ['whoami', true, 'whoami', /linked to bea/],
      ['link', true, 'already_linked', /already linked to bea/],
      ['report q3', true, 'command_ok', /^ran report q3 as bea$/],
      ['confirm 123456', true, 'command_ok', /^ran confirm 123456 as bea$/],
      ['unlink', true, 'unlinked', /Unlinked from bea/],
    ];
    for (const [text, bound, outcome, reply] of table) {
      const res = await slashCommand(app.url, { user: bound ? 'UBOUND' : 'UNEW', text });
      assert.equal(res.status, 200, text);
      assert.match(res.json.text, reply, `${text} (bound=${bound})`);
      const line = app.logs.find((l) => l.event === 'http' && l.request_id === res.headers['x-request-id']);
      assert.equal(line?.outcome, outcome, `${text} (bound=${bound})`);
    }
  });
}

test('every request logs one outcome from its route\'s vocabulary, and /metrics counts it', async () => {
  const app = await appWithBoundUser(false);
  await slashCommand(app.url, { user: 'UBOUND', text: 'whoami' });
  await slashCommand(app.url, { user: 'UBOUND', text: 'whoami', secret: 'wrong' });
  await fetch(`${app.url}/healthz`);
  await fetch(`${app.url}/associate?nonce=nope`, { headers: { 'x-forwarded-user': 'alice' } });
  const operations: Record<string, Operation> = { '/slack/commands': 'commands', '/associate': 'associate', '/healthz': 'health', '/metrics': 'metrics' };
  const lines = app.logs.filter((l) => l.event === 'http');
  assert.ok(lines.length >= 4);
  for (const line of lines) {
    const vocabulary: readonly string[] = OUTCOMES[operations[String(line.path)]!];
    assert.ok(vocabulary.includes(String(line.outcome)), `${line.path} logged outcome ${line.outcome}`);
  }
  assert.deepEqual(lines.map((l) => l.outcome), ['whoami', 'refused', 'ok', 'link_gone']);
  const metrics = app.metrics.render();
  assert.match(metrics, /^slack_commands_total\{outcome="whoami"\} 1$/m);
  assert.match(metrics, /^slack_commands_total\{outcome="refused"\} 1$/m);
  assert.match(metrics, /^associate_requests_total\{outcome="link_gone"\} 1$/m);
});
