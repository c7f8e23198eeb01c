// Our own failures while serving real requests: Slack gets an apology, never a 5xx.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { request } from './support/http-client.ts';
import { startServer, CONFIRM_ONLY } from './support/server.ts';
import { startSlackStub } from './support/slack-stand-in.ts';
import { slashCommand } from './support/slack.ts';

test('a locked database: commands get a 200 ephemeral apology with a request id, /healthz says 503', async (t) => {
  const slack = await startSlackStub();
  const server = await startServer({ slackApiUrl: slack.url, env: CONFIRM_ONLY });
  t.after(async () => {
    await server.stop();
    await slack.close();
  });
  const holder = new Database(server.databasePath);
  try {
    // Another process holds the write lock (think: a stuck maintenance job).
    holder.exec('BEGIN IMMEDIATE');
    holder.exec("INSERT INTO audit_events (id, time, action, actor) VALUES ('lock-test', 0, 'linked', 'test')");

    const res = await slashCommand(server.url, { user: 'UBUSY', text: 'link' });
    assert.equal(res.status, 200);
    assert.equal(res.json.response_type, 'ephemeral');
    const requestId = String(res.headers['x-request-id']);
    assert.match(res.json.text, new RegExp(`Sorry, something went wrong.*request ${requestId}`));
    const [logged] = await server.waitForLog((l) => l.event === 'command_failed' && l.request_id === requestId);
    assert.ok(logged, 'the failure is logged with the request id');
    assert.match(String(logged.error), /busy|locked/i);

    assert.equal((await request(`${server.url}/healthz`)).status, 503);
  } finally {
    if (holder.inTransaction) holder.exec('ROLLBACK');
    holder.close();
  }
  // Once the lock is gone the same server works again: nothing was left half done.
  assert.equal((await request(`${server.url}/healthz`)).status, 200);
  const after = await slashCommand(server.url, { user: 'UBUSY', text: 'link' });
  assert.match(after.json.text, /associate\?nonce=/);
});
