// Run inside the image (Node 24) by smoke.test.ts: our store under an HTTP load that this same
// process generates. That load makes Node run garbage collections from its own callbacks, and
// there better-sqlite3 12 aborts the process if it frees any of its native objects (a statement
// prepared and dropped, as db.pragma() does). Prints "survived" and exits 0 if nothing aborted.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openSqliteStore } from '../../src/store/sqlite.ts';

const store = openSqliteStore(process.argv[2]!);
const user = (n: number) => ({ org: 'T0GC', userId: `U${n}`, teamId: 'T0GC', enterpriseId: null, userName: `u${n}`, teamDomain: 'gc' });
const request = { command: '/acct', pendingText: null, channelId: null, responseUrl: null };
const by = { actor: 'gc-test', requestId: null, clientAddress: null };

let n = 0;
// Every kind of store call, so that any of them dropping a native object would be caught.
const server = createServer(async (_req, res) => {
  const i = n++;
  const now = Date.now();
  const binding = await store.getBinding(user(i % 10));
  if (i % 10 === 0) {
    const nonceHash = Buffer.alloc(32, i % 251);
    await store.createLink({ user: user(i), request, nonceHash, now, ttlMs: 60_000, perMinute: 0 }, by);
    await store.getLiveLink(nonceHash, now);
    await store.completeLink(nonceHash, `person${i}`, 'confirm', now, by);
    await store.unlink(user(i), by);
    await store.revoke({ internalUser: `person${i}` }, 'admin_cli', by);
  }
  if (i % 1000 === 0) {
    await store.ping();
    await store.purgeExpired(now, { auditBefore: now - 1000, idleBefore: 0, eventsBefore: now - 1000 });
    await store.firstDelivery(`Ev${i}`, now);
    await store.touchBinding(user(i % 10), now);
    await store.statsByWorkspace(now);
    await store.listBindings({ workspace: 'T0GC' });
    await store.listAudit({ since: now - 1000 });
  }
  res.end(JSON.stringify(Array.from({ length: 200 }, (_, k) => ({ k, binding, s: 'x'.repeat(50) })).slice(0, 3)));
});
server.listen(0, '127.0.0.1', async () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const until = Date.now() + 3000;
  while (Date.now() < until) await Promise.all(Array.from({ length: 50 }, () => fetch(url).then((r) => r.text())));
  console.log(`survived ${n} requests`);
  await store.close();
  process.exit(0);
});
