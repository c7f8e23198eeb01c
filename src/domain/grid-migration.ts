// A workspace that joins an Enterprise Grid organisation keeps its user ids, but from then on every
// payload names the enterprise, which is the key of a Grid user's binding (src/slack/ids.ts orgKey):
// without a move, its users would all look unbound. The move happens on grid_migration_finished,
// and, for a user whose payload arrives before that event (or whose event was lost), at their first
// payload: the enterprise key finds no binding, the workspace key finds something of theirs.
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import { reportRevoked } from './revocation.ts';
import type { Actor, Binding, SlackIdentity } from '../model.ts';
import type { Rekeyed, Store } from '../store/store.ts';

export interface GridMigrationDeps {
  store: Pick<Store, 'getBinding' | 'holdsAnything' | 'rekeyToEnterprise'>;
  log: Logger;
  metrics: Pick<Metrics, 'inc'>;
}

export type GridMigration = ReturnType<typeof createGridMigration>;

export function createGridMigration({ store, log, metrics }: GridMigrationDeps) {
  const migrate = async (teamId: string, enterpriseId: string, by: Actor, userId?: string): Promise<Rekeyed> => {
    const done = await store.rekeyToEnterprise(teamId, enterpriseId, by, userId);
    // The older of two bindings of one person: nobody to tell (the newer one is theirs and stays).
    for (const b of done.revoked) reportRevoked(log, metrics, b, 'grid_migration', by);
    if (done.bindings.length || done.revoked.length || done.links) {
      log.info('grid_migration', {
        request_id: by.requestId ?? undefined,
        slack_team: teamId,
        slack_enterprise: enterpriseId,
        slack_user: userId,
        rekeyed: done.bindings.length,
        revoked: done.revoked.length,
        links: done.links,
      });
    }
    return done;
  };

  return {
    migrate,

    /**
     * The binding of a Slack identity, as store.getBinding finds it. For a Grid user (their key the
     * enterprise, not their workspace) not bound under the enterprise's key, what their workspace's
     * key holds of theirs from before it migrated is moved first: a binding, found and returned, but
     * also an open link or a pending code confirmation (without which their `confirm <code>` would
     * find nothing).
     */
    async getBinding(id: SlackIdentity & { teamId?: string }): Promise<Binding | undefined> {
      const binding = await store.getBinding(id);
      if (binding || !id.teamId || id.teamId === id.org) return binding;
      if (!(await store.holdsAnything({ org: id.teamId, userId: id.userId }))) return undefined;
      await migrate(id.teamId, id.org, { actor: 'system', requestId: null, clientAddress: null }, id.userId);
      return store.getBinding(id);
    },
  };
}
