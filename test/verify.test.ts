import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slackSignature, verifySlackRequest } from '../src/slack/signature.ts';

// Slack's published example (api.slack.com/authentication/verifying-requests-from-slack).
const example = {
  signingSecret: '8f742231b10e8888abcd99yyyzzz85a5',
  timestamp: '1531420618',
  rawBody:
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
  nowSeconds: 1531420618,
};

test("Slack's published example signs to the published signature", () => {
  assert.equal(slackSignature(example.signingSecret, example.timestamp, example.rawBody), example.signature);
  assert.deepEqual(verifySlackRequest(example), { ok: true, value: undefined });
  assert.deepEqual(verifySlackRequest({ ...example, rawBody: Buffer.from(example.rawBody) }), { ok: true, value: undefined });
});

test('each kind of failure is refused with its own reason', () => {
  const cases: Array<[string, Partial<typeof example> & Record<string, unknown>, RegExp]> = [
    ['missing signature', { signature: undefined }, /missing X-Slack-Signature/],
    ['missing timestamp', { timestamp: undefined }, /missing X-Slack-Request-Timestamp/],
    ['timestamp not a number', { timestamp: '15314206x8' }, /not a number/],
    ['wrong secret', { signingSecret: '8f742231b10e8888abcd99yyyzzz85a6' }, /does not match/],
    ['body changed by one byte', { rawBody: example.rawBody.replace('text=', 'text=x') }, /does not match/],
    ['timestamp changed', { timestamp: '1531420619', nowSeconds: 1531420619 }, /does not match/],
    ['v1 scheme', { signature: example.signature.replace('v0=', 'v1=') }, /not a v0 signature/],
    ['upper-case hex', { signature: example.signature.toUpperCase().replace('V0=', 'v0=') }, /not a v0 signature/],
    ['truncated', { signature: example.signature.slice(0, -1) }, /not a v0 signature/],
    ['stale: 5 min + 1 s old', { nowSeconds: example.nowSeconds + 301 }, /more than 5 minutes old/],
    ['future: 5 min + 1 s ahead', { nowSeconds: example.nowSeconds - 301 }, /in the future/],
  ];
  for (const [name, change, reason] of cases) {
    const verdict = verifySlackRequest({ ...example, ...change } as never);
    assert.equal(verdict.ok, false, name);
    assert.match((verdict as { reason: string }).reason, reason, name);
  }
});

test('exactly five minutes of skew either way is still accepted', () => {
  assert.equal(verifySlackRequest({ ...example, nowSeconds: example.nowSeconds + 300 }).ok, true);
  assert.equal(verifySlackRequest({ ...example, nowSeconds: example.nowSeconds - 300 }).ok, true);
});
