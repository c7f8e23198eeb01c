// The links users open: where this service is reached (PUBLIC_BASE_URL), how a link is proven
// (LINK_VERIFICATION, with Sign in with Slack's client for `slack`), how long a link lives and how many a user may ask for.
import { LINK_VERIFICATIONS, type LinkVerification } from '../model.ts';
import type { Reader } from './reader.ts';

export interface LinkSettings {
  publicBaseUrl: string;
  /** Origin of publicBaseUrl, compared with the browser's Origin header on a form post. */
  publicOrigin: string;
  /** The path of PUBLIC_BASE_URL ("" or e.g. "/slack-link"): a path-routed ingress may forward it. */
  basePath: string;
  linkVerification: LinkVerification;
  nonceTtlSeconds: number;
  /** Association links one Slack user may create per minute; 0 turns the limit off. */
  linkRateLimitPerMinute: number;
  /** Sign in with Slack (LINK_VERIFICATION=slack): the app's OAuth client; "" when not used. */
  slackClientId: string;
  slackClientSecret: string;
}

/** This service's own paths: one of them at the end of PUBLIC_BASE_URL was pasted from elsewhere (Slack's request URL, a link). */
const OWN_PATHS = ['/slack/commands', '/slack/events', '/slack/interactions', '/slack', '/associate', '/associate/slack', '/links', '/healthz', '/metrics', '/admin/bindings'];

/** The link a user gets in Slack, as the log and the doctor may show it (the nonce elided). */
export const linkExample = (publicBaseUrl: string): string => `${publicBaseUrl}/associate?nonce=…`;

/** A URL's hostname that only this machine reaches (what PUBLIC_BASE_URL is in a trial). */
export const isLoopbackHost = (hostname: string): boolean => /^(localhost|127\.|\[::1\]$)/.test(hostname);

export function readLinks(r: Reader): LinkSettings {
  let publicBaseUrl = '';
  let publicOrigin = '';
  let basePath = '';
  const raw = r.secret('PUBLIC_BASE_URL');
  const url = raw ? r.httpUrl('PUBLIC_BASE_URL', raw) : undefined;
  if (url) {
    if (url.search || url.hash) r.problem('PUBLIC_BASE_URL must not have a query or fragment');
    publicBaseUrl = url.href.replace(/\/+$/, '');
    publicOrigin = url.origin;
    basePath = url.pathname.replace(/\/+$/, '');
    if (url.protocol !== 'https:') r.warn(`PUBLIC_BASE_URL is not https (${url.origin}): Slack and browsers reach this service over the internet; use https except on a laptop`);
    if (isLoopbackHost(url.hostname)) r.warn(`PUBLIC_BASE_URL is a loopback address (${url.host}): links in Slack will only open on this machine`);
    if (!/^(\/[A-Za-z0-9._~-]+)*$/.test(basePath)) r.problem(`PUBLIC_BASE_URL's path must be plain segments like /slack-link (got "${url.pathname}")`);
    // A path is right behind a proxy that serves this service under it; one of our own paths there
    // is a URL pasted into the wrong setting, and every link would then be wrong.
    const pasted = OWN_PATHS.find((own) => basePath.toLowerCase().endsWith(own));
    if (pasted) {
      r.warn(
        `PUBLIC_BASE_URL ends in ${pasted}, one of this service's own paths: the links users get are ${linkExample(publicBaseUrl)}. ` +
          `PUBLIC_BASE_URL is where browsers reach the service through the sign-in proxy, without any path of ours (likely ${url.origin}${basePath.slice(0, -pasted.length)})`,
      );
    }
  }

  const linkVerification = (r.env.LINK_VERIFICATION || 'email') as LinkVerification;
  if (!LINK_VERIFICATIONS.includes(linkVerification)) {
    r.problem(`LINK_VERIFICATION must be one of ${LINK_VERIFICATIONS.join(', ')} (got "${r.env.LINK_VERIFICATION}")`);
  }

  // Sign in with Slack needs the app's OAuth client (Basic Information → App Credentials): for
  // LINK_VERIFICATION=slack, and for linking started from "My Slack links", which a client id turns on.
  const signIn = linkVerification === 'slack';
  const why = ' (LINK_VERIFICATION=slack signs users in with Slack: copy it from Basic Information → App Credentials)';
  const slackClientId = r.secret('SLACK_CLIENT_ID', signIn, why).trim();
  const slackClientSecret = r.secret(
    'SLACK_CLIENT_SECRET',
    signIn || slackClientId !== '',
    signIn ? why : ' (SLACK_CLIENT_ID is set: Sign in with Slack exchanges its codes with the client secret, from Basic Information → App Credentials)',
  );
  if (slackClientId && !/^[0-9]+\.[0-9]+$/.test(slackClientId)) r.warn('SLACK_CLIENT_ID does not look like the digits.digits Slack issues (Basic Information → App Credentials → Client ID)');

  return {
    publicBaseUrl,
    publicOrigin,
    basePath,
    linkVerification,
    nonceTtlSeconds: r.integer('NONCE_TTL_SECONDS', 600, 1, 86400),
    linkRateLimitPerMinute: r.integer('LINK_RATE_LIMIT_PER_MINUTE', 5, 0, 10_000),
    slackClientId,
    slackClientSecret,
  };
}
