// The App Home, kept current: published when a user opens it, and republished (best effort, in the
// background, never making anyone wait) after their binding changes.
import { homeView } from '../slack/home-view.ts';
import { describe, type Logger } from '../lib/log.ts';
import type { SlackApi } from '../slack/api.ts';
import type { Background } from '../lib/background.ts';
import type { Config } from '../config/index.ts';
import type { SlackIdentity } from '../model.ts';
import type { Store } from '../store/store.ts';

export interface HomeDeps {
  config: Pick<Config, 'appName' | 'slashCommand' | 'publicBaseUrl' | 'nonceTtlSeconds'>;
  store: Pick<Store, 'getBinding'>;
  slack: Pick<SlackApi, 'publishHome'>;
  background: Background;
  log: Logger;
}

export type Home = ReturnType<typeof createHome>;

export function createHome({ config, store, slack, background, log }: HomeDeps) {
  const options = { appName: config.appName, command: config.slashCommand, linksUrl: `${config.publicBaseUrl}/links` };

  /** Publishes the user's Home tab now; `linkUrl` shows a fresh link instead of the button. */
  const publish = async (user: SlackIdentity, linkUrl?: string): Promise<void> => {
    const binding = await store.getBinding(user);
    const link = linkUrl && !binding ? { url: linkUrl, ttlSeconds: config.nonceTtlSeconds } : undefined;
    await slack.publishHome(user.userId, homeView(binding, { ...options, link }));
  };

  return {
    publish,
    /** After a change: republish in the background; a failure is logged, never thrown. */
    refresh(user: SlackIdentity, requestId: string | null): void {
      background.run('home_published', { request_id: requestId ?? undefined, slack_user: user.userId }, async () => {
        try {
          await publish(user);
        } catch (err) {
          log.warn('home_publish_failed', { request_id: requestId ?? undefined, slack_user: user.userId, error: describe(err) });
        }
      });
    },
  };
}
