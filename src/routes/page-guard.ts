// What every page behind the SSO proxy checks before it does anything: who the proxy says the user
// is, and, for a form post, that our own page sent it. Shared by /associate (and the pages to come).
import { HttpError, type Context } from '../http.ts';
import { createIdentitySource, REFUSALS, type Identity } from '../sso/identity.ts';
import type { Logger } from '../lib/log.ts';
import type { Config } from '../config.ts';

export interface Sso {
  /** The signed-in user, or an HttpError with the page's message (and a warning in the log). */
  authenticate(ctx: Context): Promise<Identity>;
  /** Refuses a form post that another site made a browser send (403). */
  refuseCrossSite(ctx: Context): void;
}

export function createSso(config: Config, log: Logger): Sso {
  const identify = createIdentitySource(config);
  return {
    async authenticate(ctx) {
      const verdict = await identify(ctx.req);
      if (!verdict.ok) {
        ctx.fields.outcome = 'identity_refused';
        // A warning an operator can act on: where the request came from and why it was refused.
        log.warn('sso_refused', { request_id: ctx.requestId, path: ctx.path, remote_address: ctx.req.socket.remoteAddress, reason: verdict.refusal, detail: verdict.detail });
        const { status, message } = REFUSALS[verdict.refusal];
        throw new HttpError(status, message, {}, verdict.refusal);
      }
      ctx.fields.internal_user = verdict.identity.user;
      return verdict.identity;
    },

    /**
     * Only forms our own page submitted: browsers say where a request came from. Sec-Fetch-Site
     * cannot be set by a page, so when present it decides. Our pages send `Referrer-Policy:
     * no-referrer`, which makes browsers send `Origin: null` on their own form posts: that is
     * accepted only together with `Sec-Fetch-Site: same-origin`.
     */
    refuseCrossSite(ctx) {
      const site = ctx.req.headers['sec-fetch-site'];
      const origin = ctx.req.headers.origin;
      const siteOk = site === undefined || site === 'same-origin' || site === 'none';
      const originOk = origin === undefined || origin === config.publicOrigin || (origin === 'null' && site === 'same-origin');
      if (!siteOk || !originOk) {
        ctx.fields.outcome = 'cross_site_refused';
        // The event's name predates the other pages behind SSO; operators alert on it, so it stays.
        log.warn('associate_cross_site_refused', { request_id: ctx.requestId, path: ctx.path, sec_fetch_site: site, origin });
        throw new HttpError(403, 'This confirmation was sent from another site and was refused. Open the link from Slack again.');
      }
    },
  };
}
