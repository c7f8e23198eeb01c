// "My Slack links" (GET/POST /links), behind the SSO proxy with the same trust rules as /associate:
// the signed-in person sees every Slack user linked to them and can unlink any of them, and only
// those: someone else's binding is neither shown nor removable.
import { HttpError, mediaType, parseForm, readBody, type Context, type Reply, type Route } from '../http.ts';
import { userCsrfToken, userCsrfTokenValid } from '../domain/secrets.ts';
import type { Pages } from '../pages.ts';
import type { Sso } from './page-guard.ts';
import type { Linking } from '../domain/linking.ts';
import type { ServerKeys } from '../domain/secrets.ts';
import type { Config } from '../config.ts';
import type { Binding, Store } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';
import type { OutcomeOf } from '../outcomes.ts';

const MAX_FORM_BODY = 4 * 1024;
const CSRF_PURPOSE = 'links';

export interface LinksRouteDeps {
  config: Pick<Config, 'basePath'>;
  keys: ServerKeys;
  store: Pick<Store, 'listBindings'>;
  linking: Pick<Linking, 'unlink'>;
  sso: Sso;
  pages: Pages;
  log: Logger;
}

const VERIFIED_BY: Record<string, string> = { email: 'email', code: 'a code typed in Slack', confirm: 'the confirmation page' };
const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export function linksRoute({ config, keys, store, linking, sso, pages, log }: LinksRouteDeps): Route {
  const record = (ctx: Context, outcome: OutcomeOf<'links'>) => (ctx.fields.outcome = outcome);

  const render = (internalUser: string, bindings: Binding[], notice: string | null, status = 200): Reply =>
    pages.linksPage(
      {
        internalUser,
        rows: bindings.map((b) => ({
          org: b.org,
          userId: b.userId,
          userName: b.userName,
          teamDomain: b.teamDomain,
          since: utc(b.createdAt),
          verifiedBy: b.verifiedBy ? VERIFIED_BY[b.verifiedBy]! : 'an earlier version',
          lastUsed: b.lastUsedAt === null ? 'never' : utc(b.lastUsedAt),
        })),
        csrf: userCsrfToken(keys.csrf, CSRF_PURPOSE, internalUser),
        action: `${config.basePath}/links`,
        notice,
      },
      status,
    );

  return {
    operation: 'links',
    async GET(ctx) {
      const { user } = await sso.authenticate(ctx);
      record(ctx, 'listed');
      return render(user, await store.listBindings({ internalUser: user }), null);
    },

    async POST(ctx) {
      const { user } = await sso.authenticate(ctx);
      sso.refuseCrossSite(ctx);
      if (mediaType(ctx.req) !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'Use the Unlink button on the page.');
      const form = parseForm(await readBody(ctx.req, MAX_FORM_BODY));
      if (!userCsrfTokenValid(keys.csrf, CSRF_PURPOSE, user, form.get('csrf'))) {
        record(ctx, 'csrf_refused');
        log.warn('links_csrf_refused', { request_id: ctx.requestId, internal_user: user });
        throw new HttpError(403, 'This form is not valid for the account you are signed in as. Reload the page and try again.');
      }
      if (form.get('decision') !== 'unlink') throw new HttpError(400, 'Unknown decision.');
      const mine = await store.listBindings({ internalUser: user });
      const target = mine.find((b) => b.org === form.get('org') && b.userId === form.get('slack_user'));
      if (!target) {
        // Another person's binding, or one already gone: the same answer, so nothing is revealed.
        record(ctx, 'not_yours');
        return render(user, mine, 'That Slack user is not linked to your account (any more). Nothing was changed.', 404);
      }
      ctx.fields.slack_team = target.teamId;
      ctx.fields.slack_user = target.userId;
      // Removed only if still bound to this person: it may have changed hands since the list was read.
      const removed = await linking.unlink(target, { actor: `internal:${user}`, requestId: ctx.requestId, clientAddress: ctx.req.socket.remoteAddress ?? null }, user);
      if (removed.outcome !== 'unlinked') {
        record(ctx, 'not_yours');
        return render(user, await store.listBindings({ internalUser: user }), 'That Slack user is not linked to your account (any more). Nothing was changed.', 404);
      }
      record(ctx, 'unlinked');
      return render(
        user,
        mine.filter((b) => b !== target),
        `Unlinked ${target.userName} (${target.userId}) in ${target.teamDomain}: its commands no longer act as you.`,
      );
    },

    renderError: (err) => pages.errorPage(err.status, err.message),
  };
}
