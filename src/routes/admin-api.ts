// /admin/bindings, the offboarding API for HR and identity-provider automation: list (GET) or revoke
// (DELETE) every binding of an internal user. Off (404) unless ADMIN_API_TOKEN is set; only for
// ADMIN_ALLOW addresses (loopback by default); the bearer token compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { handled, json, type Context, type Route } from '../http.ts';
import { refusal } from '../refusals.ts';
import { isAllowed, type AddressList } from '../lib/address-list.ts';
import type { Revocation } from '../domain/revocation.ts';
import type { Store } from '../store/store.ts';
import { bindingJson } from '../model.ts';
import type { Logger } from '../lib/log.ts';
import { forwardedBy } from './operator-guard.ts';

const MAX_NAME = 256;

export interface AdminRouteDeps {
  token: string | null;
  allow: AddressList;
  /** The headers that say a request came through a proxy (operator-guard.ts). */
  proxyMarkers: readonly string[];
  store: Pick<Store, 'listBindings'>;
  revocation: Pick<Revocation, 'revoke'>;
  log: Logger;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function adminRoute({ token, allow, proxyMarkers, store, revocation, log }: AdminRouteDeps): Route<'admin'> {
  const expected = token === null ? null : digest(token);

  /** Who may call, and about whom: 404 when off, 403 through a proxy or by address, 401 by token, 400 without a name. */
  const authorize = (ctx: Context): string => {
    if (!expected) throw refusal('admin_off');
    const marker = forwardedBy(ctx.req, proxyMarkers);
    if (marker) {
      log.warn('admin_api_refused', { request_id: ctx.requestId, remote_address: ctx.req.socket.remoteAddress, reason: `through a proxy (${marker})` });
      throw refusal('admin_proxied');
    }
    if (!isAllowed(allow, ctx.req.socket.remoteAddress)) {
      log.warn('admin_api_refused', { request_id: ctx.requestId, remote_address: ctx.req.socket.remoteAddress, reason: 'not in ADMIN_ALLOW' });
      throw refusal('admin_not_allowed');
    }
    const header = ctx.req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!given || !timingSafeEqual(digest(given), expected)) {
      log.warn('admin_api_refused', { request_id: ctx.requestId, remote_address: ctx.req.socket.remoteAddress, reason: given ? 'wrong token' : 'no bearer token' });
      throw refusal('admin_token', { headers: { 'www-authenticate': 'Bearer' } });
    }
    const name = ctx.query.get('internal_user')?.trim() ?? '';
    if (!name || name.length > MAX_NAME) throw refusal('admin_no_user');
    return name;
  };

  return {
    operation: 'admin',
    async GET(ctx) {
      const internalUser = authorize(ctx);
      const bindings = (await store.listBindings({ internalUser })).map(bindingJson);
      return handled('listed', json(200, { internal_user: internalUser, bindings }), { internal_user: internalUser });
    },
    async DELETE(ctx) {
      const internalUser = authorize(ctx);
      const by = { actor: 'admin_api', requestId: ctx.requestId, clientAddress: ctx.req.socket.remoteAddress ?? null };
      const { bindings, links } = await revocation.revoke({ internalUser }, 'admin_api', by);
      const reply = json(200, { internal_user: internalUser, revoked: bindings.length, pending_confirmations_cancelled: links });
      return handled(bindings.length || links ? 'revoked' : 'nothing_to_revoke', reply, { internal_user: internalUser });
    },
    renderError: (err) => json(err.status, { error: err.message }),
  };
}
