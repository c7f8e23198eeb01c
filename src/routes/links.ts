// "My Slack links" (GET/POST /links), behind the SSO proxy with the same trust rules as /associate:
// the signed-in person sees every Slack user linked to them and can unlink any of them, and only
// those: someone else's binding is neither shown nor removable.
import { handled, type Reply, type Route } from '../http.ts';
import { refusal } from '../refusals.ts';
import { userCsrfToken, userCsrfTokenValid, type ServerKeys } from '../domain/secrets.ts';
import type { Pages } from '../pages.ts';
import type { PageGuard } from './page-guard.ts';
import type { Linking } from '../domain/linking.ts';
import type { Config } from '../config/index.ts';
import type { Binding, LinkVerification } from '../model.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';

const MAX_FORM_BODY = 4 * 1024;
const CSRF_PURPOSE = 'links';

export interface LinksRouteDeps {
  config: Pick<Config, 'basePath'>;
  keys: ServerKeys;
  store: Pick<Store, 'listBindings'>;
  linking: Pick<Linking, 'unlink' | 'webAuthorizeUrl'>;
  guard: PageGuard;
  pages: Pages;
  log: Logger;
}

const VERIFIED_BY: Record<LinkVerification, string> = { email: 'email', code: 'a code typed in Slack', confirm: 'the confirmation page', slack: 'Sign in with Slack' };
const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export function linksRoute({ config, keys, store, linking, guard, pages, log }: LinksRouteDeps): Route<'links'> {
  const render = async (internalUser: string, bindings: Binding[], notice: string | null, status = 200): Promise<Reply> =>
    pages.linksPage(
      {
        internalUser,
        rows: bindings.map((b) => ({
          org: b.org,
          userId: b.userId,
          userName: b.userName,
          teamDomain: b.teamDomain,
          since: utc(b.createdAt),
          verifiedBy: b.verifiedBy ? VERIFIED_BY[b.verifiedBy] : 'an earlier version',
          lastUsed: b.lastUsedAt === null ? 'never' : utc(b.lastUsedAt),
        })),
        csrf: userCsrfToken(keys.csrf, CSRF_PURPOSE, internalUser),
        action: `${config.basePath}/links`,
        notice,
        linkSlackAccount: await linking.webAuthorizeUrl(internalUser),
      },
      status,
    );

  return {
    operation: 'links',
    async GET(ctx) {
      const { user } = await guard.authenticate(ctx);
      return handled('listed', await render(user, await store.listBindings({ internalUser: user }), null), { internal_user: user });
    },

    async POST(ctx) {
      const identity = await guard.authenticate(ctx);
      const { user } = identity;
      const form = await guard.readForm(ctx, identity, MAX_FORM_BODY);
      if (!userCsrfTokenValid(keys.csrf, CSRF_PURPOSE, user, form.get('csrf'))) {
        log.warn('links_csrf_refused', { request_id: ctx.requestId, internal_user: user });
        throw refusal('links_csrf', { outcome: 'csrf_refused', about: { internal_user: user } });
      }
      if (form.get('decision') !== 'unlink') throw refusal('unknown_decision', { about: { internal_user: user } });
      const mine = await store.listBindings({ internalUser: user });
      const target = mine.find((b) => b.org === form.get('org') && b.userId === form.get('slack_user'));
      const notYours = 'That Slack user is not linked to your account (any more). Nothing was changed.';
      // Another person's binding, or one already gone: the same answer, so nothing is revealed.
      if (!target) return handled('not_yours', await render(user, mine, notYours, 404), { internal_user: user });
      const about = { internal_user: user, slack_team: target.teamId, slack_user: target.userId };
      // Removed only if still bound to this person: it may have changed hands since the list was read.
      const removed = await linking.unlink(target, { actor: `internal:${user}`, requestId: ctx.requestId, clientAddress: guard.clientAddress(ctx) }, user);
      if (removed.outcome !== 'unlinked') return handled('not_yours', await render(user, await store.listBindings({ internalUser: user }), notYours, 404), about);
      const page = await render(
        user,
        mine.filter((b) => b !== target),
        `Unlinked ${target.userName} (${target.userId}) in ${target.teamDomain}: its commands no longer act as you.`,
      );
      return handled('unlinked', page, about);
    },

    renderError: (err) => pages.errorPage(err.status, err.message),
  };
}
