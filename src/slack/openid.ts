// Sign in with Slack (OpenID Connect): where the browser is sent to sign in, and who signed in, read
// from the id_token that openid.connect.token returns for the code Slack sent back. The id_token is
// verified (RS256 with Slack's keys, issuer, audience, expiry, nonce) although it came straight from
// Slack over TLS: the nonce is what ties it to this browser's request, and checking the signature
// costs one cached key fetch. userInfo would need one more call and carries no nonce.
import type { WebClient } from '@slack/web-api';
import { createJwks, verifyJwt } from '../sso/jwt.ts';
import { accept, refuse, type Checked } from '../lib/checked.ts';
import { describe } from '../lib/log.ts';
import { QUIET_LOGGER } from './api.ts';

/** Who Slack says signed in. */
export interface SlackSignedIn {
  userId: string;
  teamId: string;
  /** Present on Enterprise Grid. */
  enterpriseId: string | null;
}

/** `refused`: Slack turned the code down (used, expired, wrong client); `invalid`: its answer failed a check; `unavailable`: Slack could not be asked. */
export type SignInVerdict = Checked<SlackSignedIn, 'refused' | 'invalid' | 'unavailable'>;

export interface SlackSignInOptions {
  /** SLACK_API_URL: the authorization endpoint, the keys and the issuer are on its origin. */
  slackApiUrl: string;
  clientId: string;
  clientSecret: string;
  timeoutMs?: number;
}

export interface AuthorizeRequest {
  redirectUri: string;
  state: string;
  nonce: string;
  /** The workspace to sign in to (a hint: the claims are checked all the same); null for none. */
  team: string | null;
}

/** An id_token is only accepted if it is this young: Slack's last an hour. */
const MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600;

export type SlackSignIn = ReturnType<typeof createSlackSignIn>;

export function createSlackSignIn({ slackApiUrl, clientId, clientSecret, timeoutMs = 10_000 }: SlackSignInOptions) {
  const origin = new URL(slackApiUrl).origin;
  // Slack's tokens name https://slack.com as issuer; a stand-in for Slack (SLACK_API_URL elsewhere) names its own origin.
  const issuer = origin;
  const jwks = createJwks({ url: `${origin}/openid/connect/keys`, timeoutMs, owner: "Slack's" });
  let loaded: Promise<WebClient> | undefined;
  const client = (): Promise<WebClient> =>
    (loaded ??= import('@slack/web-api').then(
      ({ WebClient }) =>
        new WebClient(undefined, {
          slackApiUrl,
          // A code is single-use: a retry after a lost answer would be refused anyway.
          retryConfig: { retries: 0 },
          timeout: timeoutMs,
          logger: QUIET_LOGGER,
        }),
    ));

  return {
    authorizeUrl({ redirectUri, state, nonce, team }: AuthorizeRequest): string {
      const url = new URL('/openid/connect/authorize', origin);
      for (const [k, v] of Object.entries({ response_type: 'code', scope: 'openid', client_id: clientId, redirect_uri: redirectUri, state, nonce, team })) if (v !== null) url.searchParams.set(k, v);
      return url.href;
    },

    /** The code Slack sent back, exchanged and its id_token verified (never logged: the detail names no secret). */
    async identify(code: string, redirectUri: string, nonce: string): Promise<SignInVerdict> {
      let idToken: unknown;
      try {
        const answer = await (await client()).openid.connect.token({ client_id: clientId, client_secret: clientSecret, code, redirect_uri: redirectUri });
        idToken = answer.id_token;
      } catch (err) {
        const platform = (err as { code?: string; data?: { error?: string } }).code === 'slack_webapi_platform_error';
        return platform ? refuse('refused', `openid.connect.token: ${(err as { data?: { error?: string } }).data?.error ?? 'error'}`) : refuse('unavailable', `openid.connect.token: ${describe(err)}`);
      }
      if (typeof idToken !== 'string') return refuse('invalid', 'openid.connect.token gave no id_token');
      const verdict = await verifyJwt(idToken, {
        issuer,
        audience: clientId,
        nowSeconds: Math.floor(Date.now() / 1000),
        maxLifetimeSeconds: MAX_TOKEN_LIFETIME_SECONDS,
        keysFor: (kid, kty) => jwks.keysFor(kid, kty),
      });
      if (!verdict.ok) return refuse(verdict.reason, `id_token: ${verdict.detail ?? verdict.reason}`);
      const claims = verdict.value;
      if (claims.nonce !== nonce) return refuse('invalid', 'id_token: wrong nonce');
      const userId = claims['https://slack.com/user_id'];
      const teamId = claims['https://slack.com/team_id'];
      const enterpriseId = claims['https://slack.com/enterprise_id'];
      if (typeof userId !== 'string' || typeof teamId !== 'string') return refuse('invalid', 'id_token: no Slack user or team claim');
      return accept({ userId, teamId, enterpriseId: typeof enterpriseId === 'string' && enterpriseId ? enterpriseId : null });
    },
  };
}
