// /admin/bindings, the offboarding API for HR and identity-provider automation: list (GET) or revoke
// (DELETE) every binding of an internal user. Off (404) unless ADMIN_API_TOKEN is set; only for
// ADMIN_ALLOW addresses (loopback by default); the bearer token compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError, json, type Context, type Route } from '../http.ts';
import { isAllowed, type AddressList } from '../lib/address-list.ts';
import type { Linking } from '../domain/linking.ts';
import type { Binding, Store } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';
import type { OutcomeOf } from '../outcomes.ts';

const MAX_NAME = 256;

export interface AdminRouteDeps {
  token: string | null;
  allow: AddressList;
  store: Pick<Store, 'listBindings'>;
  linking: Pick<Linking, 'revoke'>;
  log: Logger;
}

/** A binding as the API shows it (and `admin list --json`). */
export const bindingJson = (b: Binding) => ({
  workspace: b.org,
  team_id: b.teamId,
  enterprise_id: b.enterpriseId,
  slack_user_id: b.userId,
  slack_user_name: b.userName,
  team_domain: b.teamDomain,
  internal_user: b.internalUser,
  created_at: new Date(b.createdAt).toISOString(),
  verified_by: b.verifiedBy,
  last_used_at: b.lastUsedAt === null ? null : new Date(b.lastUsedAt).toISOString(),
});

const digest = (s: string) => createHash('sha256').update(s).digest();

export function adminRoute({ token, allow, store, linking, log }: AdminRouteDeps): Route {
  const record = (ctx: Context, outcome: OutcomeOf<'admin'>) => (ctx.fields.outcome = outcome);
  const expected = token === null ? null : digest(token);

  /** Who may call, and about whom: 404 when off, 403 by address, 401 by token, 400 without a name. */
  const authorize = (ctx: Context): string => {
    if (!expected) throw new HttpError(404, 'Not found.');
    if (!isAllowed(allow, ctx.req.socket.remoteAddress)) {
      log.warn('admin_api_refused', { request_id: ctx.requestId, remote_address: ctx.req.socket.remoteAddress, reason: 'not in ADMIN_ALLOW' });
      throw new HttpError(403, 'The offboarding API is only served to addresses in ADMIN_ALLOW.');
    }
    const header = ctx.req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!given || !timingSafeEqual(digest(given), expected)) {
      log.warn('admin_api_refused', { request_id: ctx.requestId, remote_address: ctx.req.socket.remoteAddress, reason: given ? 'wrong token' : 'no bearer token' });
      throw new HttpError(401, 'A valid bearer token (ADMIN_API_TOKEN) is required.', { 'www-authenticate': 'Bearer' });
    }
    const name = ctx.query.get('internal_user')?.trim() ?? '';
    if (!name || name.length > MAX_NAME) throw new HttpError(400, 'Give the person as ?internal_user=NAME.');
    ctx.fields.internal_user = name;
    return name;
  };

  return {
    operation: 'admin',
    async GET(ctx) {
      const internalUser = authorize(ctx);
      record(ctx, 'listed');
      return json(200, { internal_user: internalUser, bindings: (await store.listBindings({ internalUser })).map(bindingJson) });
    },
    async DELETE(ctx) {
      const internalUser = authorize(ctx);
      const by = { actor: 'admin_api', requestId: ctx.requestId, clientAddress: ctx.req.socket.remoteAddress ?? null };
      const { bindings, links } = await linking.revoke({ internalUser }, 'admin_api', by);
      record(ctx, bindings.length || links ? 'revoked' : 'nothing_to_revoke');
      return json(200, { internal_user: internalUser, revoked: bindings.length, pending_confirmations_cancelled: links });
    },
    renderError: (err) => json(err.status, { error: err.message }),
  };
}
