// The service built in-process, for fast tests of the domain and the routes: the real parts
// (loadConfig, a SQLite store on a temporary file, the Slack Web API client pointed at the Slack
// stand-in, the internal-application runner pointed at its stand-in, response_urls caught by a
// local catcher), nothing of ours replaced. startApp also listens on an ephemeral port, so
// requests are real HTTP; parts() alone is the domain without a server.
import { once } from 'node:events';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApp, slackSignInFor, type AppDeps } from '../../src/app.ts';
import type { SocketMode } from '../../src/slack/socket-mode.ts';
import { createDomain, type Domain } from '../../src/domain/service.ts';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createBackground, type Background } from '../../src/lib/background.ts';
import { createMetrics, type Metrics } from '../../src/lib/metrics.ts';
import { serverKeys } from '../../src/domain/secrets.ts';
import type { SlackWorkspace } from '../../src/model.ts';
import { createSlackApi } from '../../src/slack/api.ts';
import { reportRateLimits } from '../../src/slack/rate-limit.ts';
import { createInternalApp } from '../../src/runners/internal-app.ts';
import { APP_TOKEN, startInternalApp, startResponseCatcher, type TestHttpServer } from './internal-app.ts';
import { startSlackStub, type SlackStub } from './slack-stand-in.ts';
import { SIGNING_SECRET, tempDir } from './server.ts';

export interface Parts {
  config: Config;
  store: SqliteStore;
  /** The Slack stand-in: every Web API call the service made. */
  slack: SlackStub;
  /** The internal application's stand-in: every command and click it received. */
  internalApp: TestHttpServer;
  /** Where response_urls point (SLACK_RESPONSE_URL_ALLOW): every delayed answer. */
  hooks: TestHttpServer;
  domain: Domain;
  background: Background;
  metrics: Metrics;
  logs: Array<Record<string, unknown>>;
  /** A response_url on the catcher, for payloads the service will answer through. */
  responseUrl(path?: string): string;
  close(): Promise<void>;
}

export interface PartsOptions {
  /** Background tasks allowed in flight (the default is the server's). */
  maxBackground?: number;
  /** The workspace the app serves (auth.test's at startup); the stand-in's T0001 (acme) unless given. */
  workspace?: SlackWorkspace;
  /** Sign in with Slack on: SLACK_CLIENT_ID and its secret are the stand-in's. */
  signIn?: boolean;
}

export interface AppOptions extends PartsOptions {
  /** Socket Mode's backoff and pings (with SLACK_APP_TOKEN in env): the server's defaults unless given. */
  socket?: { backoffMs?: { min: number; max: number }; pingIntervalMs?: number };
}

/** What the service is built from (`env` as the server reads it, LINK_VERIFICATION=confirm unless given), and the stand-ins it talks to. */
async function build(env: Record<string, string>, o: PartsOptions): Promise<Omit<Parts, 'domain'> & { deps: AppDeps }> {
  const [slack, internalApp, hooks] = await Promise.all([startSlackStub(), startInternalApp(), startResponseCatcher()]);
  const config = loadConfig({
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: 'xoxb-in-process',
    PUBLIC_BASE_URL: 'https://slack-link.corp.example',
    LINK_VERIFICATION: 'confirm',
    SLACK_API_URL: slack.url,
    SLACK_RESPONSE_URL_ALLOW: hooks.url,
    INTERNAL_APP_URL: internalApp.url,
    INTERNAL_APP_TOKEN: APP_TOKEN,
    ...(o.signIn && { SLACK_CLIENT_ID: slack.oidc.clientId, SLACK_CLIENT_SECRET: slack.oidc.clientSecret }),
    ...env,
  });
  const store = openSqliteStore(join(tempDir(), 'in-process.db'));
  const metrics = createMetrics();
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger((line) => logs.push(JSON.parse(line)));
  const background = createBackground(log, o.maxBackground);
  const deps: AppDeps = {
    config,
    store,
    keys: serverKeys(config),
    slack: createSlackApi({ ...config, onRateLimited: reportRateLimits(log, metrics) }),
    runner: createInternalApp(config.internalApp!),
    log,
    metrics,
    background,
    // What the stand-in's auth.test says, as the startup self-check would have read it.
    workspace: async () => o.workspace ?? { teamId: 'T0001', enterpriseId: null, domain: 'acme' },
  };
  let responses = 0;
  return {
    deps,
    config,
    store,
    slack,
    internalApp,
    hooks,
    background,
    metrics,
    logs,
    responseUrl: (path = `commands/${++responses}`) => `${hooks.url}${path}`,
    async close() {
      await background.drain(2000);
      await store.close();
      await Promise.all([slack.close(), internalApp.close(), hooks.close()]);
    },
  };
}

/** The domain and everything it talks to, without a server. */
export async function parts(env: Record<string, string> = {}, o: PartsOptions = {}): Promise<Parts> {
  const { deps, ...p } = await build(env, o);
  return { ...p, domain: createDomain({ ...deps, signIn: slackSignInFor(p.config) }) };
}

export interface InProcessApp extends Parts {
  url: string;
  /** Socket Mode, connected, when SLACK_APP_TOKEN was given. */
  socket: SocketMode | null;
}

/** The whole service on a real ephemeral port, built from its real parts. */
export async function startApp(env: Record<string, string> = {}, o: AppOptions = {}): Promise<InProcessApp> {
  const { deps, ...p } = await build(env, o);
  const { server, domain, socket } = createApp(deps, { socket: o.socket });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  socket?.start();
  return {
    ...p,
    domain,
    socket,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await socket?.stop(1000);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await p.close();
    },
  };
}
