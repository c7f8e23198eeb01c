// The Store contract (src/store/store.ts): one suite, run against every implementation, SQLite
// (a temporary file) and PostgreSQL (a fresh database per test: test/support/postgres.ts). Both
// must give the same outcomes, the same audit rows in the same order, the same limits. A second
// store on the same database stands for a second replica (or a second process on the SQLite file).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { openPostgresStore, SCHEMA_VERSION, type PostgresStore } from '../src/store/postgres.ts';
import { openStore } from '../src/store/open.ts';
import { LAST_USED_RESOLUTION_MS, type Actor, type Binding, type Link, type SlackIdentity, type SlackUser } from '../src/model.ts';
import type { Store } from '../src/store/store.ts';
import { freshDatabase, requiresPostgres } from './support/postgres.ts';
import { ROOT, tempDir } from './support/server.ts';

interface Harness {
  store: Store;
  /** Another store on the same database, as another replica (or process) opens it. */
  another(): Promise<Store>;
  /** A statement run on the database directly (written so that both dialects take it). */
  exec(sql: string): Promise<void>;
  /** From now on, writing an audit row fails. */
  failAuditWrites(): Promise<void>;
}

interface Backend {
  name: string;
  skip: false | string;
  open(): Promise<Harness & { dispose(): Promise<void> }>;
}

const sqlite: Backend = {
  name: 'SQLite',
  skip: false,
  async open() {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    const store = openSqliteStore(path);
    const others: Store[] = [];
    return {
      store,
      another: async () => {
        const other = openSqliteStore(path);
        others.push(other);
        return other;
      },
      exec: async (sql) => void store.db.exec(sql),
      failAuditWrites: async () => void store.db.exec("CREATE TRIGGER no_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit is full'); END"),
      dispose: async () => {
        for (const s of [store, ...others]) await s.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const postgresSkip = await requiresPostgres();

const postgres: Backend = {
  name: 'PostgreSQL',
  skip: postgresSkip,
  async open() {
    const db = await freshDatabase();
    const store = await openPostgresStore(db.url);
    const others: Store[] = [];
    return {
      store,
      another: async () => {
        const other = await openPostgresStore(db.url);
        others.push(other);
        return other;
      },
      exec: async (sql) => void (await store.pool.query(sql)),
      failAuditWrites: async () =>
        void (await store.pool.query(`
          CREATE FUNCTION no_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit is full'; END $$;
          CREATE TRIGGER no_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION no_audit();`)),
      dispose: async () => {
        for (const s of [store, ...others]) await s.close();
        await db.drop();
      },
    };
  },
};

/** A fixed past instant: every `now` a test passes is T0 plus something. */
const T0 = 1_700_000_000_000;
const TTL = 10 * 60_000;
const by: Actor = { actor: 'test', requestId: 'req-1', clientAddress: '10.0.0.9' };
const request = { command: '/acct', pendingText: null, channelId: 'C1', responseUrl: 'https://hooks.slack.com/commands/1' };
const user = (userId: string, org = 'T1', enterpriseId: string | null = null, teamId = enterpriseId ? `T-${userId}` : org): SlackUser => ({
  org,
  userId,
  teamId,
  enterpriseId,
  userName: userId.toLowerCase(),
  teamDomain: 'acme',
});
const nonce = (name: string): Buffer => createHash('sha256').update(name).digest();
const codeMacFor = (id: SlackIdentity): Buffer => createHmac('sha256', 'code-key').update(`${id.org}/${id.userId}:123456`).digest();
const rightCode = (id: SlackIdentity) => (mac: Buffer) => mac.equals(codeMacFor(id));
const wrongCode = () => false;
const linkOf = (u: SlackUser, now: number, pendingText: string | null = null): Link => ({
  ...u,
  ...request,
  pendingText,
  createdAt: now,
  expiresAt: now + TTL,
});
const bindingOf = (u: SlackUser, internalUser: string, createdAt: number, verifiedBy: Binding['verifiedBy']): Binding => ({
  ...u,
  internalUser,
  createdAt,
  verifiedBy,
  lastUsedAt: null,
});

/** Audit rows as "action:reason" (the reason left off when null). */
const actions = async (store: Store, filter: Parameters<Store['listAudit']>[0] = {}) =>
  (await store.listAudit(filter)).map((a) => `${a.action}${a.reason ? `:${a.reason}` : ''}`);

function contract(backend: Backend): void {
  describe(`Store contract on ${backend.name}`, { skip: backend.skip }, () => {
    /** A test body with a store on a fresh database, disposed of afterwards whatever happens. */
    const it = (name: string, body: (h: Harness) => Promise<void>) =>
      test(name, async () => {
        const h = await backend.open();
        try {
          await body(h);
        } finally {
          await h.dispose();
        }
      });

    const create = (store: Store, u: SlackUser, name: string, now = T0, perMinute = 0, pendingText: string | null = null) =>
      store.createLink({ user: u, request: { ...request, pendingText }, nonceHash: nonce(name), now, ttlMs: TTL, perMinute }, by);
    /** A binding made the ordinary way: a link, completed. */
    const bind = async (store: Store, u: SlackUser, internalUser: string, now = T0) => {
      await create(store, u, `bind-${u.org}-${u.userId}-${now}`, now);
      const result = await store.completeLink(nonce(`bind-${u.org}-${u.userId}-${now}`), internalUser, 'confirm', now, by);
      assert.equal(result.outcome, 'bound');
    };
    /** A pending code confirmation for `u`, confirmed in the browser by `internalUser`. */
    const pend = async (store: Store, u: SlackUser, internalUser: string, now = T0, ttlMs = TTL, keep = false) => {
      await create(store, u, `pend-${u.userId}-${now}`, now, 0, 'report');
      return store.deferLink(nonce(`pend-${u.userId}-${now}`), internalUser, codeMacFor, now, ttlMs, keep, by);
    };

    it('ping: the database can be read and written', async ({ store }) => {
      assert.equal(await store.ping(), true);
    });

    it('createLink: created, live until it expires, and one live link per identity', async ({ store }) => {
      assert.deepEqual(await create(store, user('U1'), 'a'), { outcome: 'created' });
      assert.deepEqual(await store.getLiveLink(nonce('a'), T0), linkOf(user('U1'), T0));
      assert.ok(await store.getLiveLink(nonce('a'), T0 + TTL - 1), 'live until its last millisecond');
      assert.equal(await store.getLiveLink(nonce('a'), T0 + TTL), undefined, 'expired at expiresAt');
      assert.equal(await store.getLiveLink(nonce('unknown'), T0), undefined);

      await create(store, user('U1'), 'b', T0 + 1);
      assert.equal(await store.getLiveLink(nonce('a'), T0 + 1), undefined, 'the new link replaced the old one');
      assert.deepEqual(await store.getLiveLink(nonce('b'), T0 + 1), linkOf(user('U1'), T0 + 1));
      await create(store, user('U2'), 'c', T0 + 2, 0, 'report');
      assert.ok(await store.getLiveLink(nonce('b'), T0 + 2), 'another identity leaves it alone');
      assert.equal((await store.getLiveLink(nonce('c'), T0 + 2))?.pendingText, 'report');

      const audit = await store.listAudit();
      assert.deepEqual(
        audit.map((a) => [a.time, a.action, a.reason, a.org, a.teamId, a.slackUser, a.internalUser, a.actor, a.requestId, a.clientAddress]),
        [
          [T0, 'link_created', null, 'T1', 'T1', 'U1', null, 'test', 'req-1', '10.0.0.9'],
          [T0 + 1, 'link_created', null, 'T1', 'T1', 'U1', null, 'test', 'req-1', '10.0.0.9'],
          [T0 + 2, 'link_created', null, 'T1', 'T1', 'U2', null, 'test', 'req-1', '10.0.0.9'],
        ],
      );
    });

    it('createLink: the rate limit counts link_created rows of the identity within the last minute', async ({ store }) => {
      assert.equal((await create(store, user('U1'), 'a', T0, 2)).outcome, 'created');
      assert.equal((await create(store, user('U1'), 'b', T0 + 1, 2)).outcome, 'created');
      assert.deepEqual(await create(store, user('U1'), 'c', T0 + 2, 2), { outcome: 'rate_limited' });
      assert.ok(await store.getLiveLink(nonce('b'), T0 + 2), 'a refused link leaves the live one');
      assert.equal(await store.getLiveLink(nonce('c'), T0 + 2), undefined);
      assert.equal((await create(store, user('U2'), 'd', T0 + 2, 2)).outcome, 'created', 'per identity');
      assert.equal((await create(store, user('U1', 'T2'), 'e', T0 + 2, 2)).outcome, 'created', 'the same user id in another org is another identity');
      // At T0 + 60 s the link of T0 has left the window (strictly older than a minute), the one of T0 + 1 has not.
      assert.equal((await create(store, user('U1'), 'f', T0 + 60_000, 2)).outcome, 'created');
      assert.equal((await create(store, user('U1'), 'g', T0 + 60_000, 2)).outcome, 'rate_limited');
      assert.equal((await create(store, user('U1'), 'h', T0 + 60_000, 0)).outcome, 'created', 'perMinute 0: no limit');
      assert.equal((await store.listAudit({ slackUser: 'U1' })).filter((a) => a.org === 'T1').length, 4, 'a refused link writes no audit row');
    });

    it('createLink: a concurrent burst for one identity, across two stores, never exceeds the rate limit', async ({ store, another }) => {
      const other = await another();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => create(i % 2 ? other : store, user('U1'), `burst-${i}`, T0 + 1000, 3)),
      );
      assert.equal(results.filter((r) => r.outcome === 'created').length, 3);
      assert.equal(results.filter((r) => r.outcome === 'rate_limited').length, 17);
      const live = [];
      for (let i = 0; i < 20; i++) if (await store.getLiveLink(nonce(`burst-${i}`), T0 + 1000)) live.push(i);
      assert.equal(live.length, 1, 'one live link per identity');
      assert.deepEqual(await actions(store), ['link_created', 'link_created', 'link_created']);
    });

    it('completeLink: bound once, then gone; already_bound consumes the link; an expired link is gone', async ({ store }) => {
      await create(store, user('U1'), 'a');
      const bound = await store.completeLink(nonce('a'), 'alice', 'email', T0 + 5, by);
      assert.deepEqual(bound, { outcome: 'bound', binding: bindingOf(user('U1'), 'alice', T0 + 5, 'email'), link: linkOf(user('U1'), T0) });
      assert.deepEqual(await store.completeLink(nonce('a'), 'mallory', 'email', T0 + 6, by), { outcome: 'gone' });
      assert.deepEqual(await store.getBinding(user('U1')), bindingOf(user('U1'), 'alice', T0 + 5, 'email'));

      await create(store, user('U1'), 'b', T0 + 7);
      assert.deepEqual(await store.completeLink(nonce('b'), 'bob', 'confirm', T0 + 8, by), {
        outcome: 'already_bound',
        binding: bindingOf(user('U1'), 'alice', T0 + 5, 'email'),
      });
      assert.equal(await store.getLiveLink(nonce('b'), T0 + 8), undefined, 'the link is spent');

      await create(store, user('U2'), 'c');
      assert.deepEqual(await store.completeLink(nonce('c'), 'carol', 'confirm', T0 + TTL, by), { outcome: 'gone' });
      assert.equal(await store.getBinding(user('U2')), undefined);
      assert.equal(await store.getBinding({ org: 'T1', userId: 'U3' }), undefined);
      // By time: U2's link (T0) before the binding (T0 + 5); the spent link 'b' is in the trail too.
      assert.deepEqual(await actions(store), ['link_created', 'link_created', 'linked:email', 'link_created', 'link_cancelled:already_bound']);
    });

    it('completeLink: twenty concurrent completions of one link, across two stores, bind once', async ({ store, another }) => {
      const other = await another();
      await create(store, user('U1'), 'a');
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).completeLink(nonce('a'), `person${i}`, 'confirm', T0 + 1, by)),
      );
      const bound = results.filter((r) => r.outcome === 'bound');
      assert.equal(bound.length, 1);
      assert.equal(results.filter((r) => r.outcome === 'gone').length, 19);
      assert.equal((await store.getBinding(user('U1')))?.internalUser, bound[0]!.binding.internalUser);
      assert.deepEqual(await actions(store), ['link_created', 'linked:confirm']);
    });

    it('endLink: cancelled or failed verification, each once, with its audit row', async ({ store }) => {
      await create(store, user('U1'), 'a');
      await create(store, user('U2'), 'b');
      await create(store, user('U3'), 'c');
      assert.deepEqual(await store.endLink(nonce('a'), T0 + 1, { action: 'link_cancelled', reason: null }, by), linkOf(user('U1'), T0));
      assert.equal(await store.endLink(nonce('a'), T0 + 2, { action: 'link_cancelled', reason: null }, by), undefined);
      assert.deepEqual(
        await store.endLink(nonce('b'), T0 + 3, { action: 'verification_failed', reason: 'email_mismatch' }, by),
        linkOf(user('U2'), T0),
      );
      assert.equal(await store.getLiveLink(nonce('b'), T0 + 3), undefined);
      assert.equal(await store.endLink(nonce('c'), T0 + TTL, { action: 'link_cancelled', reason: null }, by), undefined, 'expired');
      const audit = (await store.listAudit()).filter((a) => a.action !== 'link_created');
      assert.deepEqual(
        audit.map((a) => [a.time, a.action, a.reason, a.slackUser, a.internalUser]),
        [
          [T0 + 1, 'link_cancelled', null, 'U1', null],
          [T0 + 3, 'verification_failed', 'email_mismatch', 'U2', null],
        ],
      );
    });

    it('refuseLink: an audit row naming who tried, and the link stays live for its owner', async ({ store }) => {
      await create(store, user('U1'), 'a');
      assert.deepEqual(await store.refuseLink(nonce('a'), T0 + 1, 'slack_user_mismatch', 'mallory', by), linkOf(user('U1'), T0));
      assert.deepEqual(await store.getLiveLink(nonce('a'), T0 + 2), linkOf(user('U1'), T0), 'still live');
      assert.equal(await store.refuseLink(nonce('zz'), T0 + 2, 'slack_user_mismatch', 'mallory', by), undefined, 'no such link: no row');
      assert.equal(await store.refuseLink(nonce('a'), T0 + TTL, 'slack_user_mismatch', 'mallory', by), undefined, 'expired: no row');
      const bound = await store.completeLink(nonce('a'), 'alice', 'slack', T0 + 3, by);
      assert.equal(bound.outcome, 'bound');
      assert.equal((await store.getBinding(user('U1')))?.verifiedBy, 'slack');
      assert.deepEqual(await actions(store), ['link_created', 'verification_failed:slack_user_mismatch', 'linked:slack']);
      const refused = (await store.listAudit()).find((a) => a.action === 'verification_failed')!;
      assert.deepEqual([refused.time, refused.slackUser, refused.internalUser], [T0 + 1, 'U1', 'mallory']);
    });

    it('deferLink then confirmCode: pending, wrong, bound, none; the typed command dropped unless kept', async ({ store }) => {
      const seen: SlackIdentity[] = [];
      await create(store, user('U1'), 'a', T0, 0, 'report');
      const macFor = (id: SlackIdentity) => {
        seen.push(id);
        return codeMacFor(id);
      };
      const pending = await store.deferLink(nonce('a'), 'alice', macFor, T0 + 1, TTL, false, by);
      assert.deepEqual(pending, { outcome: 'pending', link: { ...linkOf(user('U1'), T0), pendingText: null } });
      assert.deepEqual([seen[0]?.org, seen[0]?.userId], ['T1', 'U1'], 'the code is made for the link\'s identity');
      assert.equal(await store.getLiveLink(nonce('a'), T0 + 1), undefined, 'the link became the pending confirmation');
      assert.deepEqual(await store.deferLink(nonce('a'), 'alice', codeMacFor, T0 + 2, TTL, false, by), { outcome: 'gone' });

      assert.deepEqual(await store.confirmCode(user('U1'), wrongCode, T0 + 3, 3, by), { outcome: 'wrong', attemptsLeft: 2 });
      const bound = await store.confirmCode(user('U1'), rightCode(user('U1')), T0 + 4, 3, by);
      assert.equal(bound.outcome, 'bound');
      assert.deepEqual(bound.outcome === 'bound' && bound.binding, bindingOf(user('U1'), 'alice', T0 + 4, 'code'));
      assert.equal(bound.outcome === 'bound' && bound.link.pendingText, null);
      assert.equal(bound.outcome === 'bound' && bound.link.createdAt, T0, 'the slash command\'s time (its response_url\'s clock)');
      assert.deepEqual(await store.confirmCode(user('U1'), rightCode(user('U1')), T0 + 5, 3, by), { outcome: 'none' });
      assert.deepEqual(await store.getBinding(user('U1')), bindingOf(user('U1'), 'alice', T0 + 4, 'code'));

      const kept = await pend(store, user('U2'), 'bob', T0, TTL, true);
      assert.equal(kept.outcome === 'pending' && kept.link.pendingText, 'report');
      const boundKept = await store.confirmCode(user('U2'), rightCode(user('U2')), T0 + 1, 3, by);
      assert.equal(boundKept.outcome === 'bound' && boundKept.link.pendingText, 'report');

      const audit = (await store.listAudit()).filter((a) => a.action !== 'link_created');
      assert.deepEqual(
        audit.map((a) => [a.action, a.reason, a.slackUser, a.internalUser]),
        [
          ['code_issued', null, 'U2', 'bob'], // at T0
          ['code_issued', null, 'U1', 'alice'], // T0 + 1, written before U2's binding
          ['linked', 'code', 'U2', 'bob'], // T0 + 1
          ['verification_failed', 'wrong_code', 'U1', 'alice'], // T0 + 3
          ['linked', 'code', 'U1', 'alice'], // T0 + 4
        ],
      );
    });

    it('confirmCode: void after maxFailures wrong codes, expired after its TTL, none without a pending one', async ({ store }) => {
      await pend(store, user('U1'), 'alice');
      assert.deepEqual(await store.confirmCode(user('U1'), wrongCode, T0 + 1, 3, by), { outcome: 'wrong', attemptsLeft: 2 });
      assert.deepEqual(await store.confirmCode(user('U1'), wrongCode, T0 + 2, 3, by), { outcome: 'wrong', attemptsLeft: 1 });
      assert.deepEqual(await store.confirmCode(user('U1'), wrongCode, T0 + 3, 3, by), { outcome: 'void' });
      assert.deepEqual(await store.confirmCode(user('U1'), rightCode(user('U1')), T0 + 4, 3, by), { outcome: 'none' }, 'the right code is too late');
      assert.equal(await store.getBinding(user('U1')), undefined);

      await pend(store, user('U2'), 'bob', T0, 1000);
      assert.deepEqual(await store.confirmCode(user('U2'), rightCode(user('U2')), T0 + 1000, 3, by), { outcome: 'expired' });
      assert.deepEqual(await store.confirmCode(user('U2'), rightCode(user('U2')), T0 + 1001, 3, by), { outcome: 'none' });
      assert.deepEqual(await store.confirmCode(user('U3'), rightCode(user('U3')), T0, 3, by), { outcome: 'none' });

      // A new confirmation starts its count afresh.
      await pend(store, user('U1'), 'alice', T0 + 10);
      assert.deepEqual(await store.confirmCode(user('U1'), wrongCode, T0 + 11, 3, by), { outcome: 'wrong', attemptsLeft: 2 });
      assert.deepEqual((await actions(store)).filter((a) => a.startsWith('verification_failed')), [
        'verification_failed:wrong_code',
        'verification_failed:wrong_code',
        'verification_failed:attempts_exhausted',
        'verification_failed:wrong_code',
      ]);
    });

    it('confirmCode: wrong codes typed at once, on two stores, are each counted', async ({ store, another }) => {
      const other = await another();
      await pend(store, user('U1'), 'alice');
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).confirmCode(user('U1'), wrongCode, T0 + 1, 5, by)));
      const outcomes = results.map((r) => r.outcome);
      assert.deepEqual(
        [outcomes.filter((o) => o === 'wrong').length, outcomes.filter((o) => o === 'void').length, outcomes.filter((o) => o === 'none').length],
        [4, 1, 5],
      );
      assert.deepEqual(
        results.flatMap((r) => (r.outcome === 'wrong' ? [r.attemptsLeft] : [])).sort(),
        [1, 2, 3, 4],
      );
    });

    it('deferLink: already_bound when the identity is bound, and the link is spent', async ({ store }) => {
      await bind(store, user('U1'), 'alice');
      await create(store, user('U1'), 'a', T0 + 1);
      const result = await store.deferLink(nonce('a'), 'bob', codeMacFor, T0 + 2, TTL, false, by);
      assert.deepEqual(result, { outcome: 'already_bound', binding: bindingOf(user('U1'), 'alice', T0, 'confirm') });
      assert.equal(await store.getLiveLink(nonce('a'), T0 + 2), undefined);
      assert.deepEqual(await store.confirmCode(user('U1'), rightCode(user('U1')), T0 + 3, 3, by), { outcome: 'none' });
    });

    it('a binding voids the identity\'s other open link and its pending confirmation', async ({ store }) => {
      // A pending confirmation, then a newer link; the newer link binds: the code no longer does.
      await pend(store, user('U1'), 'alice');
      await create(store, user('U1'), 'newer', T0 + 1);
      assert.equal((await store.completeLink(nonce('newer'), 'alice', 'confirm', T0 + 2, by)).outcome, 'bound');
      assert.deepEqual(await store.confirmCode(user('U1'), rightCode(user('U1')), T0 + 3, 3, by), { outcome: 'none' });

      // The other way round: the code binds, and the newer link no longer does.
      await pend(store, user('U2'), 'bob');
      await create(store, user('U2'), 'newer2', T0 + 1);
      assert.equal((await store.confirmCode(user('U2'), rightCode(user('U2')), T0 + 2, 3, by)).outcome, 'bound');
      assert.equal(await store.getLiveLink(nonce('newer2'), T0 + 2), undefined);
      assert.deepEqual((await store.statsByWorkspace(T0 + 3)).map((s) => [s.open_links, s.pending]), [[0, 0]]);
    });

    it('unlink: the binding removed and audited once; a new binding can be made after', async ({ store }) => {
      await bind(store, user('U1'), 'alice');
      const before = Date.now();
      assert.deepEqual(await store.unlink(user('U1'), { ...by, actor: 'slack:U1' }), bindingOf(user('U1'), 'alice', T0, 'confirm'));
      assert.equal(await store.unlink(user('U1'), by), undefined);
      assert.equal(await store.getBinding(user('U1')), undefined);
      const last = (await store.listAudit()).at(-1)!;
      assert.deepEqual([last.action, last.reason, last.actor, last.internalUser, last.slackUser], ['unlinked', null, 'slack:U1', 'alice', 'U1']);
      assert.ok(last.time >= before && last.time <= Date.now(), 'stamped with the time it happened');
      await bind(store, user('U1'), 'bob', T0 + 1);
      assert.equal((await store.getBinding(user('U1')))?.internalUser, 'bob');
    });

    it('unlink for a given internal user removes only a binding to that user, and nothing is audited otherwise', async ({ store }) => {
      await bind(store, user('U1'), 'alice');
      const audited = (await store.listAudit()).length;
      assert.equal(await store.unlink(user('U1'), by, 'mallory'), undefined, 'bound to alice, not to mallory');
      assert.equal((await store.getBinding(user('U1')))?.internalUser, 'alice');
      assert.equal((await store.listAudit()).length, audited);
      assert.equal((await store.unlink(user('U1'), by, 'alice'))?.internalUser, 'alice');
      assert.equal(await store.getBinding(user('U1')), undefined);
    });

    it('revoke: an identity, a team, an enterprise or a person, with their links and pending confirmations', async ({ store }) => {
      await bind(store, user('U1'), 'alice');
      await bind(store, user('U2'), 'bob');
      await create(store, user('U6'), 'open-in-T1');
      await pend(store, user('U7'), 'erin');
      await bind(store, user('U3', 'T2'), 'alice');
      await bind(store, user('U5', 'E1', 'E1', 'TB'), 'dan');
      await bind(store, user('U4', 'E1', 'E1', 'TA'), 'carol');
      await create(store, user('U8', 'E1', 'E1', 'TA'), 'open-in-E1');
      await bind(store, user('U9', 'E2', 'E2', 'TC'), 'frank');
      await pend(store, user('U10', 'T3'), 'frank');
      await create(store, user('U11', 'T3'), 'open-of-U11');
      const revoked = (r: Awaited<ReturnType<Store['revoke']>>) => [r.bindings.map((b) => b.userId), r.links];

      assert.deepEqual(revoked(await store.revoke({ identity: user('U2') }, 'slack_user_deactivated', by)), [['U2'], 0]);
      assert.deepEqual(revoked(await store.revoke({ identity: user('U11', 'T3') }, 'slack_user_deactivated', by)), [[], 1], 'a link alone');
      assert.deepEqual(revoked(await store.revoke({ teamId: 'T1' }, 'app_uninstalled', by)), [['U1'], 2]);
      assert.deepEqual(revoked(await store.revoke({ enterpriseId: 'E1' }, 'team_access_revoked', by)), [['U4', 'U5'], 1]);
      assert.deepEqual(revoked(await store.revoke({ teamId: 'TC' }, 'tokens_revoked', by)), [['U9'], 0], 'one workspace of a Grid org');
      assert.deepEqual(revoked(await store.revoke({ internalUser: 'alice' }, 'admin_api', by)), [['U3'], 0]);
      assert.deepEqual(revoked(await store.revoke({ internalUser: 'frank' }, 'internal_user_inactive', by)), [[], 1], 'their pending confirmation');
      assert.deepEqual(revoked(await store.revoke({ internalUser: 'nobody' }, 'admin_cli', by)), [[], 0]);

      assert.deepEqual(await store.listBindings(), []);
      assert.deepEqual(await store.statsByWorkspace(T0), []);
      const audit = (await store.listAudit()).filter((a) => a.action === 'revoked' || a.action === 'link_cancelled');
      assert.deepEqual(
        audit.map((a) => [a.action, a.reason, a.org, a.teamId, a.slackUser, a.internalUser, a.actor]),
        [
          ['revoked', 'slack_user_deactivated', 'T1', 'T1', 'U2', 'bob', 'test'],
          ['link_cancelled', 'slack_user_deactivated', 'T3', 'T3', 'U11', null, 'test'],
          ['revoked', 'app_uninstalled', 'T1', 'T1', 'U1', 'alice', 'test'],
          ['link_cancelled', 'app_uninstalled', 'T1', 'T1', 'U6', null, 'test'],
          ['link_cancelled', 'app_uninstalled', 'T1', 'T1', 'U7', 'erin', 'test'],
          ['revoked', 'team_access_revoked', 'E1', 'TA', 'U4', 'carol', 'test'],
          ['revoked', 'team_access_revoked', 'E1', 'TB', 'U5', 'dan', 'test'],
          ['link_cancelled', 'team_access_revoked', 'E1', 'TA', 'U8', null, 'test'],
          ['revoked', 'tokens_revoked', 'E2', 'TC', 'U9', 'frank', 'test'],
          ['revoked', 'admin_api', 'T2', 'T2', 'U3', 'alice', 'test'],
          ['link_cancelled', 'internal_user_inactive', 'T3', 'T3', 'U10', 'frank', 'test'],
        ],
      );
    });

    it('a failed audit write leaves the binding, the link and the pending confirmation as they were', async ({ store, failAuditWrites }) => {
      await bind(store, user('U1'), 'alice');
      await create(store, user('U2'), 'a');
      await pend(store, user('U3'), 'carol');
      await failAuditWrites();
      await assert.rejects(store.unlink(user('U1'), by), /audit is full/);
      await assert.rejects(store.revoke({ internalUser: 'alice' }, 'admin_api', by), /audit is full/);
      await assert.rejects(store.purgeExpired(T0, { idleBefore: T0 + 1 }), /audit is full/);
      assert.deepEqual(await store.getBinding(user('U1')), bindingOf(user('U1'), 'alice', T0, 'confirm'), 'the binding is still there');

      await assert.rejects(store.completeLink(nonce('a'), 'bob', 'confirm', T0 + 1, by), /audit is full/);
      await assert.rejects(store.endLink(nonce('a'), T0 + 1, { action: 'link_cancelled', reason: null }, by), /audit is full/);
      assert.deepEqual(await store.getLiveLink(nonce('a'), T0 + 1), linkOf(user('U2'), T0), 'the link is still live');
      assert.equal(await store.getBinding(user('U2')), undefined);

      await assert.rejects(store.confirmCode(user('U3'), rightCode(user('U3')), T0 + 1, 3, by), /audit is full/);
      await assert.rejects(store.confirmCode(user('U3'), wrongCode, T0 + 1, 1, by), /audit is full/);
      await assert.rejects(store.confirmCode(user('U3'), wrongCode, T0 + 1, 3, by), /audit is full/);
      assert.equal(await store.getBinding(user('U3')), undefined);
      assert.deepEqual(await store.statsByWorkspace(T0 + 1), [{ workspace: 'T1', bindings: 1, open_links: 1, pending: 1 }]);

      await assert.rejects(create(store, user('U4'), 'b', T0 + 2), /audit is full/);
      assert.equal(await store.getLiveLink(nonce('b'), T0 + 2), undefined, 'no link without its audit row');
      assert.equal((await store.listAudit()).length, 5, 'nothing was written since');
    });

    it('audit_events is append-only', async ({ store, exec }) => {
      await create(store, user('U1'), 'a');
      await assert.rejects(exec("UPDATE audit_events SET actor = 'someone else'"), /append-only/);
      assert.equal((await store.listAudit())[0]!.actor, 'test');
    });

    it('listAudit: ordered by time, then the order written; filtered by since, internal user and Slack user', async ({ store }) => {
      await create(store, user('U1'), 'a', T0 + 10);
      await create(store, user('U2'), 'b', T0 + 5);
      await create(store, user('U3'), 'c', T0 + 10);
      await store.completeLink(nonce('a'), 'alice', 'confirm', T0 + 10, by);
      await store.completeLink(nonce('c'), 'carol', 'confirm', T0 + 20, by);
      const rows = async (filter: Parameters<Store['listAudit']>[0]) => (await store.listAudit(filter)).map((a) => `${a.time - T0}:${a.action}:${a.slackUser}`);
      assert.deepEqual(await rows({}), ['5:link_created:U2', '10:link_created:U1', '10:link_created:U3', '10:linked:U1', '20:linked:U3']);
      assert.deepEqual(await rows({ since: T0 + 10 }), ['10:link_created:U1', '10:link_created:U3', '10:linked:U1', '20:linked:U3'], 'since is inclusive');
      assert.deepEqual(await rows({ internalUser: 'alice' }), ['10:linked:U1']);
      assert.deepEqual(await rows({ slackUser: 'U3' }), ['10:link_created:U3', '20:linked:U3']);
      assert.deepEqual(await rows({ since: T0 + 11, slackUser: 'U3', internalUser: 'carol' }), ['20:linked:U3']);
      assert.deepEqual(await rows({ since: null, internalUser: null, slackUser: 'U9' }), []);
    });

    it('purgeExpired: expired links and confirmations; old audit rows, idle bindings and old event ids when asked', async ({ store }) => {
      await create(store, user('U1'), 'expired', T0);
      await create(store, user('U2'), 'live', T0 + 1);
      await pend(store, user('U3'), 'carol', T0, 1000);
      await pend(store, user('U4'), 'dan', T0, TTL + 1);
      assert.deepEqual(await store.purgeExpired(T0 + TTL), { links: 2, idle: [] });
      assert.ok(await store.getLiveLink(nonce('live'), T0 + TTL));
      assert.deepEqual(await store.confirmCode(user('U3'), rightCode(user('U3')), T0, 3, by), { outcome: 'none' }, 'purged, not merely expired');
      assert.equal((await store.confirmCode(user('U4'), wrongCode, T0 + TTL, 3, by)).outcome, 'wrong', 'not yet expired');
      assert.deepEqual(await store.purgeExpired(T0 + TTL), { links: 0, idle: [] });

      // Idle: unused (or bound and never used) since before idleBefore.
      await bind(store, user('U5'), 'erin', T0);
      await bind(store, user('U6'), 'frank', T0);
      await bind(store, user('U7'), 'gina', T0 + 5000);
      await store.touchBinding(user('U6'), T0 + 3000);
      const purged = await store.purgeExpired(T0 + 2 * TTL, { idleBefore: T0 + 2000 });
      assert.deepEqual(purged.idle, [bindingOf(user('U5'), 'erin', T0, 'confirm')]);
      assert.deepEqual((await store.listBindings()).map((b) => b.userId), ['U6', 'U7']);
      const idleRow = (await store.listAudit()).at(-1)!;
      assert.deepEqual(
        [idleRow.time, idleRow.action, idleRow.reason, idleRow.slackUser, idleRow.internalUser, idleRow.actor, idleRow.requestId, idleRow.clientAddress],
        [T0 + 2 * TTL, 'revoked', 'idle', 'U5', 'erin', 'system', null, null],
      );

      // Audit retention: rows strictly older than auditBefore go, but for the linked row of the live
      // binding U6 (next test); the idle row just written stays.
      const before = await store.listAudit();
      await store.purgeExpired(T0 + 2 * TTL, { auditBefore: T0 + 5000 });
      const kept = (a: (typeof before)[number]) => a.time >= T0 + 5000 || (a.action === 'linked' && a.slackUser === 'U6');
      assert.deepEqual(await store.listAudit(), before.filter(kept));
      assert.ok(before.some((a) => !kept(a)), 'something was old enough to go');

      // Event ids seen before eventsBefore are forgotten: a delivery of one is first again.
      assert.equal(await store.firstDelivery('Ev1', T0), true);
      assert.equal(await store.firstDelivery('Ev2', T0 + 100), true);
      await store.purgeExpired(T0 + 2 * TTL, { eventsBefore: T0 + 100 });
      assert.equal(await store.firstDelivery('Ev1', T0 + 200), true);
      assert.equal(await store.firstDelivery('Ev2', T0 + 200), false);
    });

    it('purgeExpired: audit retention never deletes the linked row of a live binding (its latest), whatever its age', async ({ store }) => {
      // U1: bound, unlinked, bound again: the second linked row explains the live binding.
      await bind(store, user('U1'), 'alice', T0);
      await store.unlink(user('U1'), by);
      await bind(store, user('U1'), 'alice', T0 + 100);
      // U2: bound, then revoked: nothing live to explain. U1 in another org: another identity, gone too.
      await bind(store, user('U2'), 'bob', T0 + 200);
      await store.revoke({ identity: user('U2') }, 'slack_user_deactivated', by);
      await bind(store, user('U1', 'T2'), 'carol', T0 + 300);
      await store.unlink(user('U1', 'T2'), by);
      const before = await store.listAudit();
      await store.purgeExpired(T0 + TTL, { auditBefore: T0 + 1000 });
      const after = await store.listAudit();
      const old = after.filter((a) => a.time < T0 + 1000);
      assert.deepEqual(
        old.map((a) => [a.action, a.org, a.slackUser, a.internalUser, a.time]),
        [['linked', 'T1', 'U1', 'alice', T0 + 100]],
        "only the live binding's own linked row outlives retention",
      );
      assert.deepEqual(after, before.filter((a) => a.time >= T0 + 1000 || (a.action === 'linked' && a.org === 'T1' && a.time === T0 + 100)));
      // Once that binding ends, its linked row ages out like any other.
      await store.unlink(user('U1'), by);
      await store.purgeExpired(T0 + TTL, { auditBefore: T0 + 1000 });
      assert.deepEqual((await store.listAudit()).filter((a) => a.time < T0 + 1000), []);
      // A binding moved to its enterprise's key (its workspace joined a Grid organisation): the
      // linked row under the workspace's key still explains it.
      await bind(store, user('U3', 'T3'), 'dora', T0 + 400);
      await store.rekeyToEnterprise('T3', 'E3', by);
      assert.equal((await store.getBinding({ org: 'E3', userId: 'U3' }))?.internalUser, 'dora');
      await store.purgeExpired(T0 + TTL, { auditBefore: T0 + 1000 });
      assert.deepEqual(
        (await store.listAudit()).filter((a) => a.time < T0 + 1000).map((a) => [a.action, a.org, a.slackUser]),
        [['linked', 'T3', 'U3']],
      );
    });

    it('touchBinding: lastUsedAt written at most once an hour', async ({ store }) => {
      await bind(store, user('U1'), 'alice');
      await store.touchBinding(user('U1'), T0 + 10);
      assert.equal((await store.getBinding(user('U1')))?.lastUsedAt, T0 + 10);
      await store.touchBinding(user('U1'), T0 + 20);
      assert.equal((await store.getBinding(user('U1')))?.lastUsedAt, T0 + 10, 'within the hour: not written');
      await store.touchBinding(user('U1'), T0 + 10 + LAST_USED_RESOLUTION_MS);
      assert.equal((await store.getBinding(user('U1')))?.lastUsedAt, T0 + 10, 'exactly an hour later: not yet');
      await store.touchBinding(user('U1'), T0 + 11 + LAST_USED_RESOLUTION_MS);
      assert.equal((await store.getBinding(user('U1')))?.lastUsedAt, T0 + 11 + LAST_USED_RESOLUTION_MS);
      await store.touchBinding(user('U2'), T0);
      assert.equal(await store.getBinding(user('U2')), undefined, 'touching no binding makes none');
      assert.deepEqual(await actions(store), ['link_created', 'linked:confirm'], 'not audited');
    });

    /** A slash command's start, at `now`, with the claim `key` (none when null) and, when `link` names one, a link to create. */
    const start = (store: Store, u: SlackUser, now: number, key: string | null, link: string | null = null, perMinute = 0) =>
      store.startCommand({
        user: u,
        now,
        claim: key === null ? null : { key, expiresAt: now + 300_000 },
        link: link === null ? null : () => ({ request, nonceHash: nonce(link), ttlMs: TTL, perMinute }),
        by,
      });

    it('startCommand: a bound user\'s binding as read; its last use written at most once an hour', async ({ store }) => {
      await bind(store, user('U1'), 'alice');
      const bound = bindingOf(user('U1'), 'alice', T0, 'confirm');
      assert.deepEqual(await start(store, user('U1'), T0 + 10, 'sig-1', 'unused'), { outcome: 'bound', binding: bound });
      assert.equal((await store.getBinding(user('U1')))?.lastUsedAt, T0 + 10, 'its last use, written');
      assert.equal(await store.getLiveLink(nonce('unused'), T0 + 10), undefined, 'no link for a bound user');
      assert.deepEqual(await start(store, user('U1'), T0 + 20, 'sig-2'), { outcome: 'bound', binding: { ...bound, lastUsedAt: T0 + 10 } });
      assert.equal((await store.getBinding(user('U1')))?.lastUsedAt, T0 + 10, 'within the hour: not written');
      await start(store, user('U1'), T0 + 10 + LAST_USED_RESOLUTION_MS, 'sig-3');
      assert.equal((await store.getBinding(user('U1')))?.lastUsedAt, T0 + 10, 'exactly an hour later: not yet');
      await start(store, user('U1'), T0 + 11 + LAST_USED_RESOLUTION_MS, null);
      assert.equal((await store.getBinding(user('U1')))?.lastUsedAt, T0 + 11 + LAST_USED_RESOLUTION_MS, 'also without a claim');
      assert.deepEqual(await actions(store), ['link_created', 'linked:confirm'], 'a use is not audited');
    });

    it('startCommand: an unbound user gets the link createLink would make (replacing, rate limited, audited), or none if none is asked', async ({ store }) => {
      assert.deepEqual(await start(store, user('U1'), T0, 'sig-1'), { outcome: 'unbound' });
      assert.deepEqual(await actions(store), [], 'nothing written');
      assert.deepEqual(await start(store, user('U1'), T0, 'sig-2', 'a', 2), { outcome: 'link_created' });
      assert.deepEqual(await store.getLiveLink(nonce('a'), T0), linkOf(user('U1'), T0));
      assert.deepEqual(await start(store, user('U1'), T0 + 1, null, 'b', 2), { outcome: 'link_created' });
      assert.equal(await store.getLiveLink(nonce('a'), T0 + 1), undefined, 'the new link replaced the old one');
      assert.deepEqual(await start(store, user('U1'), T0 + 2, 'sig-3', 'c', 2), { outcome: 'link_rate_limited' });
      assert.ok(await store.getLiveLink(nonce('b'), T0 + 2), 'a refused link leaves the live one');
      assert.equal(await store.getLiveLink(nonce('c'), T0 + 2), undefined);
      assert.equal((await create(store, user('U1'), 'd', T0 + 3, 2)).outcome, 'rate_limited', 'counted with createLink\'s');
      const audit = await store.listAudit();
      assert.deepEqual(
        audit.map((a) => [a.time, a.action, a.reason, a.org, a.teamId, a.slackUser, a.internalUser, a.actor, a.requestId, a.clientAddress]),
        [
          [T0, 'link_created', null, 'T1', 'T1', 'U1', null, 'test', 'req-1', '10.0.0.9'],
          [T0 + 1, 'link_created', null, 'T1', 'T1', 'U1', null, 'test', 'req-1', '10.0.0.9'],
        ],
      );
    });

    it('startCommand: a replayed claim is refused and nothing else is done; claims are those of claimRequest', async ({ store }) => {
      await bind(store, user('U1'), 'alice');
      assert.equal((await start(store, user('U1'), T0 + 1, 'sig-1')).outcome, 'bound');
      const later = T0 + 2 * LAST_USED_RESOLUTION_MS;
      const key = 'sig-2';
      assert.equal((await start(store, user('U2'), T0 + 2, key, 'a')).outcome, 'link_created');
      assert.deepEqual(await start(store, user('U1'), T0 + 3, key), { outcome: 'replayed' }, 'the same key, another user');
      // The claim of sig-1 is still within its window; a last use would be written now, and a link made.
      await store.unlink(user('U1'), by);
      assert.deepEqual(await start(store, user('U1'), T0 + 299_999, 'sig-1', 'b'), { outcome: 'replayed' });
      assert.equal(await store.getLiveLink(nonce('b'), T0 + 299_999), undefined, 'no link');
      await bind(store, user('U3'), 'carol');
      assert.equal(await store.claimRequest('sig-3', later + 300_000, later), true);
      assert.deepEqual(await start(store, user('U3'), later + 1, 'sig-3'), { outcome: 'replayed' }, 'a key claimed by claimRequest');
      assert.equal((await store.getBinding(user('U3')))?.lastUsedAt, null, 'no last use written');
      assert.equal(await start(store, user('U3'), later, 'sig-4').then((r) => r.outcome), 'bound');
      assert.equal(await store.claimRequest('sig-4', later + 300_000, later), false, 'and the other way round');
      assert.deepEqual(await actions(store, { slackUser: 'U1' }), ['link_created', 'linked:confirm', 'unlinked'], 'no link made on a replay');
      assert.deepEqual(await actions(store, { slackUser: 'U2' }), ['link_created']);
      // An expired claim is taken over, as claimRequest's (sig-1 expired at T0 + 300,001 ms; SQLite's
      // in-memory claims keep whole seconds, rounded up).
      assert.equal((await start(store, user('U1'), T0 + 301_000, 'sig-1')).outcome, 'unbound');
      const concurrent = await Promise.all(Array.from({ length: 10 }, (_, i) => start(store, user('U9'), T0, 'sig-9', `burst-${i}`)));
      assert.deepEqual(concurrent.map((r) => r.outcome).sort(), ['link_created', ...Array(9).fill('replayed')], 'of ten at once, one');
    });

    it('startCommand: a concurrent burst of one unbound user\'s commands, across two stores, never exceeds the rate limit', async ({ store, another }) => {
      const other = await another();
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => start(i % 2 ? other : store, user('U1'), T0 + 1000, `burst-${i}`, `burst-${i}`, 3)));
      assert.equal(results.filter((r) => r.outcome === 'link_created').length, 3);
      assert.equal(results.filter((r) => r.outcome === 'link_rate_limited').length, 17);
      assert.deepEqual(await actions(store), ['link_created', 'link_created', 'link_created']);
      const live = (await Promise.all(results.map((_, i) => store.getLiveLink(nonce(`burst-${i}`), T0 + 1000)))).filter(Boolean);
      assert.equal(live.length, 1, 'one live link: each replaced the one before');
    });

    it('startCommand: a failed audit write makes no link', async ({ store, failAuditWrites }) => {
      await failAuditWrites();
      await assert.rejects(start(store, user('U1'), T0, 'sig-1', 'a'), /audit is full/);
      assert.equal(await store.getLiveLink(nonce('a'), T0), undefined);
    });

    it('firstDelivery: true the first time an event id is seen, false after', async ({ store }) => {
      assert.equal(await store.firstDelivery('Ev1', T0), true);
      assert.equal(await store.firstDelivery('Ev1', T0 + 1), false);
      assert.equal(await store.firstDelivery('Ev2', T0 + 1), true);
      const concurrent = await Promise.all(Array.from({ length: 10 }, () => store.firstDelivery('Ev3', T0 + 2)));
      assert.equal(concurrent.filter(Boolean).length, 1);
    });

    it('claimRequest: true the first time, false for a repeat until it expires, then true again', async ({ store }) => {
      assert.equal(await store.claimRequest('sig-1', T0 + 300_000, T0), true);
      assert.equal(await store.claimRequest('sig-1', T0 + 300_000, T0 + 1), false);
      assert.equal(await store.claimRequest('sig-1', T0 + 300_000, T0 + 299_999), false);
      assert.equal(await store.claimRequest('sig-2', T0 + 300_000, T0 + 1), true);
      assert.equal(await store.claimRequest('sig-1', T0 + 600_000, T0 + 300_000), true, 'expired: claimed anew');
      assert.equal(await store.claimRequest('sig-1', T0 + 600_000, T0 + 300_001), false, 'with its new expiry');
      await store.purgeExpired(T0 + 700_000);
      assert.equal(await store.claimRequest('sig-2', T0 + 800_000, T0 + 700_000), true);
      const concurrent = await Promise.all(Array.from({ length: 10 }, () => store.claimRequest('sig-3', T0 + 300_000, T0)));
      assert.equal(concurrent.filter(Boolean).length, 1);
    });

    it('statsByWorkspace: bindings, live links and live pending confirmations per workspace', async ({ store }) => {
      await bind(store, user('U1'), 'alice');
      await bind(store, user('U2'), 'bob');
      await create(store, user('U3'), 'live', T0);
      await create(store, user('U4'), 'expired', T0 - TTL);
      await pend(store, user('U5', 'T2'), 'erin');
      await bind(store, user('U6', 'E1', 'E1'), 'frank');
      assert.deepEqual(await store.statsByWorkspace(T0), [
        { workspace: 'E1', bindings: 1, open_links: 0, pending: 0 },
        { workspace: 'T1', bindings: 2, open_links: 1, pending: 0 },
        { workspace: 'T2', bindings: 0, open_links: 0, pending: 1 },
      ]);
      assert.deepEqual((await store.statsByWorkspace(T0 + TTL)).map((s) => s.workspace), ['E1', 'T1'], 'expired ones are not counted');
    });

    it('listBindings: filtered by workspace (team or enterprise), Slack user and internal user; in byte order', async ({ store }) => {
      await bind(store, user('U1'), 'alice');
      await bind(store, user('U2'), 'Bob');
      await bind(store, user('U3', 'T2'), 'alice');
      await bind(store, user('U4', 'E1', 'E1', 'TA'), 'carol');
      const ids = async (filter: Parameters<Store['listBindings']>[0]) => (await store.listBindings(filter)).map((b) => `${b.internalUser}@${b.org}/${b.userId}`);
      // Byte order, as SQLite sorts: upper case first, whatever the database's locale.
      assert.deepEqual(await ids({}), ['Bob@T1/U2', 'alice@T1/U1', 'alice@T2/U3', 'carol@E1/U4']);
      assert.deepEqual(await ids({ workspace: 'T1' }), ['Bob@T1/U2', 'alice@T1/U1']);
      assert.deepEqual(await ids({ workspace: 'TA' }), ['carol@E1/U4'], 'a Grid workspace by its team id');
      assert.deepEqual(await ids({ workspace: 'E1' }), ['carol@E1/U4'], 'or its enterprise id');
      assert.deepEqual(await ids({ slackUser: 'U3' }), ['alice@T2/U3']);
      assert.deepEqual(await ids({ internalUser: 'alice' }), ['alice@T1/U1', 'alice@T2/U3']);
      assert.deepEqual(await ids({ workspace: 'T1', internalUser: 'alice', slackUser: 'U1' }), ['alice@T1/U1']);
      assert.deepEqual(await ids({ workspace: null, slackUser: null, internalUser: 'nobody' }), []);
      assert.deepEqual(await store.listBindings({ slackUser: 'U4' }), [bindingOf(user('U4', 'E1', 'E1', 'TA'), 'carol', T0, 'confirm')]);
    });

    it('Enterprise Grid: the identity is the enterprise and the user, whichever workspace they come from', async ({ store }) => {
      const inTA = user('U1', 'E1', 'E1', 'TA');
      const inTB = user('U1', 'E1', 'E1', 'TB');
      await bind(store, inTA, 'alice');
      assert.deepEqual(await store.getBinding({ org: 'E1', userId: 'U1' }), bindingOf(inTA, 'alice', T0, 'confirm'));
      await create(store, inTB, 'from-TB', T0 + 1);
      const again = await store.completeLink(nonce('from-TB'), 'mallory', 'confirm', T0 + 2, by);
      assert.equal(again.outcome, 'already_bound', 'one identity across the org\'s workspaces');
      assert.equal(await store.getBinding({ org: 'TA', userId: 'U1' }), undefined, 'a team id is not the org');
      await bind(store, user('U1', 'T9'), 'bob');
      assert.equal((await store.getBinding({ org: 'T9', userId: 'U1' }))?.internalUser, 'bob', 'the same user id elsewhere is another identity');
      const linked = (await store.listAudit({ internalUser: 'alice' }))[0]!;
      assert.deepEqual([linked.org, linked.teamId, linked.slackUser], ['E1', 'TA', 'U1']);
    });

    it('rekeyToEnterprise: a workspace joins a Grid org; its bindings, links and pending confirmations move to the enterprise key, each audited', async ({ store }) => {
      await bind(store, user('U1', 'TA'), 'alice');
      await bind(store, user('U2', 'TA'), 'bob', T0 + 1);
      await create(store, user('U3', 'TA'), 'open-U3', T0 + 2);
      await pend(store, user('U4', 'TA'), 'dora', T0 + 3);
      await bind(store, user('U5', 'TB'), 'erin');

      const moved = await store.rekeyToEnterprise('TA', 'E1', by);
      const asE1 = (u: string) => ({ ...user(u, 'TA'), org: 'E1', enterpriseId: 'E1' });
      assert.deepEqual(moved, { bindings: [bindingOf(asE1('U1'), 'alice', T0, 'confirm'), bindingOf(asE1('U2'), 'bob', T0 + 1, 'confirm')], revoked: [], links: 2 });
      assert.deepEqual(await store.getBinding({ org: 'E1', userId: 'U1' }), bindingOf(asE1('U1'), 'alice', T0, 'confirm'), 'kept as it was, under the new key');
      assert.equal(await store.getBinding({ org: 'TA', userId: 'U1' }), undefined);
      assert.equal((await store.getBinding({ org: 'TB', userId: 'U5' }))?.internalUser, 'erin', 'another workspace stays');
      assert.equal((await store.getLiveLink(nonce('open-U3'), T0 + 4))?.org, 'E1');
      // The code was issued for the workspace's key; the pending confirmation now answers to the enterprise's.
      const bound = await store.confirmCode({ org: 'E1', userId: 'U4' }, rightCode(user('U4', 'TA')), T0 + 5, 3, by);
      assert.equal(bound.outcome, 'bound');
      assert.deepEqual(
        (await store.listAudit()).filter((a) => a.action === 'rekeyed').map((a) => [a.action, a.reason, a.org, a.teamId, a.slackUser, a.internalUser]),
        [
          ['rekeyed', 'grid_migration', 'E1', 'TA', 'U1', 'alice'],
          ['rekeyed', 'grid_migration', 'E1', 'TA', 'U2', 'bob'],
          ['rekeyed', 'grid_migration', 'E1', 'TA', 'U3', null],
          ['rekeyed', 'grid_migration', 'E1', 'TA', 'U4', 'dora'],
        ],
      );
      assert.deepEqual(await store.rekeyToEnterprise('TA', 'E1', by), { bindings: [], revoked: [], links: 0 }, 'done once');
    });

    it('holdsAnything: a binding, a link or a pending confirmation (expired or not) under that key, for that user only; reads only', async ({ store }) => {
      await bind(store, user('U1', 'TA'), 'alice');
      await create(store, user('U2', 'TA'), 'open-U2');
      await pend(store, user('U3', 'TA'), 'carol', T0, 1);
      await create(store, user('U4', 'E1', 'E1', 'TA'), 'open-U4');
      const audited = await store.listAudit();
      for (const u of ['U1', 'U2', 'U3']) assert.equal(await store.holdsAnything({ org: 'TA', userId: u }), true, u);
      assert.equal(await store.holdsAnything({ org: 'TA', userId: 'U4' }), false, 'held under the enterprise key, not the workspace\'s');
      assert.equal(await store.holdsAnything({ org: 'E1', userId: 'U4' }), true);
      assert.equal(await store.holdsAnything({ org: 'E1', userId: 'U1' }), false);
      assert.equal(await store.holdsAnything({ org: 'TB', userId: 'U1' }), false);
      assert.deepEqual(await store.listAudit(), audited, 'nothing written');
      await store.rekeyToEnterprise('TA', 'E1', by, 'U3');
      assert.equal(await store.holdsAnything({ org: 'TA', userId: 'U3' }), false, 'moved');
    });

    it('rekeyToEnterprise: never bound twice (the newer binding stays, the older is revoked); one user when named; a failed audit write moves nothing', async ({ store, failAuditWrites }) => {
      await bind(store, user('U1', 'TA'), 'old-alice', T0);
      await bind(store, user('U1', 'E1', 'E1', 'TB'), 'alice', T0 + 5);
      await bind(store, user('U2', 'E1', 'E1', 'TB'), 'old-bob', T0 + 1);
      await bind(store, user('U2', 'TA'), 'bob', T0 + 10);
      await bind(store, user('U3', 'TA'), 'carol');
      const audited = (await store.listAudit()).length;

      const one = await store.rekeyToEnterprise('TA', 'E1', by, 'U1');
      assert.deepEqual([one.bindings, one.revoked.map((b) => b.internalUser)], [[], ['old-alice']]);
      assert.equal((await store.getBinding({ org: 'E1', userId: 'U1' }))?.internalUser, 'alice', 'the newer, already under the enterprise');
      assert.equal((await store.getBinding({ org: 'TA', userId: 'U3' }))?.internalUser, 'carol', 'only the user named');
      const two = await store.rekeyToEnterprise('TA', 'E1', by, 'U2');
      assert.deepEqual([two.bindings.map((b) => b.internalUser), two.revoked.map((b) => b.internalUser)], [['bob'], ['old-bob']]);
      assert.equal((await store.getBinding({ org: 'E1', userId: 'U2' }))?.internalUser, 'bob', 'the newer, moved');
      assert.deepEqual(
        (await store.listAudit()).slice(audited).map((a) => [a.action, a.reason, a.org, a.slackUser, a.internalUser]),
        [
          ['revoked', 'grid_migration', 'TA', 'U1', 'old-alice'],
          ['revoked', 'grid_migration', 'E1', 'U2', 'old-bob'],
          ['rekeyed', 'grid_migration', 'E1', 'U2', 'bob'],
        ],
      );

      await failAuditWrites();
      await assert.rejects(store.rekeyToEnterprise('TA', 'E1', by));
      assert.equal((await store.getBinding({ org: 'TA', userId: 'U3' }))?.internalUser, 'carol', 'nothing moved without its audit row');
      assert.equal(await store.getBinding({ org: 'E1', userId: 'U3' }), undefined);
    });
  });
}

contract(sqlite);
contract(postgres);

describe('PostgreSQL only', { skip: postgresSkip }, () => {
  const databases: Array<{ drop(): Promise<void> }> = [];
  after(async () => {
    for (const db of databases) await db.drop();
  });
  const fresh = async () => {
    const db = await freshDatabase();
    databases.push(db);
    return db.url;
  };

  test('replicas starting together migrate once (advisory lock), and a newer schema is refused', async () => {
    const url = await fresh();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(url, { poolMax: 2 })));
    try {
      const { rows } = await stores[0]!.pool.query('SELECT version FROM schema_version');
      assert.deepEqual(rows, [{ version: SCHEMA_VERSION }]);
      for (const s of stores) assert.equal(await s.ping(), true);
      await stores[0]!.pool.query('UPDATE schema_version SET version = version + 1');
      await assert.rejects(openPostgresStore(url), new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this program's ${SCHEMA_VERSION}`));
    } finally {
      for (const s of stores) await s.close();
    }
  });

  test("an application role as docs/postgresql.md sets it up cannot delete or truncate the audit trail; retention runs through the schema's function, above its floor", async () => {
    // As the document says: a superuser makes the two roles and gives the database to the owner
    // (not a superuser), which creates the schema and runs the grants; the application gets its role.
    const url = await fresh();
    const as = (role: string) => {
      const u = new URL(url);
      u.username = role;
      u.password = '';
      return u.href;
    };
    const [ownerRole, appRole] = [`binding_owner_${process.pid}`, `binding_app_${process.pid}`];
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${ownerRole} LOGIN; CREATE ROLE ${appRole} LOGIN;
        ALTER DATABASE "${new URL(url).pathname.slice(1)}" OWNER TO ${ownerRole}; ALTER SCHEMA public OWNER TO ${ownerRole}`);
    } finally {
      await admin.end();
    }
    const owner = await openPostgresStore(as(ownerRole));
    const sql = /<!-- audit-role-sql -->\n```sql\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, 'docs/postgresql.md'), 'utf8'))![1]!;
    await owner.pool.query(sql.replaceAll('binding_app', appRole));
    const app = await openPostgresStore(as(appRole));
    try {
      const now = Date.now();
      const day = 86_400_000;
      // As the application: a binding and its trail, old enough to go, and one row 10 days old.
      const u = user('U1');
      await app.createLink({ user: u, request, nonceHash: nonce('old'), now: T0, ttlMs: TTL, perMinute: 0 }, by);
      assert.equal((await app.completeLink(nonce('old'), 'alice', 'confirm', T0, by)).outcome, 'bound');
      await app.createLink({ user: user('U2'), request, nonceHash: nonce('recent'), now: now - 10 * day, ttlMs: TTL, perMinute: 0 }, by);
      for (const statement of ['DELETE FROM audit_events', 'TRUNCATE audit_events', "UPDATE audit_events SET reason = 'x'"]) {
        await assert.rejects(app.pool.query(statement), /permission denied/, statement);
      }
      // Retention, as the server runs it: the old link_created row goes, the live binding's linked row stays.
      await app.purgeExpired(now, { auditBefore: now - day });
      assert.deepEqual((await app.listAudit()).map((a) => `${a.action}:${a.slackUser}`), ['linked:U1', 'link_created:U2']);
      // Asked for everything: the owner's floor (400 days) holds, and the application cannot lower it.
      await assert.rejects(app.pool.query('UPDATE audit_retention_floor SET days = 1'), /permission denied/);
      await assert.rejects(app.pool.query('DELETE FROM audit_retention_floor'), /permission denied/);
      await app.pool.query('SELECT audit_events_retention($1)', [now + day]);
      assert.deepEqual((await app.listAudit()).map((a) => `${a.action}:${a.slackUser}`), ['linked:U1', 'link_created:U2']);
      await app.unlink(u, by);
      await app.purgeExpired(now, { auditBefore: now - day });
      assert.deepEqual((await app.listAudit()).map((a) => `${a.action}:${a.slackUser}`), ['link_created:U2', 'unlinked:U1'], 'the ended binding\'s linked row went');
    } finally {
      await app.close();
      await owner.close();
    }
  });

  test('a version 1 database migrates to allow verified_by slack', async () => {
    const url = await fresh();
    const first = await openPostgresStore(url);
    await first.pool.query(`ALTER TABLE bindings DROP CONSTRAINT bindings_verified_by_check;
      ALTER TABLE bindings ADD CONSTRAINT bindings_verified_by_check CHECK (verified_by IN ('email', 'code', 'confirm'));
      UPDATE schema_version SET version = 1`);
    await first.close();
    const store = await openPostgresStore(url);
    try {
      assert.deepEqual((await store.pool.query('SELECT version FROM schema_version')).rows, [{ version: SCHEMA_VERSION }]);
      await store.pool.query(`INSERT INTO bindings (slack_org, slack_user_id, slack_team_id, slack_user_name, slack_team_domain, internal_user, created_at, verified_by)
        VALUES ('T1', 'U1', 'T1', 'u', 'd', 'alice', 0, 'slack')`);
      await assert.rejects(store.pool.query(`INSERT INTO bindings (slack_org, slack_user_id, slack_team_id, slack_user_name, slack_team_domain, internal_user, created_at, verified_by)
        VALUES ('T1', 'U2', 'T1', 'u', 'd', 'alice', 0, 'other')`), /check constraint/);
    } finally {
      await store.close();
    }
  });

  test('a version 3 database migrates to have start_command', async () => {
    const url = await fresh();
    const first = await openPostgresStore(url);
    await first.pool.query('DROP FUNCTION start_command; UPDATE schema_version SET version = 3');
    await assert.rejects(first.startCommand({ user: user('U1'), now: T0, claim: null, link: null, by }), /start_command/);
    await first.close();
    const store = await openPostgresStore(url);
    try {
      assert.deepEqual((await store.pool.query('SELECT version FROM schema_version')).rows, [{ version: SCHEMA_VERSION }]);
      assert.deepEqual(await store.startCommand({ user: user('U1'), now: T0, claim: { key: 'sig', expiresAt: T0 + 300_000 }, link: null, by }), { outcome: 'unbound' });
    } finally {
      await store.close();
    }
  });

  test('claimRequest holds across replicas: of ten concurrent claims on two stores, one wins', async () => {
    const url = await fresh();
    const [a, b] = [await openPostgresStore(url), await openPostgresStore(url)];
    try {
      const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).claimRequest('sig', T0 + 300_000, T0)));
      assert.equal(claims.filter(Boolean).length, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('startCommand is a prepared statement; where a pooler loses it (a transaction-mode PgBouncer before 1.21), the command still runs, as a plain query from then on', async () => {
    const url = await fresh();
    // One connection: what is done to it out of band is what the next command meets.
    const turnedOff: string[] = [];
    const store = await openPostgresStore(url, { poolMax: 1, onPreparedStatementsOff: (code) => turnedOff.push(code) });
    const alice = user('U1');
    const bound = async (key: string) => (await store.startCommand({ user: alice, now: T0, claim: { key, expiresAt: T0 + 300_000 }, link: null, by })).outcome;
    try {
      await store.pool.query(
        `INSERT INTO bindings (slack_org, slack_user_id, slack_team_id, slack_user_name, slack_team_domain, internal_user, created_at, last_used_at)
         VALUES ($1, $2, $3, 'alice', 'd', 'alice@corp.example', 0, $4)`,
        [alice.org, alice.userId, alice.teamId, T0],
      );
      assert.equal(await bound('k1'), 'bound');
      const statements = async () => (await store.pool.query<{ name: string }>('SELECT name FROM pg_prepared_statements')).rows.map((r) => r.name);
      const [name] = await statements();
      assert.match(name!, /^start_command_[0-9a-f]{16}$/, 'prepared on its connection, its name tied to its text');
      assert.equal(store.preparedStatements, true);
      // As a pooler hands the next call to a server connection that never prepared it.
      await store.pool.query(`DEALLOCATE ${name}`);
      assert.equal(await bound('k2'), 'bound', 'the command runs all the same');
      assert.equal(store.preparedStatements, false);
      assert.equal(await bound('k2'), 'replayed', 'the claim was made once: the first try ran nothing');
      assert.equal(await bound('k3'), 'bound');
      assert.deepEqual(await statements(), [], 'plain queries from then on');
      assert.deepEqual(turnedOff, ['26000'], 'said once, with the SQLSTATE');
    } finally {
      await store.close();
    }
  });

  test('a connection that already has a statement of that name (a pooler mixing clients) is met the same way', async () => {
    const url = await fresh();
    const store = await openPostgresStore(url, { poolMax: 1 });
    try {
      // The name this release gives the statement, learnt from a first store on the same database.
      const probe = await openPostgresStore(url, { poolMax: 1 });
      await probe.startCommand({ user: user('U0'), now: T0, claim: null, link: null, by });
      const name = (await probe.pool.query<{ name: string }>('SELECT name FROM pg_prepared_statements')).rows[0]!.name;
      await probe.close();
      await store.pool.query(`PREPARE ${name} AS SELECT 1`);
      const started = await store.startCommand({ user: user('U1'), now: T0, claim: { key: 'k1', expiresAt: T0 + 300_000 }, link: null, by });
      assert.equal(started.outcome, 'unbound');
      assert.equal(store.preparedStatements, false);
    } finally {
      await store.close();
    }
  });

  test('every pooled connection has the statement timeout; the pool stays within poolMax', async () => {
    const url = await fresh();
    const store = await openPostgresStore(url, { poolMax: 2, statementTimeoutMs: 300 });
    try {
      const settings = await Promise.all(Array.from({ length: 6 }, () => store.pool.query<{ t: string; pid: number }>("SELECT current_setting('statement_timeout') AS t, pg_backend_pid() AS pid, pg_sleep(0.05)")));
      assert.deepEqual([...new Set(settings.map((s) => s.rows[0]!.t))], ['300ms']);
      assert.ok(new Set(settings.map((s) => s.rows[0]!.pid)).size <= 2, 'at most poolMax connections');
      await assert.rejects(store.pool.query('SELECT pg_sleep(2)'), /statement timeout/);
      assert.equal(await store.ping(), true, 'the pool goes on after a timeout');
    } finally {
      await store.close();
    }
  });

  test('a connection cut while idle in the pool does not crash the process; the next call gets a new one', async () => {
    const url = await fresh();
    const store = await openPostgresStore(url);
    const admin = new pg.Client(url);
    await admin.connect();
    try {
      assert.equal(await store.ping(), true);
      const { rows } = await admin.query<{ n: number }>(
        "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'slack-account-binding' AND datname = current_database()",
      );
      assert.ok(rows[0]!.n >= 1, 'a pooled connection was cut');
      for (let i = 0; i < 100 && store.connectionErrors === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(store.connectionErrors >= 1, 'the error was heard (and swallowed)');
      assert.equal(await store.ping(), true);
    } finally {
      await admin.end();
      await store.close();
    }
  });

  test('ping is false on a database that can only be read', async () => {
    const url = await fresh();
    const store = await openPostgresStore(url);
    try {
      await store.pool.query(`ALTER DATABASE ${new URL(url).pathname.slice(1)} SET default_transaction_read_only = on`);
      const readOnly = await openPostgresStore(url);
      try {
        assert.equal(await readOnly.ping(), false);
      } finally {
        await readOnly.close();
      }
    } finally {
      await store.close();
    }
  });

  test('a database that does not answer fails fast, and no error carries the password', async () => {
    // Accepts connections and never says a word: without connectionTimeoutMillis, pg would wait forever.
    const sockets = new Set<Socket>();
    const silent = createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      const err = await openPostgresStore(`postgres://app:s3cret-pw@127.0.0.1:${port}/db`).then(
        () => assert.fail('opened'),
        (e: Error) => e,
      );
      assert.ok(Date.now() - started < 3000, `gave up after ${Date.now() - started} ms`);
      assert.match(err.message, /cannot open PostgreSQL at postgres:\/\/app@127\.0\.0\.1:\d+\/db/);
      assert.doesNotMatch(`${err.message} ${err.stack}`, /s3cret-pw/);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
    const refused = await openStore({ databaseUrl: 'postgresql://app:s3cret-pw@127.0.0.1:1/db', databasePath: '', poolMax: 1 }).then(
      () => assert.fail('opened'),
      (e: Error) => e,
    );
    assert.doesNotMatch(`${refused.message} ${refused.stack}`, /s3cret-pw/);
    await assert.rejects(openStore({ databaseUrl: 'mysql://app:s3cret-pw@db/x', databasePath: '', poolMax: 1 }), (e: Error) => !e.message.includes('s3cret'));
  });

  test('openStore: PostgreSQL for a postgres:// URL, SQLite without one', async () => {
    const url = await fresh();
    const onPostgres = (await openStore({ databaseUrl: url, databasePath: '', poolMax: 1 })) as PostgresStore;
    try {
      assert.ok(onPostgres.pool, 'a pool');
      assert.equal(await onPostgres.ping(), true);
    } finally {
      await onPostgres.close();
    }
    const dir = tempDir();
    const onSqlite = await openStore({ databaseUrl: null, databasePath: join(dir, 'x.db'), poolMax: 1 });
    try {
      assert.ok('db' in onSqlite, 'an SQLite store');
    } finally {
      await onSqlite.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
