// POST /slack/interactions, the interactivity request URL: verify Slack's signature → parse the
// payload → acknowledge at once; the work runs after the answer and reaches the user through the
// response_url or the Web API. Our own buttons carry the acct. prefix; any other click belongs to
// the internal application and is forwarded as the bound user.
import { HttpError, mediaType, parseForm, type Context, type Route } from '../http.ts';
import { parseInteraction, type BlockActions } from '../slack/interaction-payload.ts';
import * as messages from '../slack/messages.ts';
import { MAX_COMMAND_BODY } from './commands.ts';
import { readSignedBody, refuseReplay, type ClaimRequest } from './slack-guard.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Background } from '../lib/background.ts';
import type { Linking } from '../domain/linking.ts';
import type { Home } from '../domain/home.ts';
import type { SlackApi } from '../slack/api.ts';
import type { CommandRunner } from '../runners/runner.ts';
import type { Config } from '../config.ts';
import type { Store } from '../store/store.ts';
import type { OutcomeOf } from '../outcomes.ts';

export interface InteractionsRouteDeps {
  config: Pick<Config, 'signingSecret' | 'slashCommand' | 'linkRateLimitPerMinute' | 'nonceTtlSeconds'>;
  store: Pick<Store, 'getBinding' | 'touchBinding'>;
  /** Replay protection, as for commands: a click must not run twice (Slack never resends one). */
  claimRequest: ClaimRequest;
  linking: Pick<Linking, 'start' | 'unlink' | 'revoke'>;
  home: Home;
  slack: SlackApi;
  runner: CommandRunner;
  background: Background;
  log: Logger;
  metrics: Metrics;
}

export function interactionsRoute({ config, store, claimRequest, linking, home, slack, runner, background, log, metrics }: InteractionsRouteDeps): Route {
  const record = (ctx: Context, outcome: OutcomeOf<'interactions'>) => (ctx.fields.outcome = outcome);

  /** A message back to where the click happened; never to a response_url we may not use. */
  const reply = async (a: BlockActions, message: messages.SlackMessage, requestId: string): Promise<void> => {
    if (!slack.responseUrlAllowed(a.responseUrl)) {
      log.warn('response_url_refused', { request_id: requestId, slack_user: a.user.userId });
      return;
    }
    await slack.respond(a.responseUrl, message);
  };

  const newLink = async (a: BlockActions, requestId: string): Promise<void> => {
    const by = { actor: `slack:${a.user.userId}`, requestId, clientAddress: null };
    const request = { command: config.slashCommand, pendingText: null, channelId: a.channelId, responseUrl: a.responseUrl };
    const started = await linking.start(a.user, request, by);
    if (a.container === 'view') {
      // The App Home: the fresh link replaces the button there.
      await home.publish(a.user, started.outcome === 'link_created' ? started.url : undefined);
      return;
    }
    const message =
      started.outcome === 'link_created'
        ? messages.linkPrompt(started.url, 'Here is a new link.', config.nonceTtlSeconds)
        : messages.tooManyLinks(config.linkRateLimitPerMinute);
    await reply(a, { ...message, replace_original: true }, requestId);
  };

  const unlink = async (a: BlockActions, requestId: string): Promise<void> => {
    const result = await linking.unlink(a.user, { actor: `slack:${a.user.userId}`, requestId, clientAddress: null });
    if (result.outcome === 'unlinked') await slack.dm(a.user.userId, messages.unlinked(config.slashCommand, result.binding));
    await home.publish(a.user);
  };

  /** A click on the internal application's own message: run as the bound user, answer where it was. */
  const forward = async (a: BlockActions, requestId: string): Promise<void> => {
    const binding = await store.getBinding(a.user);
    if (!binding) {
      const request = { command: config.slashCommand, pendingText: null, channelId: a.channelId, responseUrl: a.responseUrl };
      const started = await linking.start(a.user, request, { actor: `slack:${a.user.userId}`, requestId, clientAddress: null });
      const message =
        started.outcome === 'link_created'
          ? messages.linkPrompt(started.url, 'To use that button as yourself, link your account first.', config.nonceTtlSeconds)
          : messages.tooManyLinks(config.linkRateLimitPerMinute);
      await reply(a, message, requestId);
      return;
    }
    const result = await runner.runAction(
      {
        type: 'action',
        internal_user: binding.internalUser,
        action: { action_id: a.action.actionId, block_id: a.action.blockId, value: a.action.value, selected_option: a.action.selectedOption },
        slack: { team_id: a.user.teamId, enterprise_id: a.user.enterpriseId, user_id: a.user.userId, channel_id: a.channelId, message_ts: a.messageTs },
      },
      requestId,
    );
    log[result.outcome === 'ok' ? 'info' : 'warn']('internal_app_action', { request_id: requestId, slack_user: a.user.userId, internal_user: binding.internalUser, outcome: result.outcome, detail: result.detail });
    // As for commands: a 410 ends the binding; any click counts as a use.
    if (result.outcome === 'user_gone') await linking.revoke({ identity: binding }, 'internal_user_inactive', { actor: 'internal_app', requestId, clientAddress: null });
    else await store.touchBinding(binding, Date.now());
    await reply(a, result.message, requestId);
  };

  return {
    operation: 'interactions',
    async POST(ctx) {
      const body = await readSignedBody(ctx, MAX_COMMAND_BODY, config.signingSecret, log, metrics);
      await refuseReplay(ctx, claimRequest, log, metrics);
      if (mediaType(ctx.req) !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'Interactions are sent as application/x-www-form-urlencoded.');
      const parsed = parseInteraction(parseForm(body));
      if (!parsed.ok) throw new HttpError(400, 'The interaction payload is not valid.', {}, parsed.problem);
      const { interaction } = parsed;
      if (interaction.kind === 'ignored') {
        // view_submission, shortcuts and the rest: not supported yet, acknowledged so Slack shows no error.
        record(ctx, 'ignored');
        ctx.fields.detail = interaction.type;
        return { status: 200 };
      }
      ctx.fields.slack_team = interaction.user.teamId;
      ctx.fields.slack_user = interaction.user.userId;
      const id = interaction.action.actionId;
      const work =
        id === 'acct.unlink' ? unlink : id === 'acct.new_link' ? newLink : id.startsWith(messages.OWN_ACTION_PREFIX) ? null : forward;
      record(ctx, id === 'acct.unlink' ? 'unlink' : id === 'acct.new_link' ? 'new_link' : work ? 'forwarded' : 'acknowledged');
      // acct.open_link (the URL button) and any other acct. action: the acknowledgement is all.
      if (work) background.run('slack_interaction', { request_id: ctx.requestId, slack_user: interaction.user.userId, action_id: id }, () => work(interaction, ctx.requestId));
      return { status: 200 };
    },
  };
}
