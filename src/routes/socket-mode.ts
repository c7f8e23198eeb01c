// The Socket Mode entry point: each envelope Slack sends over the socket (src/slack/socket-mode.ts)
// becomes the same call the signed HTTP routes make (a slash command, an event, a click), and its
// answer the acknowledgement's payload: a slash command's reply exactly as POST /slack/commands
// would have returned it. One log line per envelope, its outcome counted under the same names.
import { randomUUID } from 'node:crypto';
import { parseSlashCommand } from '../slack/command-payload.ts';
import { parseSlackEvent } from '../slack/event-payload.ts';
import { parseInteraction } from '../slack/interaction-payload.ts';
import { apology } from '../slack/messages.ts';
import { describe, type Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import { COUNTERS, type Operation } from '../outcomes.ts';
import type { About } from '../refusals.ts';
import type { Envelope, EnvelopeHandler, EnvelopeType } from '../slack/socket-mode.ts';
import type { SlashCommands } from '../domain/slash-command.ts';
import type { SlackEvents } from '../domain/slack-events.ts';
import type { Buttons } from '../domain/buttons.ts';

export interface SocketEnvelopesDeps {
  slashCommands: SlashCommands;
  events: SlackEvents;
  buttons: Buttons;
  log: Logger;
  metrics: Metrics;
}

interface Answered {
  outcome: string;
  /** The acknowledgement's payload; undefined: a bare acknowledgement. */
  ack?: unknown;
  about?: About;
}

const OPERATION: Record<EnvelopeType, Extract<Operation, 'commands' | 'events' | 'interactions'>> = { slash_commands: 'commands', events_api: 'events', interactive: 'interactions' };

/** A refused payload is still acknowledged: Slack sending it again would not make it valid. */
const refused = (reason: string): Answered => ({ outcome: 'refused', about: { detail: reason } });

function socketEnvelopes({ slashCommands, events, buttons, log }: SocketEnvelopesDeps): (requestId: string, envelope: Envelope) => Promise<Answered> {
  return async (requestId, { type, payload }) => {
    switch (type) {
      case 'slash_commands': {
        const parsed = parseSlashCommand({ get: (name) => (typeof payload[name] === 'string' ? (payload[name] as string) : undefined) });
        if (!parsed.ok) return refused(parsed.reason);
        const cmd = parsed.value;
        const about = { slack_team: cmd.user.teamId, slack_user: cmd.user.userId };
        try {
          // No replay claim: the socket is authenticated, its envelopes are not signed.
          const result = await slashCommands(cmd, requestId, null);
          if (result.outcome === 'replayed') return refused('replayed without a claim');
          return { outcome: result.outcome, ack: result.message ?? undefined, about: result.binding ? { ...about, internal_user: result.binding.internalUser } : about };
        } catch (err) {
          log.error('command_failed', { request_id: requestId, slack_user: cmd.user.userId, error: describe(err) });
          return { outcome: 'error', ack: apology(requestId), about };
        }
      }
      case 'events_api': {
        const parsed = parseSlackEvent(payload);
        if (!parsed.ok) return refused(parsed.reason);
        const event = parsed.value;
        // The HTTP handshake of a request URL: it has no place on a socket.
        if (event.kind === 'url_verification') return refused('url_verification over the socket');
        // A failure rejects: unacknowledged, the envelope comes again (the domain forgot the delivery).
        const result = await events.handle(event, requestId);
        return { outcome: result.outcome, about: { slack_team: result.who?.teamId, slack_user: result.who?.userId, detail: result.detail } };
      }
      case 'interactive': {
        const parsed = parseInteraction(payload);
        if (!parsed.ok) return refused(parsed.reason);
        const clicked = buttons.handle(parsed.value, requestId);
        return { outcome: clicked.outcome, about: { slack_team: clicked.who?.teamId, slack_user: clicked.who?.userId, detail: clicked.detail } };
      }
    }
  };
}

/** The handler the socket calls: the envelope answered, logged with a request id and counted. */
export function socketHandler(deps: SocketEnvelopesDeps): EnvelopeHandler {
  const answer = socketEnvelopes(deps);
  return async (envelope) => {
    const started = performance.now();
    const requestId = randomUUID();
    const operation = OPERATION[envelope.type];
    const line = (outcome: string, about?: About) => {
      deps.metrics.inc(COUNTERS[operation], { outcome });
      deps.log.info('socket', {
        request_id: requestId,
        envelope_type: envelope.type,
        envelope_id: envelope.id,
        retry_attempt: envelope.retryAttempt || undefined,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
        outcome,
        ...about,
      });
    };
    let answered: Answered;
    try {
      answered = await answer(requestId, envelope);
    } catch (err) {
      line('error', { detail: describe(err) });
      throw err;
    }
    line(answered.outcome, answered.about);
    return answered.ack;
  };
}
