// /associate, reached through the SSO proxy. GET shows who is being linked to whom and changes
// nothing (link scanners and chat previews fetch URLs); POST binds, once, after the check that
// LINK_VERIFICATION asks for.
import { HttpError, describe, mediaType, parseForm, readBody, type Context, type Reply, type Route } from './http.ts';
import { createIdentitySource, type Identity } from './proxy.ts';
import { csrfToken, csrfTokenValid, hashNonce } from './tokens.ts';
import { CODE_TTL_MS, codeKey, codeMac, describeVerification, newCode, sameEmail } from './verification.ts';
import type { AnnounceBinding } from './bound.ts';
import * as pages from './pages.ts';
import type { Services } from './services.ts';
import type { CompleteResult } from './store.ts';

const MAX_FORM_BODY = 16 * 1024;

export function associateRoute(services: Services, announce: AnnounceBinding): Route {
  const { config, store, log, slack } = services;
  const csrfKey = store.serverKey('csrf');
  const codeKeyBytes = codeKey(store);
  const identitySource = createIdentitySource(config);

  const identify = async (ctx: Context): Promise<Identity> => {
    const identity = await identitySource(ctx.req);
    ctx.logFields.internal_user = identity.user;
    return identity;
  };

  /**
   * Only forms our own page submitted: browsers say where a request came from. Sec-Fetch-Site
   * cannot be set by a page, so when present it decides. Our pages send `Referrer-Policy:
   * no-referrer`, which makes browsers send `Origin: null` on their own form posts: that is
   * accepted only together with `Sec-Fetch-Site: same-origin`.
   */
  const refuseCrossSite = (ctx: Context): void => {
    const site = ctx.req.headers['sec-fetch-site'];
    const origin = ctx.req.headers.origin;
    const siteOk = site === undefined || site === 'same-origin' || site === 'none';
    const originOk = origin === undefined || origin === config.publicOrigin || (origin === 'null' && site === 'same-origin');
    if (!siteOk || !originOk) {
      log.warn('associate_cross_site_refused', { request_id: ctx.requestId, sec_fetch_site: site, origin });
      throw new HttpError(403, 'This confirmation was sent from another site and was refused. Open the link from Slack again.');
    }
  };

  const finish = (ctx: Context, result: CompleteResult): Reply => {
    ctx.logFields.outcome = result.outcome;
    if (result.outcome === 'gone') return pages.goneLinkPage();
    ctx.logFields.slack_team = result.binding.teamId;
    ctx.logFields.slack_user = result.binding.userId;
    if (result.outcome === 'already-bound') return pages.alreadyBoundPage(result.binding.internalUser);
    announce(result.binding, result.link, ctx.requestId);
    return pages.linkedPage(result.binding.internalUser, result.binding.userName);
  };

  /**
   * email mode: the Slack user's profile email must be the signed-in user's. Checked before the
   * transaction (it needs Slack); the transaction still finds the link live or not.
   */
  const bindIfEmailsMatch = async (ctx: Context, nonceHash: Buffer, identity: Identity): Promise<Reply> => {
    if (!identity.email) {
      log.warn('link_verification_failed', { request_id: ctx.requestId, reason: 'no email from the proxy', internal_user: identity.user });
      return pages.noEmailPage(config.trustedJwt ? `${config.trustedJwt.emailClaim} claim` : config.trustedEmailHeader);
    }
    const link = store.getLiveLink(nonceHash, Date.now());
    if (!link) return pages.goneLinkPage();
    ctx.logFields.slack_team = link.teamId;
    ctx.logFields.slack_user = link.userId;
    let slackEmail: string | null;
    try {
      slackEmail = await slack.userEmail(link.userId);
    } catch (err) {
      // Fail closed: without Slack's answer we cannot tell the owner of the link from anyone else.
      log.error('slack_users_info_failed', { request_id: ctx.requestId, slack_user: link.userId, error: describe(err) });
      ctx.logFields.outcome = 'slack_unavailable';
      return pages.slackUnavailablePage();
    }
    if (!slackEmail || !sameEmail(slackEmail, identity.email)) {
      // Someone else's link, most likely forwarded to this user: void it, bind nothing, and say so
      // loudly in the log, where a security team can alert on it.
      store.cancelLink(nonceHash);
      ctx.logFields.outcome = 'email_mismatch';
      log.warn('security_link_email_mismatch', {
        request_id: ctx.requestId,
        slack_team: link.teamId,
        slack_user: link.userId,
        internal_user: identity.user,
        slack_email_visible: slackEmail !== null,
      });
      return slackEmail ? pages.emailMismatchPage() : pages.errorPage(403, 'Your Slack profile shows no email address, so this link cannot be verified. Nothing was linked. Ask your Slack administrator.');
    }
    return finish(ctx, await store.completeLink(nonceHash, identity.user, Date.now()));
  };

  /** code mode: the binding waits for the Slack user to type the code shown here. */
  const deferToCode = (ctx: Context, nonceHash: Buffer, identity: Identity): Reply => {
    const code = newCode();
    const result = store.deferLink(nonceHash, identity.user, (id) => codeMac(codeKeyBytes, id, code), Date.now(), CODE_TTL_MS);
    ctx.logFields.outcome = result.outcome;
    if (result.outcome === 'gone') return pages.goneLinkPage();
    if (result.outcome === 'already-bound') return pages.alreadyBoundPage(result.binding.internalUser);
    ctx.logFields.slack_team = result.link.teamId;
    ctx.logFields.slack_user = result.link.userId;
    return pages.codePage(code, result.link.command, CODE_TTL_MS / 60_000);
  };

  return {
    async GET(ctx) {
      const { user } = await identify(ctx);
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
        internalUser: user,
        nonce: nonce!,
        csrf: csrfToken(csrfKey, nonceHash, user),
        verification: describeVerification(config.linkVerification, link.command),
      });
    },

    async POST(ctx) {
      const identity = await identify(ctx);
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
      if (!csrfTokenValid(csrfKey, nonceHash, identity.user, form.get('csrf'))) {
        log.warn('associate_csrf_refused', { request_id: ctx.requestId, internal_user: identity.user });
        throw new HttpError(403, 'This confirmation form is not valid for the account you are signed in as. Open the link from Slack again.');
      }
      const decision = form.get('decision') ?? 'link';
      if (decision === 'cancel') {
        ctx.logFields.outcome = store.cancelLink(nonceHash) ? 'cancelled' : 'link_gone';
        return ctx.logFields.outcome === 'cancelled' ? pages.cancelledPage() : pages.goneLinkPage();
      }
      if (decision !== 'link') throw new HttpError(400, 'Unknown decision.');

      switch (config.linkVerification) {
        case 'email':
          return bindIfEmailsMatch(ctx, nonceHash, identity);
        case 'code':
          return deferToCode(ctx, nonceHash, identity);
        case 'confirm':
          return finish(ctx, await store.completeLink(nonceHash, identity.user, Date.now()));
      }
    },

    renderError: (err) => pages.errorPage(err.status, err.message),
  };
}
