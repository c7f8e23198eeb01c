// The real server with every stand-in it talks to: Slack (Web API), the internal application and
// the catcher of response_urls, the server pointed at them (the core flow, no link rate limit).
import { APP_TOKEN, startInternalApp, startResponseCatcher, type ResponseCatcher, type TestHttpServer } from './internal-app.ts';
import { CONFIRM_ONLY, startServer, type RunningServer } from './server.ts';
import { startSlackStub, type SlackStub } from './slack-stand-in.ts';

export interface WithStandIns {
  slack: SlackStub;
  app: TestHttpServer;
  hooks: ResponseCatcher;
  server: RunningServer;
  /** The server, then the stand-ins. */
  stop(): Promise<void>;
}

/** `env` adds to (or overrides) the server's settings. */
export async function startWithStandIns(env: Record<string, string> = {}): Promise<WithStandIns> {
  const [slack, app, hooks] = await Promise.all([startSlackStub(), startInternalApp(), startResponseCatcher()]);
  const server = await startServer({
    slackApiUrl: slack.url,
    env: { ...CONFIRM_ONLY, INTERNAL_APP_URL: `${app.url}cmd`, INTERNAL_APP_TOKEN: APP_TOKEN, SLACK_RESPONSE_URL_ALLOW: hooks.url, LINK_RATE_LIMIT_PER_MINUTE: '0', ...env },
  });
  return {
    slack,
    app,
    hooks,
    server,
    async stop() {
      await server.stop();
      await Promise.all([slack.close(), app.close(), hooks.close()]);
    },
  };
}
