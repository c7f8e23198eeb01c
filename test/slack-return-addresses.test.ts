// The addresses a Sign in with Slack return redirects to (src/domain/link-proofs.ts): each good for
// the signed-in user it was made for, for SIGNED_IN_TTL_MS, and for its own kind of page only. The
// end-to-end tests (web-linking, sign-in-with-slack) show them in use; these pin the edges in time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SIGNED_IN_TTL_MS, linkedTicket, readLinkedTicket, readSignedInTicket, signedInTicket } from '../src/domain/link-proofs.ts';

const key = randomBytes(32);
const now = Date.UTC(2026, 11, 5, 22, 0, 0);
const hash = randomBytes(32);

test('the confirmation address: this user, until it expires; another user, another key or an edit is refused', () => {
  const ticket = signedInTicket(key, hash, 'alice', now);
  assert.deepEqual(readSignedInTicket(key, ticket, 'alice', now), hash);
  assert.deepEqual(readSignedInTicket(key, ticket, 'alice', now + SIGNED_IN_TTL_MS - 1000), hash);
  assert.equal(readSignedInTicket(key, ticket, 'alice', now + SIGNED_IN_TTL_MS), 'expired');
  assert.equal(readSignedInTicket(key, ticket, 'mallory', now), undefined);
  assert.equal(readSignedInTicket(randomBytes(32), ticket, 'alice', now), undefined);
  const [link, expires, mac] = ticket.split('.') as [string, string, string];
  assert.equal(readSignedInTicket(key, `${link}.${Number(expires) + 3600}.${mac}`, 'alice', now), undefined);
  assert.equal(readSignedInTicket(key, `${randomBytes(32).toString('base64url')}.${expires}.${mac}`, 'alice', now), undefined);
  for (const junk of [null, '', 'web', `${ticket}.x`, ticket.replace(/\./g, '')]) assert.equal(readSignedInTicket(key, junk, 'alice', now), undefined, String(junk));
});

test('the "linked" address: Slack ids and the DM refusal, this user only; never read as a confirmation address or the other way', () => {
  const sent = linkedTicket(key, { org: 'T0001', userId: 'U123', dmRefused: null }, 'alice', now);
  const refused = linkedTicket(key, { org: 'E0GRID', userId: 'W9', dmRefused: 'restricted_action' }, 'alice', now);
  assert.deepEqual(readLinkedTicket(key, sent, 'alice', now), { org: 'T0001', userId: 'U123', dmRefused: null });
  assert.deepEqual(readLinkedTicket(key, refused, 'alice', now), { org: 'E0GRID', userId: 'W9', dmRefused: 'restricted_action' });
  // A refusal named outside Slack's lowercase words still makes an address its reader accepts.
  for (const odd of ['-', 'Error 503: Bad Gateway', 'x'.repeat(65), 'ratelimited.v2']) {
    const ticket = linkedTicket(key, { org: 'T0001', userId: 'U123', dmRefused: odd }, 'alice', now);
    assert.deepEqual(readLinkedTicket(key, ticket, 'alice', now), { org: 'T0001', userId: 'U123', dmRefused: 'unexpected_error' }, odd);
  }
  assert.equal(readLinkedTicket(key, sent, 'alice', now + SIGNED_IN_TTL_MS), 'expired');
  assert.equal(readLinkedTicket(key, sent, 'mallory', now), undefined);
  assert.equal(readLinkedTicket(key, sent.replace('U123', 'U124'), 'alice', now), undefined);
  // Same key, different purpose: each kind is refused where the other is expected.
  assert.equal(readSignedInTicket(key, sent, 'alice', now), undefined);
  assert.equal(readLinkedTicket(key, signedInTicket(key, hash, 'alice', now), 'alice', now), undefined);
});
