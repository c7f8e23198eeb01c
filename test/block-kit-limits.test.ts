// Block Kit's limits (src/slack/block-kit-limits.ts): every message and Home view we build, fed the
// longest values that can reach it, is within what Slack accepts once fitted; a long answer is cut
// where it still renders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clip, fitBlocks, fitMessage, LIMITS, violations } from '../src/slack/block-kit-limits.ts';
import * as messages from '../src/slack/messages.ts';
import { homeView } from '../src/slack/home-view.ts';
import type { Binding } from '../src/model.ts';

const long = (n: number, unit = 'x') => unit.repeat(n);
/** A binding whose every field is longer than any Slack limit (a name imported from elsewhere, say). */
const binding: Binding = {
  org: 'E1',
  userId: 'U1',
  teamId: 'T1',
  enterpriseId: 'E1',
  userName: long(5000),
  teamDomain: long(5000),
  internalUser: long(5000, '<&>'),
  createdAt: Date.UTC(2026, 0, 1),
  verifiedBy: 'confirm',
  lastUsedAt: null,
};
const command = `/${long(64)}`;
const text = long(4000, 'word ');
const url = `https://slack-link.corp.example/associate?nonce=${long(3100)}`;

test('every message we build is within Slack\'s limits once fitted, whatever reaches it', () => {
  const built: Record<string, messages.SlackMessage> = {
    linkPrompt: messages.linkPrompt(url, text, 600),
    help: messages.help(command, binding, { verification: text, withConfirm: true, builtins: [text, text] }),
    whoami: messages.whoami(binding),
    alreadyLinked: messages.alreadyLinked(command, binding),
    unlinked: messages.unlinked(command, binding),
    working: messages.working(command, text, binding),
    cannotDeliverLater: messages.cannotDeliverLater(command, text, 'req'),
    tooBusyToDeliver: messages.tooBusyToDeliver(command, text, 'req'),
    codeOutcome: messages.codeOutcome(command, 'wrong', 2),
    linkedReply: messages.linkedReply(binding),
    tooManyLinks: messages.tooManyLinks(5),
    apology: messages.apology('req'),
    linkedDm: messages.linkedDm(command, binding, { ran: text }, url),
    revokedDm: messages.revokedDm(binding, 'admin_api'),
    notPostedInChannel: messages.notPostedInChannel({ text: long(40_000), response_type: 'in_channel' }, 'restricted_action'),
    manyBlocks: messages.notPostedInChannel({ text: 'x', blocks: Array.from({ length: 50 }, () => messages.section(long(4000))) }, 'is_archived'),
  };
  let clipped = 0;
  for (const [name, message] of Object.entries(built)) {
    if (violations(message.blocks ?? [], LIMITS.messageBlocks).length) clipped++;
    const fitted = fitMessage(message);
    assert.deepEqual(violations(fitted.blocks ?? [], LIMITS.messageBlocks), [], name);
    assert.ok(fitted.text.length <= LIMITS.messageText, name);
  }
  assert.ok(clipped >= 5, 'the inputs are long enough to need fitting');
});

test('the Home view is within the limits of a Home tab once fitted, linked or not', () => {
  const options = { appName: long(60), command, linksUrl: `https://slack-link.corp.example/${long(3000)}` };
  for (const view of [homeView(binding, options), homeView(undefined, options), homeView(undefined, { ...options, link: { url, ttlSeconds: 600 } })]) {
    assert.deepEqual(violations(fitBlocks(view.blocks, LIMITS.homeBlocks), LIMITS.homeBlocks), []);
  }
  const tooMany = fitBlocks(Array.from({ length: 150 }, () => messages.section('x')), LIMITS.homeBlocks);
  assert.equal(tooMany.length, LIMITS.homeBlocks);
  assert.match(JSON.stringify(tooMany.at(-1)), /51 more blocks not shown/);
});

test('clip: within the limit, marked, never inside a link, an entity or a surrogate pair', () => {
  assert.equal(clip('short', 10), 'short');
  assert.equal(clip(long(20), 10), `${long(9)}…`);
  const link = `${long(2990)}<https://example.com/report|the report> and more`;
  const cut = clip(link, 3000);
  assert.ok(cut.length <= 3000);
  assert.equal(cut, `${long(2990)}…`, 'the half link is left out, not shown broken');
  assert.equal(clip(`${long(2995)}&amp; more`, 3000), `${long(2995)}…`);
  assert.equal(clip(`${long(8)}😀😀`, 10), `${long(8)}…`, 'no half of an emoji');
  const button = fitBlocks([{ type: 'actions', elements: [{ type: 'button', action_id: 'a', text: { type: 'plain_text', text: long(100) } }, { type: 'button', action_id: 'b', url, text: { type: 'plain_text', text: 'go' } }] }], 50);
  assert.deepEqual(button, [{ type: 'actions', elements: [{ type: 'button', action_id: 'a', text: { type: 'plain_text', text: `${long(74)}…` } }] }], 'a URL too long is left out, never cut');
});
