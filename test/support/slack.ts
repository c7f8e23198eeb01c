// What Slack does when a user types a slash command: a signed, form-encoded POST.
import { slackSignature } from '../../src/slack/signature.ts';
import { form, request, type TestResponse } from './http-client.ts';
import { SIGNING_SECRET } from './server.ts';

export interface CommandOptions {
  user?: string;
  team?: string;
  enterprise?: string;
  userName?: string;
  teamDomain?: string;
  text?: string;
  extra?: Record<string, string>;
  /** Override the signing: timestamp in seconds, secret, or a signature as sent. */
  timestamp?: number;
  secret?: string;
  signature?: string;
  headers?: Record<string, string>;
}

let triggers = 0;
/** Slack gives every slash command its own trigger_id, so no two signed requests are the same. */
const newTriggerId = () => `${Date.now()}.${process.pid}.${++triggers}`;

export function commandBody(o: CommandOptions = {}): string {
  const fields: Record<string, string> = {
    token: 'legacy-verification-token',
    team_id: o.team ?? 'T0001',
    team_domain: o.teamDomain ?? 'acme',
    channel_id: 'C0001',
    channel_name: 'general',
    user_id: o.user ?? 'U0001',
    user_name: o.userName ?? 'roadrunner',
    command: '/acct',
    text: o.text ?? '',
    response_url: 'https://hooks.slack.com/commands/T0001/1/abc',
    trigger_id: newTriggerId(),
  };
  if (o.enterprise) fields.enterprise_id = o.enterprise;
  return form({ ...fields, ...o.extra });
}

export function signedHeaders(body: string | Buffer, o: Pick<CommandOptions, 'timestamp' | 'secret' | 'signature'> = {}) {
  const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000));
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': timestamp,
    'x-slack-signature': o.signature ?? slackSignature(o.secret ?? SIGNING_SECRET, timestamp, body),
  };
}

export async function slashCommand(baseUrl: string, o: CommandOptions = {}): Promise<TestResponse & { json: any }> {
  const body = commandBody(o);
  return withJson(await request(`${baseUrl}/slack/commands`, { method: 'POST', headers: { ...signedHeaders(body, o), ...o.headers }, body }));
}

/** The response with its body parsed as JSON (undefined when it is not JSON). */
export function withJson(res: TestResponse): TestResponse & { json: any } {
  let json: any;
  try {
    json = JSON.parse(res.body);
  } catch {
    json = undefined;
  }
  return { ...res, json };
}

/** The association URL in an ephemeral link prompt. */
export function linkFrom(reply: { json: any }): string {
  const m = /https?:\/\/\S+\/associate\?nonce=[A-Za-z0-9_-]+/.exec(reply.json?.text ?? '');
  if (!m) throw new Error(`no association link in ${JSON.stringify(reply.json)}`);
  return m[0];
}

let events = 0;
/** A unique event id, as Slack gives every event. */
export const newEventId = () => `Ev${Date.now().toString(36).toUpperCase()}${++events}`;

/** An Events API envelope around `event`, as Slack sends it. */
export function eventEnvelope(event: Record<string, unknown>, o: { team?: string; enterprise?: string; eventId?: string; enterpriseInstall?: boolean } = {}) {
  return {
    token: 'legacy-verification-token',
    team_id: o.team ?? 'T0001',
    ...(o.enterprise ? { enterprise_id: o.enterprise } : {}),
    api_app_id: 'A0001',
    event,
    type: 'event_callback',
    event_id: o.eventId ?? newEventId(),
    event_time: Math.floor(Date.now() / 1000),
    is_enterprise_install: o.enterpriseInstall ?? false,
  };
}

/** POST /slack/events, signed (or not: pass `secret`/`signature`/`timestamp` to break it). */
export async function sendEvent(
  baseUrl: string,
  payload: unknown,
  o: Pick<CommandOptions, 'timestamp' | 'secret' | 'signature'> & { headers?: Record<string, string>; raw?: string } = {},
): Promise<TestResponse & { json: any }> {
  const body = o.raw ?? JSON.stringify(payload);
  const headers = { ...signedHeaders(body, o), 'content-type': 'application/json', ...o.headers };
  return withJson(await request(`${baseUrl}/slack/events`, { method: 'POST', headers, body }));
}

/** POST /slack/interactions as Slack sends a button click: the form field `payload` holding JSON. */
export async function sendInteraction(
  baseUrl: string,
  payload: unknown,
  o: Pick<CommandOptions, 'timestamp' | 'secret' | 'signature'> = {},
): Promise<TestResponse> {
  const body = form({ payload: JSON.stringify(payload) });
  return request(`${baseUrl}/slack/interactions`, { method: 'POST', headers: signedHeaders(body, o), body });
}

/** A block_actions payload: one click by `user` on `actionId`, in the App Home or in a message. */
export function blockActions(o: { user: string; team?: string; actionId: string; value?: string; container?: 'view' | 'message'; responseUrl?: string }) {
  return {
    type: 'block_actions',
    user: { id: o.user, username: o.user.toLowerCase(), team_id: o.team ?? 'T0001' },
    team: { id: o.team ?? 'T0001', domain: 'acme' },
    api_app_id: 'A0001',
    container: o.container === 'view' ? { type: 'view', view_id: 'V1' } : { type: 'message', message_ts: '1700000000.000100', channel_id: 'C0001', is_ephemeral: false },
    channel: { id: 'C0001', name: 'general' },
    trigger_id: `${Date.now()}.${Math.random()}`,
    response_url: o.responseUrl ?? 'https://hooks.slack.com/actions/T0001/1/x',
    actions: [{ type: 'button', action_id: o.actionId, block_id: 'b1', value: o.value ?? 'v1', action_ts: `${Date.now() / 1000}` }],
  };
}
