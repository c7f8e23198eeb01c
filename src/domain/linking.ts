// The domain of linking: start a link, show and confirm it (for each LINK_VERIFICATION mode),
// confirm a code, unlink, and what follows a new binding. Each operation returns a typed outcome
// and knows nothing of HTTP; the routes and the socket authenticate and parse, call, and render.
// Linking started on the web ("My Slack links") is src/domain/linking-from-web.ts's, reached through
// Sign in with Slack's return here; bindings that end otherwise (someone left) are revocation.ts's.
import { hashNonce, newNonce } from './secrets.ts';
import { CODE_TTL_MS, MAX_CODE_FAILURES, codeMac, codeMatches, linkedTicket, newCode, readLinkedTicket, readSlackState, sameEmail, slackNonce, slackProofValid, slackRedirectUri, slackState } from './link-proofs.ts';
import type { SlackSignIn, SlackSignedIn } from '../slack/openid.ts';
import type { LinkingFromWeb, SignedInOnWebOutcome } from './linking-from-web.ts';
import { linkedDm } from '../slack/messages.ts';
import { describe } from '../lib/log.ts';
import type { Config } from '../config/index.ts';
import type { ServerKeys } from './secrets.ts';
import { within } from '../lib/within.ts';
import { slackErrorName, tokenRejected, type SlackApi } from '../slack/api.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Background } from '../lib/background.ts';
import type { RunAsUser } from './run-as-user.ts';
import type { Home } from './home.ts';
import type { Actor, Binding, InternalIdentity, Link, LinkRequest, SlackIdentity, SlackUser } from '../model.ts';
import type { NewLink, Store } from '../store/store.ts';

export interface LinkingDeps {
  config: Pick<Config, 'publicBaseUrl' | 'nonceTtlSeconds' | 'linkRateLimitPerMinute' | 'linkVerification' | 'slashCommand'>;
  store: Store;
  keys: ServerKeys;
  slack: SlackApi;
  /** Sign in with Slack (SLACK_CLIENT_ID), or null without it. */
  signIn: SlackSignIn | null;
  /** Linking started on the web: where a Sign in with Slack with no link goes on. */
  fromWeb: LinkingFromWeb;
  log: Logger;
  metrics: Metrics;
  background: Background;
  runAsUser: Pick<RunAsUser, 'runPending'>;
  /** A binding was made or ended: its user's App Home is republished (best effort, background). */
  home: Pick<Home, 'refresh'>;
}

/**
 * How long the success page waits for the DM that confirms a binding, so that it can say why Slack
 * refused it. A slower DM is still sent; the page just does not wait for it.
 */
export const DM_WAIT_MS = 1500;

/** A link made but not stored yet (Linking.offer). */
export interface LinkOffer {
  link: Omit<NewLink, 'user' | 'now' | 'startedOnWebBy'>;
  /** The URL with the nonce, for the Slack user alone. */
  url: string;
}

export type StartOutcome = { outcome: 'link_created'; url: string } | { outcome: 'link_rate_limited' };

export type ShowOutcome =
  | { outcome: 'confirm_shown'; link: Link }
  | { outcome: 'link_gone' }
  | { outcome: 'already_bound'; binding: Binding }
  | { outcome: 'no_email'; link: Link };

export type ConfirmOutcome =
  | { outcome: 'bound'; binding: Binding; dmRefused: string | null }
  | { outcome: 'link_gone' }
  | { outcome: 'already_bound'; binding: Binding }
  | { outcome: 'code_shown'; link: Link; code: string; minutes: number }
  | { outcome: 'email_mismatch'; link: Link }
  | { outcome: 'no_email' }
  | { outcome: 'slack_email_hidden'; link: Link }
  | { outcome: 'slack_unavailable'; link: Link }
  | { outcome: 'slack_misconfigured'; link: Link }
  | { outcome: 'slack_sign_in_required' };

/** Sign in with Slack came back (GET /associate/slack). */
export type SlackSignInOutcome =
  /** `linked`: the address of the page that says so, for the browser to go on to (a reload must not spend Slack's code again). */
  | { outcome: 'bound'; binding: Binding; dmRefused: string | null; linked: string }
  | { outcome: 'link_gone' }
  | { outcome: 'already_bound'; binding: Binding }
  | { outcome: 'slack_denied' }
  | { outcome: 'slack_state_refused' }
  | { outcome: 'slack_sign_in_failed' }
  | { outcome: 'slack_unavailable' }
  | { outcome: 'slack_user_mismatch'; link: Link }
  /** Started on the web: what src/domain/linking-from-web.ts made of it. */
  | SignedInOnWebOutcome;

/** What Slack sent the browser back with. */
export interface SlackReturn {
  code: string | null;
  state: string | null;
  error: string | null;
}

/** The two ways on from the confirmation page in slack mode: sign in, and sign in then run the pending command. */
export interface SlackAuthorizeUrls {
  link: string;
  linkAndRun: string;
}

/** The page after a binding by Sign in with Slack, from its address (after the redirect, or reloaded). */
export type SlackLinkedOutcome =
  | { outcome: 'linked_shown'; binding: Binding; dmRefused: string | null }
  /** The Slack user is no longer bound to this internal user. */
  | { outcome: 'link_gone' }
  | { outcome: 'slack_state_refused' };

export type CancelOutcome = { outcome: 'cancelled'; link: Link } | { outcome: 'link_gone' };

export type CodeOutcome =
  | { outcome: 'code_bound'; binding: Binding }
  | { outcome: 'code_already_bound'; binding: Binding }
  | { outcome: 'code_wrong'; attemptsLeft: number }
  | { outcome: 'code_void' }
  | { outcome: 'code_expired' }
  | { outcome: 'code_none' };

export type UnlinkOutcome = { outcome: 'unlinked'; binding: Binding } | { outcome: 'not_linked' };

export type Linking = ReturnType<typeof createLinking>;

/**
 * The Slack user who signed in is the link's. On Enterprise Grid user ids are org-wide, so the
 * enterprise decides (they may have signed in to another workspace of it); elsewhere the team does.
 * An enterprise claim, where Slack gives one, must always be the link's.
 */
const sameSlackUser = (who: SlackSignedIn, link: Link): boolean => {
  if (who.userId !== link.userId) return false;
  if (who.enterpriseId !== null && who.enterpriseId !== link.enterpriseId) return false;
  if (link.enterpriseId) return who.enterpriseId === link.enterpriseId || who.teamId === link.teamId;
  return who.teamId === link.teamId;
};

export function createLinking({ config, store, keys, slack, signIn, fromWeb, log, metrics, background, runAsUser, home }: LinkingDeps) {
  const ttlMs = config.nonceTtlSeconds * 1000;
  const redirectUri = slackRedirectUri(config.publicBaseUrl);

  /**
   * The DM and the pending command that follow every new binding, in the background. The command
   * typed before linking runs only when `runPending`: otherwise the DM asks to run it again.
   * Resolves to why Slack refused the DM (its error name), or null once it is sent.
   */
  const afterBinding = (binding: Binding, link: Link, runPending: boolean, requestId: string | null): Promise<string | null> => {
    const fields = { request_id: requestId ?? undefined, slack_team: binding.teamId, slack_user: binding.userId };
    log.info('binding_created', { ...fields, internal_user: binding.internalUser });
    metrics.inc('links_completed_total');
    home.refresh(binding, requestId);
    const typed = link.pendingText ? `${link.command} ${link.pendingText}` : null;
    const pending = runPending ? runAsUser.runPending(binding, link, requestId ?? '') : typed ? { again: typed } : null;
    let settle: (refused: string | null) => void = () => {};
    const refused = new Promise<string | null>((resolve) => (settle = resolve));
    const started = background.run('slack_dm', fields, async () => {
      try {
        await slack.dm(binding.userId, linkedDm(link.command, binding, pending, `${config.publicBaseUrl}/links`));
        settle(null);
      } catch (err) {
        settle(slackErrorName(err) ?? 'slack_unreachable');
        metrics.inc('slack_dm_failures_total');
        if (tokenRejected(err)) log.error('slack_token_rejected', { ...fields, fix: 'SLACK_BOT_TOKEN is wrong or revoked: npm run admin -- doctor' });
        throw err;
      }
      log.info('slack_dm', { ...fields, outcome: 'sent' });
    });
    if (!started) {
      metrics.inc('slack_dm_failures_total');
      settle('overloaded');
    }
    return refused;
  };


  /** email mode: the Slack user's profile email must be the signed-in user's. */
  const confirmByEmail = async (nonceHash: Buffer, identity: InternalIdentity, runPending: boolean, by: Actor): Promise<ConfirmOutcome> => {
    if (!identity.email) {
      log.warn('link_verification_failed', { request_id: by.requestId ?? undefined, reason: 'no email from the proxy', internal_user: identity.user });
      return { outcome: 'no_email' };
    }
    // Checked before the transaction (it needs Slack); the transaction still finds the link live or not.
    const link = await store.getLiveLink(nonceHash, Date.now());
    if (!link) return { outcome: 'link_gone' };
    let slackEmail: string | null;
    try {
      slackEmail = await slack.userEmail(link.userId);
    } catch (err) {
      // Fail closed: without Slack's answer we cannot tell the owner of the link from anyone else.
      if (tokenRejected(err)) {
        log.error('slack_token_rejected', { request_id: by.requestId ?? undefined, error: describe(err), fix: 'SLACK_BOT_TOKEN is wrong or revoked: npm run admin -- doctor' });
        return { outcome: 'slack_misconfigured', link };
      }
      log.error('slack_users_info_failed', { request_id: by.requestId ?? undefined, slack_user: link.userId, error: describe(err) });
      return { outcome: 'slack_unavailable', link };
    }
    if (!slackEmail || !sameEmail(slackEmail, identity.email)) {
      // Someone else's link, most likely forwarded to this user: void it, bind nothing, and say so
      // loudly in the log, where a security team can alert on it.
      const reason = slackEmail ? 'email_mismatch' : 'slack_email_hidden';
      await store.endLink(nonceHash, Date.now(), { action: 'verification_failed', reason }, by);
      log.warn('security_link_email_mismatch', {
        request_id: by.requestId ?? undefined,
        slack_team: link.teamId,
        slack_user: link.userId,
        internal_user: identity.user,
        slack_email_visible: slackEmail !== null,
      });
      return { outcome: reason, link };
    }
    return bind(nonceHash, identity.user, 'email', runPending, by);
  };

  const bind = async (nonceHash: Buffer, internalUser: string, verification: 'email' | 'confirm' | 'slack', runPending: boolean, by: Actor): Promise<ConfirmOutcome> => {
    const result = await store.completeLink(nonceHash, internalUser, verification, Date.now(), by);
    if (result.outcome === 'gone') return { outcome: 'link_gone' };
    if (result.outcome === 'already_bound') return result;
    // The DM's refusal if Slack answers within DM_WAIT_MS; null when sent or still on its way.
    const dmRefused = await within(afterBinding(result.binding, result.link, runPending, by.requestId), DM_WAIT_MS, null);
    return { outcome: 'bound', binding: result.binding, dmRefused };
  };

  /**
   * code mode: the binding waits for the Slack user to type the code shown in the browser. A
   * pending command not chosen to run is dropped from the pending confirmation.
   */
  const deferToCode = async (nonceHash: Buffer, identity: InternalIdentity, runPending: boolean, by: Actor): Promise<ConfirmOutcome> => {
    const code = newCode();
    const result = await store.deferLink(nonceHash, identity.user, (id) => codeMac(keys.code, id, code), Date.now(), CODE_TTL_MS, runPending, by);
    if (result.outcome === 'gone') return { outcome: 'link_gone' };
    if (result.outcome === 'already_bound') return result;
    return { outcome: 'code_shown', link: result.link, code, minutes: CODE_TTL_MS / 60_000 };
  };

  type Identified = { ok: true; value: SlackSignedIn } | { ok: false; outcome: { outcome: 'slack_sign_in_failed' | 'slack_unavailable' } };

  /** Who Slack says signed in, from the code it sent back (checked against the state's nonce). */
  const identify = async (back: SlackReturn, fields: Record<string, unknown>, expected: string | null): Promise<Identified> => {
    if (!back.code || !signIn) return { ok: false, outcome: { outcome: 'slack_sign_in_failed' } };
    const who = await signIn.identify(back.code, redirectUri, slackNonce(keys.slackState, back.state!));
    if (who.ok) return who;
    log.warn('slack_sign_in_failed', { ...fields, slack_user: expected ?? undefined, reason: who.reason, detail: who.detail });
    return { ok: false, outcome: { outcome: who.reason === 'unavailable' ? 'slack_unavailable' : 'slack_sign_in_failed' } };
  };

  /**
   * A link not stored yet: its nonce, and what a store needs to create it (createLink, or
   * startCommand for a user it finds unbound). `offered` says what became of it.
   */
  const offer = (request: LinkRequest): LinkOffer => {
    const nonce = newNonce();
    return {
      link: { request, nonceHash: hashNonce(nonce)!, ttlMs, perMinute: config.linkRateLimitPerMinute },
      url: `${config.publicBaseUrl}/associate?nonce=${nonce}`,
    };
  };

  /** The store created the offered link, or refused it for the rate limit. */
  const offered = (link: LinkOffer, created: boolean): StartOutcome => {
    if (!created) return { outcome: 'link_rate_limited' };
    metrics.inc('links_created_total');
    return { outcome: 'link_created', url: link.url };
  };

  return {
    offer,
    offered,

    /** A new single-use link for a Slack user who is not bound (replacing any open one). */
    async start(user: SlackUser, request: LinkRequest, by: Actor): Promise<StartOutcome> {
      const link = offer(request);
      const created = await store.createLink({ user, now: Date.now(), ...link.link }, by);
      return offered(link, created.outcome === 'created');
    },

    /** What the confirmation page shows; changes nothing (link scanners and previews fetch URLs). */
    /**
     * The confirmation page's content, changing nothing. In email mode a proxy that passes no email
     * is said before the click (the link stays live), not after it.
     */
    async show(nonceHash: Buffer | undefined, identity?: InternalIdentity, requestId?: string): Promise<ShowOutcome> {
      const link = nonceHash && (await store.getLiveLink(nonceHash, Date.now()));
      if (!link) return { outcome: 'link_gone' };
      const existing = await store.getBinding(link);
      if (existing) return { outcome: 'already_bound', binding: existing };
      if (config.linkVerification === 'email' && identity && !identity.email) {
        log.warn('link_verification_failed', { request_id: requestId, reason: 'no email from the proxy', internal_user: identity.user });
        return { outcome: 'no_email', link };
      }
      return { outcome: 'confirm_shown', link };
    },

    /**
     * The signed-in user confirmed: bind once, after the check LINK_VERIFICATION asks for. The
     * command typed before linking runs only with `runPending` (the page's "Link and run").
     */
    async confirm(nonceHash: Buffer, identity: InternalIdentity, runPending: boolean, by: Actor, proof: string | null = null): Promise<ConfirmOutcome> {
      // A link made on the web after Sign in with Slack: Slack already said who the Slack user is.
      if (proof !== null) {
        if (slackProofValid(keys.slackState, nonceHash, identity.user, proof)) return bind(nonceHash, identity.user, 'slack', false, by);
        log.warn('slack_proof_refused', { request_id: by.requestId ?? undefined, internal_user: identity.user });
        return { outcome: 'slack_sign_in_required' };
      }
      switch (config.linkVerification) {
        case 'email':
          return confirmByEmail(nonceHash, identity, runPending, by);
        case 'code':
          return deferToCode(nonceHash, identity, runPending, by);
        case 'confirm':
          return bind(nonceHash, identity.user, 'confirm', runPending, by);
        case 'slack':
          // The proof is the Slack sign-in (slackReturned), never the page's button alone.
          return { outcome: 'slack_sign_in_required' };
      }
    },

    /** "My Slack links" → "Link a Slack account": src/domain/linking-from-web.ts's. */
    webAuthorizeUrl: fromWeb.authorizeUrl,
    /** The confirmation page's address after Sign in with Slack, for linking started on the web: linking-from-web.ts's. */
    webConfirmation: fromWeb.confirmation,

    /** slack mode: where "Continue with Slack" sends the browser, for this link and this signed-in user. */
    slackAuthorizeUrls(nonceHash: Buffer, link: Link, internalUser: string): SlackAuthorizeUrls | null {
      if (!signIn) return null;
      const url = (runPending: boolean) => {
        const state = slackState(keys.slackState, { nonceHash, internalUser, runPending }, Date.now());
        return signIn.authorizeUrl({ redirectUri, state, nonce: slackNonce(keys.slackState, state), team: link.teamId });
      };
      return { link: url(false), linkAndRun: url(true) };
    },

    /**
     * slack mode: Slack sent the browser back. The state must be ours, for this signed-in user and a
     * live link; the Slack user who signed in must be the link's. Then bind as every mode does.
     */
    async slackReturned(back: SlackReturn, identity: InternalIdentity, by: Actor): Promise<SlackSignInOutcome> {
      const fields = { request_id: by.requestId ?? undefined, internal_user: identity.user };
      const state = readSlackState(keys.slackState, back.state, identity.user, Date.now());
      if (!state || state === 'expired' || !signIn) {
        log.warn('slack_sign_in_state_refused', { ...fields, reason: state === 'expired' ? 'expired' : 'not for this user or not ours' });
        return { outcome: 'slack_state_refused' };
      }
      if (back.error) {
        log.info('slack_sign_in_denied', { ...fields, error: back.error.slice(0, 64) });
        return { outcome: 'slack_denied' };
      }
      const { nonceHash } = state;
      if (nonceHash === null) {
        const who = await identify(back, { ...fields, source: 'web' }, null);
        return who.ok ? fromWeb.signedIn(who.value, identity, by) : who.outcome;
      }
      const link = await store.getLiveLink(nonceHash, Date.now());
      if (!link) return { outcome: 'link_gone' };
      const existing = await store.getBinding(link);
      if (existing) return { outcome: 'already_bound', binding: existing };
      const who = await identify(back, fields, link.userId);
      if (!who.ok) return who.outcome;
      if (!sameSlackUser(who.value, link)) {
        // Someone else's Slack account signed in: most likely a forwarded link. Nothing is bound;
        // the link stays its owner's until it expires (their own sign-in still works).
        await store.refuseLink(nonceHash, Date.now(), 'slack_user_mismatch', identity.user, by);
        log.warn('security_link_slack_user_mismatch', { ...fields, slack_team: link.teamId, slack_user: link.userId, signed_in_slack_user: who.value.userId, signed_in_slack_team: who.value.teamId });
        return { outcome: 'slack_user_mismatch', link };
      }
      const bound = await bind(nonceHash, identity.user, 'slack', state.runPending, by);
      if (bound.outcome === 'bound') return { ...bound, linked: linkedTicket(keys.slackState, { ...bound.binding, dmRefused: bound.dmRefused }, identity.user, Date.now()) };
      if (bound.outcome === 'already_bound') return bound;
      return { outcome: 'link_gone' };
    },

    /**
     * The page after a binding by Sign in with Slack: for the signed-in user its address was made
     * for, while the Slack user it names is still bound to them. Changes nothing.
     */
    async slackLinked(ticket: string | null, identity: InternalIdentity, requestId: string | null): Promise<SlackLinkedOutcome> {
      const linked = readLinkedTicket(keys.slackState, ticket, identity.user, Date.now());
      if (!linked || linked === 'expired') {
        log.warn('slack_sign_in_state_refused', { request_id: requestId ?? undefined, internal_user: identity.user, reason: linked === 'expired' ? 'expired' : 'not for this user or not ours' });
        return { outcome: 'slack_state_refused' };
      }
      const binding = await store.getBinding(linked);
      if (binding?.internalUser !== identity.user) return { outcome: 'link_gone' };
      return { outcome: 'linked_shown', binding, dmRefused: linked.dmRefused };
    },

    async cancel(nonceHash: Buffer, by: Actor): Promise<CancelOutcome> {
      const link = await store.endLink(nonceHash, Date.now(), { action: 'link_cancelled', reason: null }, by);
      return link ? { outcome: 'cancelled', link } : { outcome: 'link_gone' };
    },

    /** code mode: the Slack user typed the code their browser showed them (their workspace, `teamId`, as the payload names it). */
    async confirmCode(id: SlackIdentity & { teamId?: string }, code: string, by: Actor): Promise<CodeOutcome> {
      const result = await store.confirmCode(id, codeMatches(keys.code, id, code), Date.now(), MAX_CODE_FAILURES, by);
      switch (result.outcome) {
        case 'bound':
          // The pending confirmation keeps the command only if the browser chose "Link and run".
          void afterBinding(result.binding, result.link, true, by.requestId);
          return { outcome: 'code_bound', binding: result.binding };
        case 'already_bound':
          return { outcome: 'code_already_bound', binding: result.binding };
        case 'wrong':
          return { outcome: 'code_wrong', attemptsLeft: result.attemptsLeft };
        case 'void':
          log.warn('security_code_attempts_exhausted', { request_id: by.requestId ?? undefined, slack_user: id.userId });
          return { outcome: 'code_void' };
        default:
          return { outcome: `code_${result.outcome}` };
      }
    },

    /** The user's own unlink; with `boundTo`, only while the binding is still to that internal user. */
    async unlink(id: SlackIdentity, by: Actor, boundTo?: string): Promise<UnlinkOutcome> {
      const binding = await store.unlink(id, by, boundTo);
      if (!binding) return { outcome: 'not_linked' };
      home.refresh(binding, by.requestId);
      log.info('binding_removed', { request_id: by.requestId ?? undefined, slack_team: binding.teamId, slack_user: binding.userId, internal_user: binding.internalUser, actor: by.actor });
      return { outcome: 'unlinked', binding };
    },
  };
}
