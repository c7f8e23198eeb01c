// Messages we send to Slack on our own initiative, through the Web API.
import { WebClient } from '@slack/web-api';
import type { SlackMessage } from './messages.ts';

export interface SlackApiOptions {
  botToken: string;
  slackApiUrl: string;
}

export type SlackApi = ReturnType<typeof createSlackApi>;

export function createSlackApi({ botToken, slackApiUrl }: SlackApiOptions) {
  const client = new WebClient(botToken, {
    slackApiUrl,
    // WebClient's default retries for about 30 minutes; a DM that late is worse than none.
    retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
    // Its own console logger would print outside our JSON lines.
    logger: { debug() {}, info() {}, warn() {}, error() {}, setLevel() {}, getLevel: () => 'error' as never, setName() {} },
  });

  return {
    /** The user's email from their Slack profile (scope users:read.email), or null when hidden. */
    async userEmail(userId: string): Promise<string | null> {
      const res = await client.users.info({ user: userId });
      const email = res.user?.profile?.email;
      return typeof email === 'string' && email ? email : null;
    },

    /** A direct message: open (or find) the IM channel with the user, then post into it. */
    async dm(userId: string, message: SlackMessage): Promise<void> {
      const im = await client.conversations.open({ users: userId });
      const channel = im.channel?.id;
      if (!channel) throw new Error('conversations.open returned no channel');
      await client.chat.postMessage({ channel, text: message.text, blocks: message.blocks as never });
    },
  };
}
