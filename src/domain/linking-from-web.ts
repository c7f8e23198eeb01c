// Linking that starts on the web: "My Slack links" → "Link a Slack account" → Sign in with Slack →
// a link made for the Slack user Slack named → a redirect (303) to the confirmation page's own
// address → its form binds verified by Slack (linking.confirm with the proof). Sign in with Slack's
// return is linking.slackReturned's: it checks the state and asks Slack who signed in, then hands a
// state with no link over to here. The confirmation page is shown from its address alone, so a
// reload neither asks Slack again (its code is single-use) nor makes another link.
import { hashNonce, newNonce } from './secrets.ts';
import { readSignedInTicket, signedInTicket, slackNonce, slackProof, slackRedirectUri, slackState } from './link-proofs.ts';
import { describe } from '../lib/log.ts';
import type { SlackSignIn, SlackSignedIn } from '../slack/openid.ts';
import type { SlackApi } from '../slack/api.ts';
import type { Config } from '../config/index.ts';
import type { ServerKeys } from './secrets.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Actor, Binding, InternalIdentity, Link, LinkRequest, SlackUser, SlackWorkspace } from '../model.ts';
import type { Store } from '../store/store.ts';

export interface LinkingFromWebDeps {
  config: Pick<Config, 'publicBaseUrl' | 'nonceTtlSeconds' | 'linkRateLimitPerMinute' | 'slashCommand'>;
  store: Pick<Store, 'getBinding' | 'createLink' | 'getLiveLink'>;
  keys: ServerKeys;
  slack: Pick<SlackApi, 'userName'>;
  /** Sign in with Slack (SLACK_CLIENT_ID), or null without it: then there is no linking from the web. */
  signIn: SlackSignIn | null;
  /** The workspace this app serves (null while Slack has not said): linking started on the web accepts its Slack users only. */
  workspace: () => Promise<SlackWorkspace | null>;
  log: Logger;
  metrics: Metrics;
}

/** What became of a Sign in with Slack that started on the web, once Slack named who signed in. */
export type SignedInOnWebOutcome =
  /** A link was made for the Slack user Slack named; the browser goes on to its confirmation page's address (`ticket`). */
  | { outcome: 'slack_signed_in'; link: Link; ticket: string }
  | { outcome: 'already_bound'; binding: Binding }
  /** The Slack user signed in to a workspace this app does not serve. */
  | { outcome: 'slack_workspace_refused' }
  | { outcome: 'slack_unavailable' }
  | { outcome: 'link_rate_limited' };

/** The confirmation page's address, opened (after the redirect, or reloaded). */
export type WebConfirmationOutcome =
  /** The page asks to confirm; its form names the link by `linkHash` and carries the proof that Slack named its user. */
  | { outcome: 'confirm_shown'; link: Link; linkHash: string; proof: string }
  | { outcome: 'link_gone' }
  | { outcome: 'already_bound'; binding: Binding }
  /** Not ours, altered, too old, or made for another signed-in user. */
  | { outcome: 'slack_state_refused' };

export type LinkingFromWeb = ReturnType<typeof createLinkingFromWeb>;

/**
 * The Slack user who signed in, as this app's workspace knows them, or null when they signed in to
 * another workspace. On Enterprise Grid any workspace of the organisation will do (user ids are
 * org-wide, and the key is the enterprise); elsewhere the team.
 */
const servedIdentity = (who: SlackSignedIn, w: SlackWorkspace): { org: string; enterpriseId: string | null } | null => {
  if (w.enterpriseId) {
    const enterpriseId = who.enterpriseId ?? (who.teamId === w.teamId ? w.enterpriseId : null);
    return enterpriseId === w.enterpriseId ? { org: enterpriseId, enterpriseId } : null;
  }
  return who.teamId === w.teamId && who.enterpriseId === null ? { org: w.teamId, enterpriseId: null } : null;
};

export function createLinkingFromWeb({ config, store, keys, slack, signIn, workspace, log, metrics }: LinkingFromWebDeps) {
  const ttlMs = config.nonceTtlSeconds * 1000;

  /** A name to show for a Slack user the web flow only knows by id: Slack's, or the id when Slack will not say. */
  const nameOf = async (userId: string, requestId: string | null): Promise<string> => {
    try {
      return (await slack.userName(userId)) ?? userId;
    } catch (err) {
      log.warn('slack_users_info_failed', { request_id: requestId ?? undefined, slack_user: userId, error: describe(err) });
      return userId;
    }
  };

  return {
    /**
     * "My Slack links" → "Link a Slack account": Sign in with Slack for this signed-in user, with no
     * link yet (the Slack user is whoever signs in); null without SLACK_CLIENT_ID.
     */
    async authorizeUrl(internalUser: string): Promise<string | null> {
      if (!signIn) return null;
      const state = slackState(keys.slackState, { nonceHash: null, internalUser, runPending: false }, Date.now());
      const team = (await workspace())?.teamId ?? null;
      return signIn.authorizeUrl({ redirectUri: slackRedirectUri(config.publicBaseUrl), state, nonce: slackNonce(keys.slackState, state), team });
    },

    /**
     * Slack named the user who signed in (`who`, already checked). If this app serves their
     * workspace and they are not bound, a link is made for them (as a slash command would make it,
     * audited with reason web), and the browser is sent to its confirmation page's address.
     */
    async signedIn(who: SlackSignedIn, identity: InternalIdentity, by: Actor): Promise<SignedInOnWebOutcome> {
      const fields = { request_id: by.requestId ?? undefined, internal_user: identity.user, source: 'web' };
      const w = await workspace();
      if (!w) {
        // auth.test failed at startup and again now: whose workspace this is cannot be told yet.
        log.warn('slack_workspace_unknown', { ...fields, fix: "Slack's auth.test did not answer for SLACK_BOT_TOKEN: npm run admin -- doctor" });
        return { outcome: 'slack_unavailable' };
      }
      const served = servedIdentity(who, w);
      if (!served) {
        log.warn('slack_sign_in_workspace_refused', {
          ...fields,
          signed_in_slack_user: who.userId,
          signed_in_slack_team: who.teamId,
          signed_in_slack_enterprise: who.enterpriseId ?? undefined,
          served_team: w.teamId,
          served_enterprise: w.enterpriseId ?? undefined,
        });
        return { outcome: 'slack_workspace_refused' };
      }
      const existing = await store.getBinding({ org: served.org, userId: who.userId });
      if (existing) return { outcome: 'already_bound', binding: existing };
      const user: SlackUser = {
        ...served,
        userId: who.userId,
        teamId: who.teamId,
        userName: await nameOf(who.userId, by.requestId),
        teamDomain: who.teamId === w.teamId ? w.domain : who.teamId,
      };
      const request: LinkRequest = { command: config.slashCommand, pendingText: null, channelId: null, responseUrl: null };
      // Its nonce is never shown: the confirmation page names the link by this hash, and binds with the proof.
      const nonceHash = hashNonce(newNonce())!;
      const now = Date.now();
      const created = await store.createLink({ user, request, nonceHash, now, ttlMs, perMinute: config.linkRateLimitPerMinute, startedOnWebBy: identity.user }, by);
      if (created.outcome === 'rate_limited') return { outcome: 'link_rate_limited' };
      metrics.inc('links_created_total');
      const link: Link = { ...user, ...request, createdAt: now, expiresAt: now + ttlMs };
      return { outcome: 'slack_signed_in', link, ticket: signedInTicket(keys.slackState, nonceHash, identity.user, now) };
    },

    /**
     * The confirmation page's address: for the signed-in user it was made for, while the link is
     * live and its Slack user unbound. Changes nothing, however often it is reloaded.
     */
    async confirmation(ticket: string | null, identity: InternalIdentity, requestId: string | null): Promise<WebConfirmationOutcome> {
      const now = Date.now();
      const nonceHash = readSignedInTicket(keys.slackState, ticket, identity.user, now);
      if (!nonceHash || nonceHash === 'expired') {
        log.warn('slack_sign_in_state_refused', {
          request_id: requestId ?? undefined,
          internal_user: identity.user,
          source: 'web',
          reason: nonceHash === 'expired' ? 'expired' : 'not for this user or not ours',
        });
        return { outcome: 'slack_state_refused' };
      }
      const link = await store.getLiveLink(nonceHash, now);
      if (!link) return { outcome: 'link_gone' };
      const existing = await store.getBinding(link);
      if (existing) return { outcome: 'already_bound', binding: existing };
      return { outcome: 'confirm_shown', link, linkHash: nonceHash.toString('base64url'), proof: slackProof(keys.slackState, nonceHash, identity.user) };
    },
  };
}
