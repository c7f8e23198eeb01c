// GET /metrics: Prometheus text, counted from real traffic, served only to METRICS_ALLOW.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from './support/http-client.ts';
import { startServer, CONFIRM_ONLY } from './support/server.ts';
import { startSlackStub } from './support/slack-stand-in.ts';
import { commandBody, linkFrom, signedHeaders, slashCommand } from './support/slack.ts';
import { linkAs } from './support/browser.ts';

const value = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no series ${series} in\n${text}`);
  return Number(line.split(' ')[1]);
};

test('counters and the latency histogram follow real traffic; other addresses get 403', async () => {
  const slack = await startSlackStub();
  slack.on('chat.postMessage', () => ({ body: { ok: false, error: 'not_in_channel' } }));
  const server = await startServer({ slackApiUrl: slack.url, env: CONFIRM_ONLY });
  try {
    const body = commandBody({ text: 'link' });
    await request(`${server.url}/slack/commands`, { method: 'POST', headers: signedHeaders(body, { secret: 'wrong' }), body });
    await linkAs(server.url, linkFrom(await slashCommand(server.url, { user: 'UMET', text: 'link' })), 'mia');
    await slashCommand(server.url, { user: 'UMET', text: 'echo hi' });
    await slashCommand(server.url, { user: 'UMET', text: 'whoami' });
    await slack.waitFor('chat.postMessage');
    await new Promise((r) => setTimeout(r, 100));

    const res = await request(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const m = res.body;
    assert.equal(value(m, 'slack_signature_failures_total'), 1);
    assert.equal(value(m, 'links_created_total'), 1);
    assert.equal(value(m, 'links_completed_total'), 1);
    assert.equal(value(m, 'slack_dm_failures_total'), 1);
    assert.equal(value(m, 'slack_commands_total{outcome="link_created"}'), 1);
    assert.equal(value(m, 'slack_commands_total{outcome="command_ok"}'), 1);
    assert.equal(value(m, 'slack_commands_total{outcome="whoami"}'), 1);
    assert.equal(value(m, 'internal_app_request_duration_seconds_count'), 1);
    assert.equal(value(m, 'internal_app_request_duration_seconds_bucket{le="+Inf"}'), 1);
    assert.match(m, /# TYPE internal_app_request_duration_seconds histogram/);
    // The process's memory, read at the scrape: a real Node process's, not zeros.
    const [rss = 0, heapTotal = 0, heapUsed = 0] = ['process_resident_memory_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_heap_size_used_bytes'].map((n) => value(m, n));
    assert.ok(rss > 20e6 && rss < 1e9, `resident memory ${rss}`);
    assert.ok(heapUsed > 1e6 && heapUsed <= heapTotal && heapTotal < rss, `heap ${heapUsed} of ${heapTotal}, resident ${rss}`);
    assert.ok(value(m, 'nodejs_external_memory_bytes') > 0);

    const outside = await request(`${server.url}/metrics`, { localAddress: '127.0.0.2' });
    assert.equal(outside.status, 403);
  } finally {
    await server.stop();
    await slack.close();
  }
});
