// GET /associate/slack: where Sign in with Slack sends the browser back (LINK_VERIFICATION=slack,
// and linking started from "My Slack links" with SLACK_CLIENT_ID), behind the same SSO proxy as
// /associate. It binds only through the domain's checks. Where it goes on, it redirects (303) to a
// page with its own address, which a reload shows again without Slack's single-use code: a link
// started on the web to its confirmation page (?signed_in=…), a binding made to the page that says
// so (?linked=…). Every other ending is a page that says what happened.
import { handled, type Handled, type Route } from '../http.ts';
import { csrfToken, type ServerKeys } from '../domain/secrets.ts';
import { readLinkHash } from '../domain/link-proofs.ts';
import type { Pages } from '../pages.ts';
import type { Linking, SlackLinkedOutcome, SlackSignInOutcome } from '../domain/linking.ts';
import type { WebConfirmationOutcome } from '../domain/linking-from-web.ts';
import type { PageGuard } from './page-guard.ts';
import type { Config } from '../config/index.ts';
import type { AssociateOutcome } from '../outcomes.ts';
import type { Actor } from '../model.ts';

export interface AssociateSlackRouteDeps {
  config: Pick<Config, 'basePath' | 'slashCommand'>;
  keys: ServerKeys;
  linking: Linking;
  guard: PageGuard;
  pages: Pages;
}

export function associateSlackRoute({ config, keys, linking, guard, pages }: AssociateSlackRouteDeps): Route<'associate'> {
  const again = `Run ${config.slashCommand} link in Slack again if you still want to link your account.`;

  const render = (internalUser: string, result: SlackSignInOutcome | WebConfirmationOutcome | SlackLinkedOutcome): Handled<AssociateOutcome> => {
    const about = (slack?: { teamId: string; userId: string }) =>
      slack ? { internal_user: internalUser, slack_team: slack.teamId, slack_user: slack.userId } : { internal_user: internalUser };
    switch (result.outcome) {
      case 'bound':
        // Slack's code is spent: the page that says so has its own address, which carries no code and no secret.
        return handled(result.outcome, pages.seeOther(`${config.basePath}/associate/slack?linked=${result.linked}`), about(result.binding));
      case 'linked_shown':
        return handled(result.outcome, pages.linkedPage(result.binding.internalUser, result.binding.userName, `${config.basePath}/links`, result.dmRefused), about(result.binding));
      case 'already_bound':
        return handled(result.outcome, pages.alreadyBoundPage(result.binding.internalUser), about(result.binding));
      case 'link_gone':
        return handled(result.outcome, pages.goneLinkPage(), about());
      case 'slack_user_mismatch':
        return handled(result.outcome, pages.slackMismatchPage(), about(result.link));
      case 'slack_denied':
        return handled(result.outcome, pages.errorPage(403, `Slack sign-in was cancelled, so nothing was linked. Your link still works until it expires: open it again to sign in with Slack. ${again}`), about());
      case 'slack_state_refused':
        return handled(result.outcome, pages.errorPage(400, `This sign-in is not valid for the account you are signed in as, or it is too old. Nothing was linked. Open the link from Slack again.`), about());
      case 'slack_sign_in_failed':
        return handled(result.outcome, pages.errorPage(400, 'Slack did not confirm who signed in, so nothing was linked. Open the link from Slack again and continue with Slack.'), about());
      case 'slack_unavailable':
        return handled(result.outcome, pages.slackUnavailablePage(), about());
      case 'slack_signed_in':
        // Slack's code is spent: the confirmation page has its own address, which carries no code and no secret.
        return handled(result.outcome, pages.seeOther(`${config.basePath}/associate/slack?signed_in=${result.ticket}`), about(result.link));
      case 'confirm_shown': {
        const { link, linkHash, proof } = result;
        const page = pages.confirmPage({
          slackUserName: link.userName,
          slackUserId: link.userId,
          teamDomain: link.teamDomain,
          internalUser,
          link: { hash: linkHash },
          csrf: csrfToken(keys.csrf, readLinkHash(linkHash)!, internalUser),
          verification: 'Linking is verified by Sign in with Slack: Slack confirmed who signed in.',
          action: `${config.basePath}/associate`,
          pendingCommand: null,
          slackProof: proof,
        });
        return handled(result.outcome, page, about(link));
      }
      case 'slack_workspace_refused':
        return handled(
          result.outcome,
          pages.errorPage(403, `You signed in to a Slack workspace this service does not serve, so nothing was linked. Go back to My Slack links and sign in to Slack in your company's workspace.`),
          about(),
        );
      case 'link_rate_limited':
        return handled(result.outcome, pages.errorPage(429, 'Too many links were started for this Slack user just now. Nothing was linked: try again in a minute.'), about());
    }
  };

  return {
    operation: 'associate',
    async GET(ctx) {
      const identity = await guard.authenticate(ctx);
      const by: Actor = { actor: `internal:${identity.user}`, requestId: ctx.requestId, clientAddress: guard.clientAddress(ctx) };
      // The confirmation page of a link started on the web, after the redirect or reloaded: Slack is not asked again.
      if (ctx.query.has('signed_in')) {
        const shown = await linking.webConfirmation(ctx.query.get('signed_in'), identity, ctx.requestId);
        if (shown.outcome === 'slack_state_refused') {
          const page = pages.errorPage(400, `This page is not valid for the account you are signed in as, or it is too old. Nothing was linked. Start again from My Slack links (${config.basePath}/links).`);
          return handled(shown.outcome, page, { internal_user: identity.user });
        }
        return render(identity.user, shown);
      }
      // The page after a binding (slack mode, a link from a slash command), after the redirect or reloaded.
      if (ctx.query.has('linked')) {
        const linked = await linking.slackLinked(ctx.query.get('linked'), identity, ctx.requestId);
        // Not "nothing was linked": a binding may well have been made, this page just cannot show it.
        if (linked.outcome === 'slack_state_refused') {
          const page = pages.errorPage(400, `This page is not valid for the account you are signed in as, or it is too old. My Slack links (${config.basePath}/links) shows what is linked to you.`);
          return handled(linked.outcome, page, { internal_user: identity.user });
        }
        return render(identity.user, linked);
      }
      const back = { code: ctx.query.get('code'), state: ctx.query.get('state'), error: ctx.query.get('error') };
      return render(identity.user, await linking.slackReturned(back, identity, by));
    },
    renderError: (err) => pages.errorPage(err.status, err.message),
  };
}
