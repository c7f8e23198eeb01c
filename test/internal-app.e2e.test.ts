// Commands of bound users against a real local internal application, inside Slack's 3 seconds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, CONFIRM_ONLY, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { linkFrom, slashCommand } from './support/slack.ts';
import { confirm, formFields, linkAs, openLink } from './support/browser.ts';
import { request } from './support/http-client.ts';
import { LIMITS, violations } from '../src/slack/block-kit-limits.ts';
import { APP_TOKEN, startInternalApp, startResponseCatcher, type ResponseCatcher, type TestHttpServer } from './support/internal-app.ts';

let slack: SlackStub;
let app: TestHttpServer;
let hooks: ResponseCatcher;
let server: RunningServer;

before(async () => {
  slack = await startSlackStub();
  app = await startInternalApp();
  hooks = await startResponseCatcher();
  server = await startServer({
    slackApiUrl: slack.url,
    env: {
      ...CONFIRM_ONLY,
      INTERNAL_APP_URL: `${app.url}slack/command`,
      INTERNAL_APP_TOKEN: APP_TOKEN,
      INTERNAL_APP_TIMEOUT_MS: '4000',
      SLACK_RESPONSE_URL_ALLOW: hooks.url,
    },
  });
  await linkAs(server.url, linkFrom(await slashCommand(server.url, { user: 'UAPP', userName: 'ann', text: 'link' })), 'ann');
});
after(async () => {
  await server.stop();
  await Promise.all([slack.close(), app.close(), hooks.close()]);
});

let seq = 0;
/** A command from the bound user, with a response_url at the local catcher. */
const run = (text: string, responseUrl = `${hooks.url}commands/${++seq}`) =>
  slashCommand(server.url, { user: 'UAPP', text, extra: { response_url: responseUrl, channel_id: 'C0APP' } });

test('a quick answer comes back inline, with its blocks; the request follows the contract', async () => {
  const res = await run('report q3');
  assert.equal(res.status, 200);
  assert.equal(res.json.response_type, 'ephemeral');
  assert.equal(res.json.text, 'ran report q3 as ann');
  assert.deepEqual(res.json.blocks, [{ type: 'section', text: { type: 'mrkdwn', text: '*report q3* for ann' } }]);

  const [call] = await app.waitFor(1, (r) => r.body.text === 'report q3');
  assert.equal(call!.headers.authorization, `Bearer ${APP_TOKEN}`);
  assert.equal(call!.headers['x-request-id'], res.headers['x-request-id']);
  assert.equal(call!.url, '/slack/command');
  assert.deepEqual(call!.body, {
    type: 'command',
    internal_user: 'ann',
    command: '/acct',
    text: 'report q3',
    slack: { team_id: 'T0001', enterprise_id: null, user_id: 'UAPP', user_name: 'ann', channel_id: 'C0APP' },
  });
});

test('in_channel answers stay in_channel, posted through the response_url (where a refusal can be seen); others default to ephemeral', async () => {
  const url = `${hooks.url}commands/announce`;
  const res = await run('announce launch', url);
  assert.equal(res.status, 200);
  assert.equal(res.body, '', 'an empty acknowledgement: the answer follows');
  const [posted] = await hooks.waitFor(1, (r) => r.url === '/commands/announce');
  assert.equal(posted!.body.response_type, 'in_channel');
  assert.equal(posted!.body.text, 'ann announces launch');
});

test("an in_channel answer the channel refuses (Slack's response_url answers an error) reaches its user ephemerally, saying why; logged and counted", async () => {
  // Slack's response_url answers as an incoming webhook does: a 4xx whose body is the error
  // (api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks), or {ok: false, error}.
  const refusals: Record<string, { status: number; body: string }> = {
    general: { status: 403, body: JSON.stringify({ ok: false, error: 'posting_to_general_channel_denied' }) },
    prohibited: { status: 403, body: 'action_prohibited' },
  };
  hooks.answer = (r) => (r.body?.response_type === 'in_channel' ? refusals[r.url.split('/').at(-1)!] : undefined);
  try {
    for (const [name, because] of [['general', /only some members may post in this channel/], ['prohibited', /the workspace restricts posting here/]] as const) {
      const res = await run(`announce ${name}`, `${hooks.url}commands/${name}`);
      assert.equal(res.status, 200);
      const [refused, shown] = await hooks.waitFor(2, (r) => r.url === `/commands/${name}`);
      assert.equal(refused!.body.response_type, 'in_channel');
      assert.equal(shown!.body.response_type, 'ephemeral', name);
      assert.equal(shown!.body.text, `ann announces ${name}`, 'the same answer');
      const note = JSON.stringify(shown!.body.blocks.at(-1));
      assert.match(note, /could not be posted in the channel/, name);
      assert.match(note, because, name);
    }
    await server.waitForLog((l) => l.event === 'in_channel_refused' && l.reason === 'action_prohibited');
    const metrics = (await request(`${server.url}/metrics`)).body;
    assert.match(metrics, /^slack_in_channel_refused_total\{reason="posting_to_general_channel_denied"\} 1$/m);
    assert.match(metrics, /^slack_in_channel_refused_total\{reason="action_prohibited"\} 1$/m);
  } finally {
    hooks.answer = null;
  }
});

test('a response_url answering 429: the answer is posted again once Retry-After has passed', async () => {
  let limitedAt = 0;
  let postedAgainAt = 0;
  hooks.answer = (r) => {
    if (r.url !== '/commands/limited') return undefined;
    if (limitedAt) {
      postedAgainAt ||= Date.now();
      return undefined;
    }
    limitedAt = Date.now();
    return { status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' };
  };
  try {
    const res = await run('slow 2300', `${hooks.url}commands/limited`);
    assert.match(res.json.text, /Working on/);
    const posts = await hooks.waitFor(2, (r) => r.url === '/commands/limited');
    assert.equal(posts[1]!.body.text, 'slow report ready for ann', 'delivered after the limit');
    await server.waitForLog((l) => l.event === 'command_delivery' && l.outcome === 'sent' && l.request_id === res.headers['x-request-id']);
    assert.ok(postedAgainAt - limitedAt >= 1000, `posted again ${postedAgainAt - limitedAt} ms after the 429: not before Retry-After`);
    const metrics = (await request(`${server.url}/metrics`)).body;
    assert.match(metrics, /^slack_rate_limited_total\{method="response_url",outcome="waited"\} 1$/m);
  } finally {
    hooks.answer = null;
  }
});

test('a slow answer: "working on it" at once, then the answer at the response_url', async () => {
  const started = Date.now();
  const url = `${hooks.url}commands/slow-one`;
  const res = await run('slow 2600', url);
  const took = Date.now() - started;
  assert.ok(took < 2900, `answered Slack after ${took} ms`);
  assert.equal(res.json.response_type, 'ephemeral');
  assert.match(res.json.text, /Working on \/acct slow 2600/);
  const [posted] = await hooks.waitFor(1, (r) => r.url === '/commands/slow-one');
  assert.equal(posted!.body.text, 'slow report ready for ann');
  assert.equal(posted!.body.response_type, 'ephemeral');
  assert.equal(posted!.headers['content-type'], 'application/json');
});

test('an answer longer than Slack takes (a section over 3000 characters) is cut where it still renders, not refused by Slack', async () => {
  const res = await run('long');
  assert.equal(res.json.text, 'long report for ann');
  assert.deepEqual(violations(res.json.blocks, LIMITS.messageBlocks), []);
  assert.equal(res.json.blocks[0].text.text, `${'a'.repeat(2990)}…`, 'the half link is left out');
});

test('401/403 from the internal app: the user is told they may not do that', async () => {
  const res = await run('forbidden payroll');
  assert.equal(res.status, 200);
  assert.equal(res.json.response_type, 'ephemeral');
  assert.match(res.json.text, /You are not allowed to run `\/acct forbidden payroll`: only finance may see payroll/);
});

test('a failing, garbled or oversized answer becomes a clear ephemeral error, never a 5xx', async () => {
  const cases: Record<string, RegExp> = {
    boom: /failed in the internal application: database exploded/,
    garbage: /returned an answer Slack cannot show/,
    wrongtype: /returned an answer Slack cannot show/,
    badblocks: /returned an answer Slack cannot show/,
    huge: /more than Slack can show/,
  };
  for (const [text, expected] of Object.entries(cases)) {
    const res = await run(text);
    assert.equal(res.status, 200, text);
    assert.equal(res.json.response_type, 'ephemeral', text);
    assert.match(res.json.text, expected, text);
    assert.match(res.json.text, new RegExp(`request ${res.headers['x-request-id']}`), text);
  }
  await server.waitForLog((l) => l.event === 'internal_app_call' && l.outcome === 'invalid_response', 4);
});

test('a timeout of the internal app is a clear message at the response_url, logged with the request id', async () => {
  const url = `${hooks.url}commands/timeout`;
  const res = await run('slow 6000', url);
  assert.match(res.json.text, /Working on/);
  const [posted] = await hooks.waitFor(1, (r) => r.url === '/commands/timeout');
  assert.match(posted!.body.text, /did not finish within 4 seconds/);
  const requestId = String(res.headers['x-request-id']);
  await server.waitForLog((l) => l.event === 'internal_app_call' && l.outcome === 'timeout' && l.request_id === requestId);
});

test('a response_url on a host that is not allowed is never posted to', async () => {
  for (const url of ['https://hooks.slack.com.evil.example/x', 'http://127.0.0.1:9/elsewhere', 'https://user@hooks.slack.com/x']) {
    const before = hooks.received.length;
    const res = await run('slow 2300', url);
    assert.match(res.json.text, /cannot be shown/, url);
    await server.waitForLog((l) => l.event === 'response_url_refused' && l.request_id === res.headers['x-request-id']);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(hooks.received.length, before, url);
  }
});

test("the command an unbound user typed runs once they are linked, at the command's response_url", async () => {
  const url = `${hooks.url}commands/pending`;
  const first = await slashCommand(server.url, { user: 'UPEND', text: 'report q4', extra: { response_url: url } });
  assert.match(first.json.text, /To run `\/acct report` as yourself, link your account first/);
  assert.equal(app.received.filter((r) => r.body.slack?.user_id === 'UPEND').length, 0, 'nothing ran before linking');

  await linkAs(server.url, linkFrom(first), 'paul', 'link_and_run');
  const [posted] = await hooks.waitFor(1, (r) => r.url === '/commands/pending');
  assert.equal(posted!.body.text, 'ran report q4 as paul');
  const [call] = await app.waitFor(1, (r) => r.body.slack?.user_id === 'UPEND');
  assert.equal(call!.body.internal_user, 'paul');
  const [dm] = await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === 'UPEND');
  assert.match(String(JSON.stringify(dm!.args.blocks)), /running `\/acct report q4` for you/);
});

test('a subcommand that starts linking is not remembered as a command to run', async () => {
  const url = `${hooks.url}commands/not-pending`;
  const first = await slashCommand(server.url, { user: 'UNOPEND', text: 'whoami', extra: { response_url: url } });
  await linkAs(server.url, linkFrom(first), 'quinn');
  await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === 'UNOPEND');
  assert.equal(hooks.received.filter((r) => r.url === '/commands/not-pending').length, 0);
  assert.equal(app.received.filter((r) => r.body.slack?.user_id === 'UNOPEND').length, 0);
});

test('the internal app unreachable: a clear message, no 5xx', async () => {
  const down = await startServer({
    slackApiUrl: slack.url,
    env: { ...CONFIRM_ONLY, INTERNAL_APP_URL: 'http://127.0.0.1:9/cmd', INTERNAL_APP_TOKEN: 't' },
  });
  try {
    await linkAs(down.url, linkFrom(await slashCommand(down.url, { user: 'UDOWN', text: 'link' })), 'rob');
    const res = await slashCommand(down.url, { user: 'UDOWN', text: 'report' });
    assert.equal(res.status, 200);
    assert.match(res.json.text, /cannot be reached right now/);
    // The log says why in the startup check's words (src/lib/unreachable.ts), not a bare code.
    const [line] = await down.waitForLog((l) => l.outcome === 'unreachable');
    assert.match(String(line!.detail), /Node's fetch refuses port 9 \(one of the ports the Fetch standard blocks\)/);
  } finally {
    await down.stop();
  }
});

test('the confirmation page shows the command typed before linking; plain "Link accounts" does not run it', async () => {
  const url = `${hooks.url}commands/shown-not-run`;
  const first = await slashCommand(server.url, { user: 'USHOWN', text: 'transfer all to mallory', extra: { response_url: url } });
  const link = linkFrom(first);
  const page = await openLink(server.url, link, 'sara');
  assert.equal(page.status, 200);
  assert.match(page.body, /<code>\/acct transfer all to mallory<\/code>/);
  assert.match(page.body, /name="decision" value="link_and_run"/);
  assert.equal((await confirm(server.url, { ...formFields(page.body), decision: 'link' }, 'sara')).status, 200);
  const [dm] = await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === 'USHOWN');
  assert.match(JSON.stringify(dm!.args.blocks), /Run `\/acct transfer all to mallory` again/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(app.received.filter((r) => r.body.slack?.user_id === 'USHOWN').length, 0, 'nothing ran');
  assert.equal(hooks.received.filter((r) => r.url === '/commands/shown-not-run').length, 0);
});
