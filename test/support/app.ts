// The app built in-process, for fast tests of routes and the domain: createApp with a real SQLite
// store in memory, a stand-in for the Slack API object that records what it was asked, and a
// runner that answers at once. Listens on a real ephemeral port, so requests are real HTTP.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createBackground } from '../../src/lib/background.ts';
import { createMetrics, type Metrics } from '../../src/lib/metrics.ts';
import { deriveKeys } from '../../src/domain/secrets.ts';
import type { HomeView, SlackApi } from '../../src/slack/api.ts';
import type { SlackMessage } from '../../src/slack/messages.ts';
import type { CommandRequest, CommandRunner } from '../../src/runners/runner.ts';
import { SIGNING_SECRET } from './server.ts';

export interface RecordingSlack extends SlackApi {
  dms: Array<{ userId: string; message: SlackMessage }>;
  homes: Array<{ userId: string; view: HomeView }>;
  responses: Array<{ url: string; message: SlackMessage }>;
  /** Slack user id → profile email (users.info). */
  emails: Map<string, string>;
}

export function recordingSlack(): RecordingSlack {
  const dms: RecordingSlack['dms'] = [];
  const homes: RecordingSlack['homes'] = [];
  const responses: RecordingSlack['responses'] = [];
  const emails = new Map<string, string>();
  return {
    dms,
    homes,
    responses,
    emails,
    responseUrlAllowed: (raw): raw is string => typeof raw === 'string' && raw.startsWith('https://hooks.slack.com/'),
    async respond(url, message) {
      responses.push({ url, message });
    },
    async userEmail(userId) {
      return emails.get(userId) ?? null;
    },
    async dm(userId, message) {
      dms.push({ userId, message });
    },
    async publishHome(userId, view) {
      homes.push({ userId, view });
    },
  };
}

/** Answers every command at once with what it was asked, as whom. */
export function echoRunner(): CommandRunner & { calls: CommandRequest[] } {
  const calls: CommandRequest[] = [];
  return {
    calls,
    builtins: null,
    async run(req) {
      calls.push(req);
      return { outcome: 'ok', message: { response_type: 'ephemeral', text: `ran ${req.text} as ${req.internal_user}` } };
    },
    async runAction(req) {
      return { outcome: 'ok', message: { text: `clicked ${req.action.action_id} as ${req.internal_user}`, replace_original: true } };
    },
  };
}

export interface InProcessApp {
  url: string;
  config: Config;
  store: SqliteStore;
  slack: RecordingSlack;
  runner: ReturnType<typeof echoRunner>;
  metrics: Metrics;
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startApp(env: Record<string, string> = {}): Promise<InProcessApp> {
  const config = loadConfig({
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: 'xoxb-in-process',
    PUBLIC_BASE_URL: 'https://slack-link.corp.example',
    LINK_VERIFICATION: 'confirm',
    ...env,
  });
  const store = openSqliteStore(':memory:');
  const slack = recordingSlack();
  const runner = echoRunner();
  const metrics = createMetrics();
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger((line) => logs.push(JSON.parse(line)));
  const background = createBackground(log);
  const { server } = createApp({ config, store, keys: deriveKeys(config.signingSecret), log, slack, background, runner, metrics });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    config,
    store,
    slack,
    runner,
    metrics,
    logs,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await background.drain(1000);
      await store.close();
    },
  };
}
