// /associate, reached through the SSO proxy. GET shows who is being linked to whom and changes
// nothing (link scanners and chat previews fetch URLs); POST confirms or cancels, once.
import { handled, type Handled, type Route } from '../http.ts';
import { refusal } from '../refusals.ts';
import { csrfToken, csrfTokenValid, hashNonce, type ServerKeys } from '../domain/secrets.ts';
import { describeVerification, readLinkHash } from '../domain/link-proofs.ts';
import type { Pages } from '../pages.ts';
import type { Linking, ConfirmOutcome } from '../domain/linking.ts';
import type { PageGuard } from './page-guard.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../lib/log.ts';
import type { AssociateOutcome } from '../outcomes.ts';
import type { Actor, SlackUser } from '../model.ts';

const MAX_FORM_BODY = 16 * 1024;

export interface AssociateRouteDeps {
  config: Pick<Config, 'linkVerification' | 'trustedJwt' | 'trustedEmailHeader' | 'basePath'>;
  keys: ServerKeys;
  linking: Linking;
  guard: PageGuard;
  pages: Pages;
  log: Logger;
}

export function associateRoute({ config, keys, linking, guard, pages, log }: AssociateRouteDeps): Route<'associate'> {
  /** Who the page was about, for the log line: the signed-in user, and the Slack user when known. */
  const about = (internalUser: string, slack?: Pick<SlackUser, 'teamId' | 'userId'>) =>
    slack ? { internal_user: internalUser, slack_team: slack.teamId, slack_user: slack.userId } : { internal_user: internalUser };

  const noEmailPage = () => pages.noEmailPage(config.trustedJwt ? `${config.trustedJwt.emailClaim} claim` : config.trustedEmailHeader);

  const render = (internalUser: string, result: ConfirmOutcome, requestId: string): Handled<AssociateOutcome> => {
    const done = (reply: Parameters<typeof handled>[1], slack?: Pick<SlackUser, 'teamId' | 'userId'>) => handled(result.outcome, reply, about(internalUser, slack));
    switch (result.outcome) {
      case 'link_gone':
        return done(pages.goneLinkPage());
      case 'already_bound':
        return done(pages.alreadyBoundPage(result.binding.internalUser), result.binding);
      case 'bound':
        return done(pages.linkedPage(result.binding.internalUser, result.binding.userName, `${config.basePath}/links`, result.dmRefused), result.binding);
      case 'code_shown':
        return done(pages.codePage(result.code, result.link.command, result.minutes), result.link);
      case 'no_email':
        return done(noEmailPage());
      case 'slack_unavailable':
        return done(pages.slackUnavailablePage(), result.link);
      case 'slack_misconfigured':
        return done(pages.misconfiguredPage(requestId), result.link);
      case 'email_mismatch':
        return done(pages.emailMismatchPage(), result.link);
      case 'slack_sign_in_required':
        return done(pages.errorPage(400, 'This link is verified by Sign in with Slack: open it again and use "Continue with Slack". Nothing was linked.'));
      case 'slack_email_hidden':
        return done(
          pages.errorPage(403, 'Your Slack profile shows no email address, so this link cannot be verified. Nothing was linked. Ask your Slack administrator.'),
          result.link,
        );
    }
  };

  return {
    operation: 'associate',
    async GET(ctx) {
      const identity = await guard.authenticate(ctx);
      const { user } = identity;
      const nonce = ctx.query.get('nonce');
      const nonceHash = hashNonce(nonce);
      const shown = await linking.show(nonceHash, identity, ctx.requestId);
      if (shown.outcome === 'link_gone') return handled(shown.outcome, pages.goneLinkPage(), about(user));
      if (shown.outcome === 'already_bound') return handled(shown.outcome, pages.alreadyBoundPage(shown.binding.internalUser), about(user, shown.binding));
      if (shown.outcome === 'no_email') return handled(shown.outcome, noEmailPage(), about(user, shown.link));
      const { link } = shown;
      const page = pages.confirmPage({
        slackUserName: link.userName,
        slackUserId: link.userId,
        teamDomain: link.teamDomain,
        internalUser: user,
        link: { nonce: nonce! },
        csrf: csrfToken(keys.csrf, nonceHash!, user),
        verification: describeVerification(config.linkVerification, link.command),
        action: `${config.basePath}/associate`,
        pendingCommand: link.pendingText ? `${link.command} ${link.pendingText}` : null,
        signInWithSlack: config.linkVerification === 'slack' ? linking.slackAuthorizeUrls(nonceHash!, link, user) : null,
      });
      return handled(shown.outcome, page, about(user, link));
    },

    async POST(ctx) {
      const identity = await guard.authenticate(ctx);
      const form = await guard.readForm(ctx, identity, MAX_FORM_BODY);
      // A link started on the web is named by its hash (its nonce was never shown), and only with Slack's proof.
      const nonceHash = hashNonce(form.get('nonce')) ?? (form.has('proof') ? readLinkHash(form.get('link')) : undefined);
      if (!nonceHash) return handled('link_gone', pages.goneLinkPage(), about(identity.user));
      if (!csrfTokenValid(keys.csrf, nonceHash, identity.user, form.get('csrf'))) {
        log.warn('associate_csrf_refused', { request_id: ctx.requestId, internal_user: identity.user });
        throw refusal('confirm_csrf', { outcome: 'csrf_refused', about: about(identity.user) });
      }
      const by: Actor = { actor: `internal:${identity.user}`, requestId: ctx.requestId, clientAddress: guard.clientAddress(ctx) };
      const decision = form.get('decision') ?? 'link';
      if (decision === 'cancel') {
        const cancelled = await linking.cancel(nonceHash, by);
        return handled(cancelled.outcome, cancelled.outcome === 'cancelled' ? pages.cancelledPage() : pages.goneLinkPage(), about(identity.user));
      }
      // The command typed before linking runs only when the confirming user asked for it by name.
      if (decision !== 'link' && decision !== 'link_and_run') throw refusal('unknown_decision', { about: about(identity.user) });
      // A link started on the web carries the proof that Slack named its user (the Sign in with Slack return handed it out).
      return render(identity.user, await linking.confirm(nonceHash, identity, decision === 'link_and_run', by, form.get('proof')), ctx.requestId);
    },

    renderError: (err) => pages.errorPage(err.status, err.message),
  };
}
