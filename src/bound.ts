// What follows a new binding, wherever it was completed (browser or `confirm` code): the command
// the user typed before linking, if any, and the Slack DM that tells them, both in the background
// so that the page or reply is not kept waiting.
import { linkedDm } from './slack/messages.ts';
import type { Services } from './services.ts';
import type { Binding, Link } from './store.ts';
import type { CommandAnswerer } from './run-command.ts';

export type AnnounceBinding = (binding: Binding, link: Link, requestId: string) => void;

export function createAnnouncer({ log, slack, background, metrics }: Services, answerer: CommandAnswerer): AnnounceBinding {
  return (binding, link, requestId) => {
    const fields = { request_id: requestId, slack_team: binding.teamId, slack_user: binding.userId };
    log.info('binding_created', { ...fields, internal_user: binding.internalUser });
    metrics.inc('links_completed_total');
    const pending = answerer.runPending(binding, link, requestId);
    const started = background.run('slack_dm', fields, async () => {
      try {
        await slack.dm(binding.userId, linkedDm(link.command, binding, pending));
      } catch (err) {
        metrics.inc('slack_dm_failures_total');
        throw err;
      }
      log.info('slack_dm', { ...fields, outcome: 'sent' });
    });
    if (!started) metrics.inc('slack_dm_failures_total');
  };
}
