// `npm run demo`: the whole product on this machine. Runs the real server on a temporary database
// with local stand-ins for Slack, the SSO proxy and an internal application, walks through the
// story step by step, then leaves everything running so a person can try the link in a browser.
// `npm run demo -- --once` stops after the story (for CI); any step that goes wrong exits 1.
// `npm run demo -- --socket` runs it over Socket Mode: the slash commands reach the server over its
// outbound connection to Slack, and the server has no request URL at all.
// `npm run demo -- --host 0.0.0.0 --port 8080` makes the links open from another machine (a laptop,
// when the demo runs on a server); Enter in the terminal makes a fresh link.
import { createServer } from 'node:http';
import { networkInterfaces } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { slackSignature } from '../slack/signature.ts';
import type { SlackMessage } from '../slack/messages.ts';
import { startSlackStub } from './slack-stand-in.ts';
import { startSsoProxy } from './sso-proxy.ts';
import { startExampleApp, EXAMPLE_SLOW_MS } from './example-app.ts';
import { spawnServer } from './spawn-server.ts';
import { htmlPage, slackMessage } from './render.ts';

const { values: args } = parseArgs({
  options: { once: { type: 'boolean', default: false }, socket: { type: 'boolean', default: false }, host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' } },
});
const once_ = args.once;
const LISTEN_PORT = Number(args.port);
if (!Number.isInteger(LISTEN_PORT) || LISTEN_PORT < 0 || LISTEN_PORT > 65535) {
  console.error(`--port must be a port number (got "${args.port}")`);
  process.exit(2);
}
/** The address a browser elsewhere uses: the first non-loopback IPv4 when listening on all of them. */
const publicHost = (host: string): string => {
  if (host !== '0.0.0.0' && host !== '::') return host;
  const ipv4 = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
  return ipv4?.address ?? '127.0.0.1';
};
const SIGNING_SECRET = 'demo-signing-secret';
const APP_TOKEN = 'demo-internal-app-token';
const SLACK_USER = { id: 'U0DEMO01', name: 'roadrunner', team: 'T0DEMO01', domain: 'acme' };
const INTERNAL_USER = { name: 'alice', email: 'alice@acme.example' };

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
let stepNo = 0;
const step = (title: string) => console.log(`\n${bold(`${++stepNo}. ${title}`)}`);
const show = (who: string, lines: string[]) => {
  console.log(dim(`   ${who}:`));
  for (const line of lines) console.log(`   │ ${line}`);
};
function expect(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`demo step failed: ${what}`);
}

// A stand-in for hooks.slack.com: where delayed answers to slash commands arrive.
const delivered: SlackMessage[] = [];
const hooks = createServer(async (req, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  delivered.push(JSON.parse(body) as SlackMessage);
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
});
hooks.listen(0, '127.0.0.1');
await once(hooks, 'listening');
const hooksUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/`;
/** Waits until `ready()` holds, or fails the step as `what`. */
const until = async (ready: () => boolean, what: string, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    expect(Date.now() < deadline, what);
    await new Promise((r) => setTimeout(r, 50));
  }
};
const nextDelivery = async (count: number, timeoutMs: number): Promise<SlackMessage> => {
  await until(() => delivered.length >= count, 'an answer arrives at the response_url', timeoutMs);
  return delivered[count - 1]!;
};

const slack = await startSlackStub();
slack.emails.set(SLACK_USER.id, INTERNAL_USER.email);
const proxy = await startSsoProxy(INTERNAL_USER.name, INTERNAL_USER.email, args.host, LISTEN_PORT);
const publicUrl = proxy.url.replace('127.0.0.1', publicHost(args.host!));
const app = await startExampleApp(APP_TOKEN);
const dir = mkdtempSync(join(tmpdir(), 'acct-demo-'));
const server = await spawnServer({
  // Over Socket Mode the app-level token replaces the signing secret: Slack signs nothing on a socket.
  ...(args.socket ? { SLACK_APP_TOKEN: 'xapp-1-demo' } : { SLACK_SIGNING_SECRET: SIGNING_SECRET }),
  SLACK_BOT_TOKEN: 'xoxb-demo',
  PUBLIC_BASE_URL: publicUrl,
  HOST: '127.0.0.1',
  // The demo's proxy and Slack stand-ins share the server's network, in a container or not: its
  // loopback-only settings are right (no container warning).
  IN_CONTAINER: '0',
  DATABASE_PATH: join(dir, 'demo.db'),
  SLACK_API_URL: slack.url,
  SLACK_RESPONSE_URL_ALLOW: hooksUrl,
  INTERNAL_APP_URL: app.url,
  INTERNAL_APP_TOKEN: APP_TOKEN,
});
proxy.target = server.url;

if (args.socket) await slack.socketConnected();

let commandNo = 0;
async function slash(text: string): Promise<SlackMessage> {
  const fields = {
    team_id: SLACK_USER.team,
    team_domain: SLACK_USER.domain,
    channel_id: 'C0DEMO01',
    user_id: SLACK_USER.id,
    user_name: SLACK_USER.name,
    command: '/acct',
    text,
    response_url: `${hooksUrl}commands/${++commandNo}`,
  };
  if (args.socket) return (await slack.socketCommand(fields)) as SlackMessage;
  const body = new URLSearchParams(fields).toString();
  const timestamp = String(Math.floor(Date.now() / 1000));
  const res = await fetch(`${server.url}/slack/commands`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': slackSignature(SIGNING_SECRET, timestamp, body),
    },
    body,
  });
  expect(res.status === 200, `/acct ${text} answers 200 (got ${res.status})`);
  return (await res.json()) as SlackMessage;
}
const dmsSoFar = () => slack.calls.filter((c) => c.method === 'chat.postMessage');

async function story(): Promise<void> {
  console.log(bold('slack-account-binding demo'));
  console.log(dim(`   server ${server.url} · SSO proxy stand-in ${proxy.url} (signs everyone in as ${INTERNAL_USER.name})`));
  console.log(dim(`   Slack API stand-in ${slack.url} · example internal app ${app.url} · database ${join(dir, 'demo.db')}`));
  if (args.socket) console.log(dim('   Socket Mode: the server connected out to the Slack stand-in; slash commands arrive over that socket'));

  step(`In Slack, ${SLACK_USER.name} types: /acct report q3`);
  const prompt = await slash('report q3');
  expect(prompt.response_type === 'ephemeral', 'the link is ephemeral');
  show(`Slack shows, only to ${SLACK_USER.name}`, slackMessage(prompt));
  const link = /(http:\/\/\S+\/associate\?nonce=[\w-]+)/.exec(prompt.text)?.[1];
  expect(link, 'the reply holds an association link');

  step(`${SLACK_USER.name} opens the link; the SSO proxy signs them in as ${INTERNAL_USER.name}`);
  const page = await fetch(link);
  const html = await page.text();
  expect(page.status === 200, `the confirmation page opens (got ${page.status})`);
  show('The browser shows', htmlPage(html));

  step('They click "Link and run /acct report q3" (plain "Link accounts" would run nothing)');
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
  const done = await fetch(`${proxy.url}/associate`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: publicUrl },
    body: new URLSearchParams({ nonce: field('nonce'), csrf: field('csrf'), decision: 'link_and_run' }).toString(),
  });
  expect(done.status === 200, `the binding is made (got ${done.status})`);
  show('The browser shows', htmlPage(await done.text()));
  console.log(dim(`   (before binding, the server asked Slack for ${SLACK_USER.name}'s email and compared it with the one the proxy passed: LINK_VERIFICATION=email)`));

  step('Slack delivers a direct message from the app');
  await until(() => dmsSoFar().length >= 1, 'Slack is asked to deliver a DM', 5000);
  const [dm] = dmsSoFar();
  show(`${SLACK_USER.name}'s DMs`, slackMessage(dm!.args as unknown as SlackMessage));

  step('The command typed before linking runs now, as alice, and its answer arrives in the channel');
  show('Slack shows', slackMessage(await nextDelivery(1, 10_000)));

  step('/acct whoami');
  show('Slack shows', slackMessage(await slash('whoami')));

  step('/acct report q4 (the internal application answers at once: inline)');
  const inline = await slash('report q4');
  expect(/alice/.test(inline.text), 'the command ran as alice');
  show('Slack shows', slackMessage(inline));

  step(`/acct slow q4 (the internal application takes ${EXAMPLE_SLOW_MS / 1000} s, longer than Slack waits)`);
  const started = Date.now();
  show('Slack shows at once', slackMessage(await slash('slow q4')));
  expect(Date.now() - started < 3000, 'Slack got its answer within 3 s');
  const later = await nextDelivery(2, 15_000);
  show(`…and ${((Date.now() - started) / 1000).toFixed(1)} s after the command, via response_url`, slackMessage(later));

  step('/acct payroll (the internal application refuses: alice may not)');
  show('Slack shows', slackMessage(await slash('payroll')));

  step('/acct unlink');
  const unlinked = await slash('unlink');
  expect(/Unlinked from alice/.test(unlinked.text), 'the binding is gone');
  show('Slack shows', slackMessage(unlinked));
  expect(dmsSoFar().length === 1, 'exactly one DM was sent');
}

const shutdown = async (code: number) => {
  await server.stop();
  await Promise.all([slack.close(), proxy.close(), app.close(), new Promise((r) => hooks.close(r))]);
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
};

try {
  await story();
} catch (err) {
  console.error(`\n${(err as Error).message}\n--- server log ---\n${server.output()}`);
  await shutdown(1);
}

if (once_) {
  console.log(`\n${bold('Demo complete.')}`);
  await shutdown(0);
} else {
  /** A fresh link for the demo's Slack user, unlinking first if they linked in the browser meanwhile. */
  const freshLink = async (): Promise<string | undefined> => {
    if (/linked to/.test((await slash('whoami')).text)) await slash('unlink');
    return /(http:\/\/\S+\/associate\?nonce=[\w-]+)/.exec((await slash('link')).text)?.[1];
  };
  console.log(`\n${bold('Your turn.')} ${SLACK_USER.name} asked for a new link. Open it in a browser (the proxy stand-in signs you in as ${INTERNAL_USER.name}):`);
  console.log(`\n   ${await freshLink()}\n`);
  console.log(`   It works once and expires in 10 minutes. Press Enter for a fresh link. Slack DMs the server sends are printed below. Ctrl-C stops everything.`);
  if (process.stdin.isTTY) {
    createInterface({ input: process.stdin }).on('line', () => {
      void freshLink().then((link) => console.log(`\n   ${bold('A fresh link:')} ${link}\n`));
    });
  }
  let seen = dmsSoFar().length;
  setInterval(() => {
    for (const dm of dmsSoFar().slice(seen)) show('\n   Slack DM', slackMessage(dm.args as unknown as SlackMessage));
    seen = dmsSoFar().length;
  }, 500).unref();
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
}
