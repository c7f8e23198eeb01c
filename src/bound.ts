// What follows a new binding, wherever it was completed (browser or `confirm` code): the Slack
// DM that tells the user, in the background so that the page or reply is not kept waiting.
import { linkedDm } from './slack/messages.ts';
import type { Services } from './services.ts';
import type { Binding, LinkRequest } from './store.ts';

export function announceBinding({ log, slack, background }: Services, binding: Binding, request: LinkRequest, requestId: string): void {
  log.info('binding_created', {
    request_id: requestId,
    slack_team: binding.teamId,
    slack_user: binding.userId,
    internal_user: binding.internalUser,
  });
  const fields = { request_id: requestId, slack_team: binding.teamId, slack_user: binding.userId };
  background.run('slack_dm', fields, async () => {
    await slack.dm(binding.userId, linkedDm(request.command, binding));
    log.info('slack_dm', { ...fields, outcome: 'sent' });
  });
}
