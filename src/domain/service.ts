// The domain assembled from its parts, in the order they depend on each other (no part refers to
// one made after it): the Home tab → revocation → acting as the user → linking started on the web →
// linking → what a slash command, a click and an event do. The server (both transports) and the
// admin CLI build it here.
import { createHome } from './home.ts';
import { createRevocation } from './revocation.ts';
import { createRunAsUser } from './run-as-user.ts';
import { createLinking } from './linking.ts';
import { createLinkingFromWeb } from './linking-from-web.ts';
import { createSlashCommands } from './slash-command.ts';
import { createButtons } from './buttons.ts';
import { createSlackEvents } from './slack-events.ts';
import { createGridMigration } from './grid-migration.ts';
import { createAnswerDelivery } from './answer-delivery.ts';
import type { Config } from '../config/index.ts';
import type { Store } from '../store/store.ts';
import type { SlackApi } from '../slack/api.ts';
import type { CommandRunner } from '../runners/runner.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Background } from '../lib/background.ts';
import type { ServerKeys } from './secrets.ts';
import type { SlackSignIn } from '../slack/openid.ts';
import type { SlackWorkspace } from '../model.ts';

/** What the service is built from. main.ts makes one of each; in-process tests make their own. */
export interface DomainDeps {
  config: Config;
  store: Store;
  keys: ServerKeys;
  slack: SlackApi;
  /** Sign in with Slack (SLACK_CLIENT_ID), or null without it. */
  signIn: SlackSignIn | null;
  /** The workspace this app serves: the startup self-check's auth.test, asked again while Slack has not said. */
  workspace: () => Promise<SlackWorkspace | null>;
  /** Runs a bound user's command: the internal application, or the built-in handler. */
  runner: CommandRunner;
  log: Logger;
  metrics: Metrics;
  background: Background;
}

export type Domain = ReturnType<typeof createDomain>;

export function createDomain(deps: DomainDeps) {
  const { config, store, keys, slack, signIn, workspace, runner, log, metrics, background } = deps;
  // Every lookup of a Slack person's binding goes through it, so that a workspace's move into a Grid
  // organisation never makes its users look unbound.
  const grid = createGridMigration({ store, log, metrics });
  const home = createHome({ config, store: grid, slack, background, log });
  const revocation = createRevocation({ config, store, slack, home, log, metrics, background });
  const deliver = createAnswerDelivery({ slack, log, metrics });
  const runAsUser = createRunAsUser({ runner, revocation, store, slack, deliver, log, metrics, background });
  const fromWeb = createLinkingFromWeb({ config, store, keys, slack, signIn, workspace, log, metrics });
  const linking = createLinking({ config, store, keys, slack, signIn, fromWeb, log, metrics, background, runAsUser, home });
  return {
    home,
    revocation,
    runAsUser,
    linking,
    grid,
    slashCommands: createSlashCommands({ config, store, grid, linking, runAsUser, runner }),
    buttons: createButtons({ config, store: grid, linking, runAsUser, home, slack, deliver, background, log }),
    events: createSlackEvents({ store, revocation, home, grid, log }),
  };
}
