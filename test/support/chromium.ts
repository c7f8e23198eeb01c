// Debian's Chromium (driven by playwright-core) in front of the real nginx and the real server: what
// the browser tests share. Screenshots go to test-artifacts/ (git-ignored).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { request } from './http-client.ts';
import { ROOT, startServer, type RunningServer } from './server.ts';
import { startSlackStub, type SlackStub } from './slack-stand-in.ts';
import { commandBody, linkFrom, signedHeaders } from './slack.ts';
import { NGINX_PROXY_SECRET, reserveNginx, startNginx, type RunningNginx } from './nginx.ts';
import { requires } from './requires.ts';

/** Why the browser tests skip on this machine, or false when nginx and Chromium are there. */
export const skipBrowser = requires('/usr/sbin/nginx', 'nginx-light') || requires('/usr/bin/chromium', 'chromium');

export const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export interface BrowserStack {
  slack: SlackStub;
  server: RunningServer;
  nginx: RunningNginx;
  browser: Browser;
  /** Signed in to nginx's SSO as the first of `users`. */
  context: BrowserContext;
  /** A slash command through nginx, as Slack would send it; the link it answered. */
  newLink(user: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The Slack stand-in, the server behind nginx's basic-auth SSO (`users`: name → password), and
 * Chromium. `env` may use the stand-in (its Sign in with Slack client, say).
 */
export async function startBrowserStack(o: { users: Record<string, string>; env?: (slack: SlackStub) => Record<string, string>; height?: number }): Promise<BrowserStack> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const slack = await startSlackStub();
  const reserved = await reserveNginx();
  const env = { PUBLIC_BASE_URL: reserved.url, TRUSTED_PROXY_SECRET: NGINX_PROXY_SECRET, ...o.env?.(slack) };
  const server = await startServer({ slackApiUrl: slack.url, env });
  const nginx = await startNginx(reserved.port, server.port, o.users);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  const [username, password] = Object.entries(o.users)[0]!;
  const context = await browser.newContext({ httpCredentials: { username, password }, viewport: { width: 900, height: o.height ?? 640 } });
  return {
    slack,
    server,
    nginx,
    browser,
    context,
    async newLink(user) {
      const body = commandBody({ user, userName: 'roadrunner', text: 'link' });
      const res = await request(`${nginx.url}/slack/commands`, { method: 'POST', headers: signedHeaders(body), body });
      return linkFrom({ json: JSON.parse(res.body) });
    },
    async stop() {
      await browser.close();
      await nginx.stop();
      await server.stop();
      await slack.close();
    },
  };
}
