// What every page behind the SSO proxy checks before it does anything: who the proxy says the user
// is, and, for a form post, that our own page sent it. Shared by /associate and /links.
import { mediaType, parseForm, readBody, type Context, type Form } from '../http.ts';
import { refusal } from '../refusals.ts';
import { createIdentitySource } from '../sso/identity.ts';
import type { Logger } from '../lib/log.ts';
import { clientAddress } from '../lib/address-list.ts';
import type { Config } from '../config/index.ts';
import type { InternalIdentity } from '../model.ts';

export interface PageGuard {
  /** The signed-in user, or a refusal with the page's message (and a warning in the log). */
  authenticate(ctx: Context): Promise<InternalIdentity>;
  /**
   * A form our own page posted, read within `limit` bytes: refused when another site made a
   * browser send it (403), or when it is not a form (415).
   */
  readForm(ctx: Context, who: InternalIdentity, limit: number): Promise<Form>;
  /** The audit trail's client address: from X-Forwarded-For behind a trusted proxy, else the peer. */
  clientAddress(ctx: Context): string | null;
}

export function createPageGuard(config: Config, log: Logger): PageGuard {
  const identify = createIdentitySource(config);

  /**
   * Only forms our own page submitted: browsers say where a request came from. Sec-Fetch-Site
   * cannot be set by a page, so when present it decides. Our pages send `Referrer-Policy:
   * no-referrer`, which makes browsers send `Origin: null` on their own form posts: that is
   * accepted only together with `Sec-Fetch-Site: same-origin`.
   */
  const refuseCrossSite = (ctx: Context, who: InternalIdentity): void => {
    const site = ctx.req.headers['sec-fetch-site'];
    const origin = ctx.req.headers.origin;
    const siteOk = site === undefined || site === 'same-origin' || site === 'none';
    const originOk = origin === undefined || origin === config.publicOrigin || (origin === 'null' && site === 'same-origin');
    if (siteOk && originOk) return;
    // The event's name predates the other pages behind SSO; operators alert on it, so it stays.
    log.warn('associate_cross_site_refused', { request_id: ctx.requestId, path: ctx.path, sec_fetch_site: site, origin });
    throw refusal('cross_site', { outcome: 'cross_site_refused', about: { internal_user: who.user } });
  };

  return {
    async authenticate(ctx) {
      const verdict = await identify(ctx.req);
      if (verdict.ok) return verdict.value;
      // A warning an operator can act on: where the request came from and why it was refused.
      log.warn('sso_refused', { request_id: ctx.requestId, path: ctx.path, remote_address: ctx.req.socket.remoteAddress, reason: verdict.reason, detail: verdict.detail });
      throw refusal(verdict.reason, { outcome: 'identity_refused', detail: verdict.reason });
    },

    async readForm(ctx, who, limit) {
      refuseCrossSite(ctx, who);
      if (mediaType(ctx.req) !== 'application/x-www-form-urlencoded') throw refusal('page_form_expected', { about: { internal_user: who.user } });
      return parseForm(await readBody(ctx.req, limit));
    },

    clientAddress(ctx) {
      // Node joins repeated X-Forwarded-For lines with ", " already; the type allows a list.
      const forwardedFor = [ctx.req.headers['x-forwarded-for'] ?? []].flat().join(',');
      return clientAddress(config.trustedProxies, ctx.req.socket.remoteAddress, forwardedFor) ?? null;
    },
  };
}
