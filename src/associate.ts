// /associate, reached through the SSO proxy. GET shows who is being linked to whom and changes
// nothing (link scanners and chat previews fetch URLs); POST binds, once.
import { HttpError, mediaType, parseForm, readBody, type Context, type Route } from './http.ts';
import { trustedUser } from './proxy.ts';
import { csrfToken, csrfTokenValid, hashNonce } from './tokens.ts';
import * as pages from './pages.ts';
import { linkedDm } from './slack/messages.ts';
import type { Services } from './services.ts';
import type { Binding } from './store.ts';

const MAX_FORM_BODY = 16 * 1024;

export function associateRoute(services: Services): Route {
  const { config, store, log, slack, background } = services;
  const csrfKey = store.serverKey('csrf');

  const identify = (ctx: Context): string => {
    const user = trustedUser(ctx.req, config.trustedProxies, config.trustedUserHeader);
    ctx.logFields.internal_user = user;
    return user;
  };

  /** Only forms our own page submitted: browsers say where a request came from. */
  const refuseCrossSite = (ctx: Context): void => {
    const site = ctx.req.headers['sec-fetch-site'];
    const origin = ctx.req.headers.origin;
    if ((site !== undefined && site !== 'same-origin' && site !== 'none') || (origin !== undefined && origin !== config.publicOrigin)) {
      log.warn('associate_cross_site_refused', { request_id: ctx.requestId, sec_fetch_site: site, origin });
      throw new HttpError(403, 'This confirmation was sent from another site and was refused. Open the link from Slack again.');
    }
  };

  const sendLinkedDm = (binding: Binding, command: string) =>
    background.run('slack_dm', { slack_team: binding.teamId, slack_user: binding.userId }, async () => {
      await slack.dm(binding.userId, linkedDm(command, binding));
      log.info('slack_dm', { slack_team: binding.teamId, slack_user: binding.userId, outcome: 'sent' });
    });

  return {
    GET(ctx) {
      const internalUser = identify(ctx);
      const nonce = ctx.query.get('nonce');
      const nonceHash = hashNonce(nonce);
      const link = nonceHash && store.getLiveLink(nonceHash, Date.now());
      if (!nonceHash || !link) {
        ctx.logFields.outcome = 'link_gone';
        return pages.goneLinkPage();
      }
      const existing = store.getBinding(link);
      if (existing) {
        ctx.logFields.outcome = 'already_bound';
        return pages.alreadyBoundPage(existing.internalUser);
      }
      ctx.logFields.slack_team = link.teamId;
      ctx.logFields.slack_user = link.userId;
      ctx.logFields.outcome = 'confirm_shown';
      return pages.confirmPage({
        slackUserName: link.userName,
        slackUserId: link.userId,
        teamDomain: link.teamDomain,
        internalUser,
        nonce: nonce!,
        csrf: csrfToken(csrfKey, nonceHash, internalUser),
      });
    },

    async POST(ctx) {
      const internalUser = identify(ctx);
      refuseCrossSite(ctx);
      if (mediaType(ctx.req) !== 'application/x-www-form-urlencoded') {
        throw new HttpError(415, 'The confirmation must be sent by the form on the confirmation page.');
      }
      const form = parseForm(await readBody(ctx.req, MAX_FORM_BODY));
      const nonceHash = hashNonce(form.get('nonce'));
      if (!nonceHash) {
        ctx.logFields.outcome = 'link_gone';
        return pages.goneLinkPage();
      }
      if (!csrfTokenValid(csrfKey, nonceHash, internalUser, form.get('csrf'))) {
        log.warn('associate_csrf_refused', { request_id: ctx.requestId, internal_user: internalUser });
        throw new HttpError(403, 'This confirmation form is not valid for the account you are signed in as. Open the link from Slack again.');
      }
      const decision = form.get('decision') ?? 'link';
      if (decision === 'cancel') {
        ctx.logFields.outcome = store.cancelLink(nonceHash) ? 'cancelled' : 'link_gone';
        return ctx.logFields.outcome === 'cancelled' ? pages.cancelledPage() : pages.goneLinkPage();
      }
      if (decision !== 'link') throw new HttpError(400, 'Unknown decision.');

      const result = store.completeLink(nonceHash, internalUser, Date.now());
      ctx.logFields.outcome = result.outcome;
      if (result.outcome === 'gone') return pages.goneLinkPage();
      ctx.logFields.slack_team = result.binding.teamId;
      ctx.logFields.slack_user = result.binding.userId;
      if (result.outcome === 'already-bound') return pages.alreadyBoundPage(result.binding.internalUser);

      log.info('binding_created', {
        request_id: ctx.requestId,
        slack_team: result.binding.teamId,
        slack_user: result.binding.userId,
        internal_user: internalUser,
      });
      sendLinkedDm(result.binding, result.link.command);
      return pages.linkedPage(internalUser, result.binding.userName);
    },

    renderError: (err) => pages.errorPage(err.status, err.message),
  };
}
