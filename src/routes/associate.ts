// /associate, reached through the SSO proxy. GET shows who is being linked to whom and changes
// nothing (link scanners and chat previews fetch URLs); POST confirms or cancels, once.
import { HttpError, mediaType, parseForm, readBody, type Context, type Reply, type Route } from '../http.ts';
import { csrfToken, csrfTokenValid, hashNonce } from '../domain/secrets.ts';
import { describeVerification } from '../domain/link-proofs.ts';
import type { Pages } from '../pages.ts';
import type { Linking, ConfirmOutcome } from '../domain/linking.ts';
import type { Sso } from './page-guard.ts';
import type { Config } from '../config.ts';
import type { ServerKeys } from '../domain/secrets.ts';
import type { Logger } from '../lib/log.ts';
import type { AssociateOutcome } from '../outcomes.ts';
import type { Actor, SlackUser } from '../store/store.ts';

const MAX_FORM_BODY = 16 * 1024;

export interface AssociateRouteDeps {
  config: Pick<Config, 'linkVerification' | 'trustedJwt' | 'trustedEmailHeader' | 'basePath'>;
  keys: ServerKeys;
  linking: Linking;
  sso: Sso;
  pages: Pages;
  log: Logger;
}

const record = (ctx: Context, outcome: AssociateOutcome) => (ctx.fields.outcome = outcome);
const about = (ctx: Context, who: Pick<SlackUser, 'teamId' | 'userId'>) => {
  ctx.fields.slack_team = who.teamId;
  ctx.fields.slack_user = who.userId;
};

export function associateRoute({ config, keys, linking, sso, pages, log }: AssociateRouteDeps): Route {
  const render = (ctx: Context, result: ConfirmOutcome): Reply => {
    record(ctx, result.outcome);
    switch (result.outcome) {
      case 'link_gone':
        return pages.goneLinkPage();
      case 'already_bound':
        about(ctx, result.binding);
        return pages.alreadyBoundPage(result.binding.internalUser);
      case 'bound':
        about(ctx, result.binding);
        return pages.linkedPage(result.binding.internalUser, result.binding.userName, `${config.basePath}/links`);
      case 'code_shown':
        about(ctx, result.link);
        return pages.codePage(result.code, result.link.command, result.minutes);
      case 'no_email':
        return pages.noEmailPage(config.trustedJwt ? `${config.trustedJwt.emailClaim} claim` : config.trustedEmailHeader);
      case 'slack_unavailable':
        about(ctx, result.link);
        return pages.slackUnavailablePage();
      case 'slack_misconfigured':
        about(ctx, result.link);
        return pages.misconfiguredPage(ctx.requestId);
      case 'email_mismatch':
        about(ctx, result.link);
        return pages.emailMismatchPage();
      case 'slack_email_hidden':
        about(ctx, result.link);
        return pages.errorPage(403, 'Your Slack profile shows no email address, so this link cannot be verified. Nothing was linked. Ask your Slack administrator.');
    }
  };

  return {
    operation: 'associate',
    async GET(ctx) {
      const { user } = await sso.authenticate(ctx);
      const nonce = ctx.query.get('nonce');
      const nonceHash = hashNonce(nonce);
      const shown = await linking.show(nonceHash);
      record(ctx, shown.outcome);
      if (shown.outcome === 'link_gone') return pages.goneLinkPage();
      if (shown.outcome === 'already_bound') return pages.alreadyBoundPage(shown.binding.internalUser);
      const { link } = shown;
      about(ctx, link);
      return pages.confirmPage({
        slackUserName: link.userName,
        slackUserId: link.userId,
        teamDomain: link.teamDomain,
        internalUser: user,
        nonce: nonce!,
        csrf: csrfToken(keys.csrf, nonceHash!, user),
        verification: describeVerification(config.linkVerification, link.command),
        action: `${config.basePath}/associate`,
        pendingCommand: link.pendingText ? `${link.command} ${link.pendingText}` : null,
      });
    },

    async POST(ctx) {
      const identity = await sso.authenticate(ctx);
      sso.refuseCrossSite(ctx);
      if (mediaType(ctx.req) !== 'application/x-www-form-urlencoded') {
        throw new HttpError(415, 'The confirmation must be sent by the form on the confirmation page.');
      }
      const form = parseForm(await readBody(ctx.req, MAX_FORM_BODY));
      const nonceHash = hashNonce(form.get('nonce'));
      if (!nonceHash) {
        record(ctx, 'link_gone');
        return pages.goneLinkPage();
      }
      if (!csrfTokenValid(keys.csrf, nonceHash, identity.user, form.get('csrf'))) {
        record(ctx, 'csrf_refused');
        log.warn('associate_csrf_refused', { request_id: ctx.requestId, internal_user: identity.user });
        throw new HttpError(403, 'This confirmation form is not valid for the account you are signed in as. Open the link from Slack again.');
      }
      const by: Actor = { actor: `internal:${identity.user}`, requestId: ctx.requestId, clientAddress: ctx.req.socket.remoteAddress ?? null };
      const decision = form.get('decision') ?? 'link';
      if (decision === 'cancel') {
        const cancelled = await linking.cancel(nonceHash, by);
        record(ctx, cancelled.outcome);
        return cancelled.outcome === 'cancelled' ? pages.cancelledPage() : pages.goneLinkPage();
      }
      // The command typed before linking runs only when the confirming user asked for it by name.
      if (decision !== 'link' && decision !== 'link_and_run') throw new HttpError(400, 'Unknown decision.');
      return render(ctx, await linking.confirm(nonceHash, identity, decision === 'link_and_run', by));
    },

    renderError: (err) => pages.errorPage(err.status, err.message),
  };
}
