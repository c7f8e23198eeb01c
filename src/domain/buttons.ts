// What a click does (an interaction), whichever transport brought it: our own buttons carry the
// acct. prefix (Unlink, Link my account); any other belongs to the internal application and runs
// there as the bound user. The click is acknowledged at once; the work runs in the background and
// reaches the user through the response_url, a DM or the Home tab.
import * as messages from '../slack/messages.ts';
import type { BlockActions, Interaction } from '../slack/interaction-payload.ts';
import type { SlackApi } from '../slack/api.ts';
import type { Config } from '../config/index.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';
import type { Background } from '../lib/background.ts';
import type { Actor, SlackUser } from '../model.ts';
import type { OutcomeOf } from '../outcomes.ts';
import type { Linking } from './linking.ts';
import type { Home } from './home.ts';
import type { RunAsUser } from './run-as-user.ts';
import type { DeliverAnswer } from './answer-delivery.ts';

export interface ButtonsDeps {
  config: Pick<Config, 'slashCommand' | 'linkRateLimitPerMinute' | 'nonceTtlSeconds'>;
  store: Pick<Store, 'getBinding'>;
  linking: Pick<Linking, 'start' | 'unlink'>;
  runAsUser: Pick<RunAsUser, 'runAction'>;
  home: Pick<Home, 'publish'>;
  slack: Pick<SlackApi, 'responseUrlAllowed' | 'dm'>;
  deliver: DeliverAnswer;
  background: Background;
  log: Logger;
}

export interface Clicked {
  outcome: OutcomeOf<'interactions'>;
  who?: SlackUser;
  /** For the log: what kind of payload was ignored. */
  detail?: string;
}

export type Buttons = ReturnType<typeof createButtons>;

export function createButtons({ config, store, linking, runAsUser, home, slack, deliver, background, log }: ButtonsDeps) {
  const actor = (a: BlockActions, requestId: string): Actor => ({ actor: `slack:${a.user.userId}`, requestId, clientAddress: null });

  /** A message back to where the click happened; never to a response_url we may not use. */
  const reply = async (a: BlockActions, message: messages.SlackMessage, requestId: string): Promise<void> => {
    if (!slack.responseUrlAllowed(a.responseUrl)) {
      log.warn('response_url_refused', { request_id: requestId, slack_user: a.user.userId });
      return;
    }
    await deliver(a.responseUrl, message, { requestId, slackUser: a.user.userId });
  };

  /** A fresh link for the clicking user, where they clicked: the App Home, or the message. */
  const newLink = async (a: BlockActions, requestId: string, reason = 'Here is a new link.'): Promise<void> => {
    const request = { command: config.slashCommand, pendingText: null, channelId: a.channelId, responseUrl: a.responseUrl };
    const started = await linking.start(a.user, request, actor(a, requestId));
    if (a.container === 'view') {
      // The App Home: the fresh link replaces the button there.
      await home.publish(a.user, started.outcome === 'link_created' ? started.url : undefined);
      return;
    }
    const message =
      started.outcome === 'link_created' ? messages.linkPrompt(started.url, reason, config.nonceTtlSeconds) : messages.tooManyLinks(config.linkRateLimitPerMinute);
    await reply(a, a.action.actionId === 'acct.new_link' ? { ...message, replace_original: true } : message, requestId);
  };

  const unlink = async (a: BlockActions, requestId: string): Promise<void> => {
    const result = await linking.unlink(a.user, actor(a, requestId));
    if (result.outcome === 'unlinked') await slack.dm(a.user.userId, messages.unlinked(config.slashCommand, result.binding));
    await home.publish(a.user);
  };

  /** A click on the internal application's own message: run as the bound user, answered where it was. */
  const forward = async (a: BlockActions, requestId: string): Promise<void> => {
    const binding = await store.getBinding(a.user);
    if (!binding) return newLink(a, requestId, 'To use that button as yourself, link your account first.');
    const click = { action: { action_id: a.action.actionId, block_id: a.action.blockId, value: a.action.value, selected_option: a.action.selectedOption }, channelId: a.channelId, messageTs: a.messageTs };
    const result = await runAsUser.runAction(binding, click, requestId);
    await reply(a, result.message, requestId);
  };

  return {
    /** The click's outcome, now (the acknowledgement); its work, if any, started in the background. */
    handle(interaction: Interaction, requestId: string): Clicked {
      // view_submission, shortcuts and the rest: not supported, acknowledged so Slack shows no error.
      if (interaction.kind === 'ignored') return { outcome: 'ignored', detail: interaction.type };
      const id = interaction.action.actionId;
      const [outcome, work] =
        id === 'acct.unlink'
          ? (['unlink', unlink] as const)
          : id === 'acct.new_link'
            ? (['new_link', newLink] as const)
            : // acct.open_link (the URL button) and any other acct. action: the acknowledgement is all.
              id.startsWith(messages.OWN_ACTION_PREFIX)
              ? (['acknowledged', null] as const)
              : (['forwarded', forward] as const);
      // Its answer could only go back through the response_url: refused, the click would run as the
      // user with nothing to tell them, so the internal application is not called at all.
      if (outcome === 'forwarded' && !slack.responseUrlAllowed(interaction.responseUrl)) {
        log.warn('response_url_refused', { request_id: requestId, slack_user: interaction.user.userId });
        return { outcome: 'forward_refused', who: interaction.user, detail: id };
      }
      if (work) background.run('slack_interaction', { request_id: requestId, slack_user: interaction.user.userId, action_id: id }, () => work(interaction, requestId));
      return { outcome, who: interaction.user };
    },
  };
}
