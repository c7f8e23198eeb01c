// Block Kit messages. Every value from outside goes through mrkdwn() so a user name cannot
// inject links or mentions into what we post.
import type { Binding } from '../model.ts';
import { clip, LIMITS } from './block-kit-limits.ts';

export interface SlackMessage {
  response_type?: 'ephemeral' | 'in_channel';
  text: string;
  blocks?: unknown[];
  /** Through a response_url: replace the message the interaction came from. */
  replace_original?: boolean;
}

/** Our own Block Kit actions carry this prefix; any other action belongs to the internal application. */
export const OWN_ACTION_PREFIX = 'acct.';

/** Slack's own escaping for mrkdwn text: only &, < and > are special. */
export const mrkdwn = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
export const context = (text: string) => ({ type: 'context', elements: [{ type: 'mrkdwn', text }] });

/** Rendered by Slack in the reader's own time zone; the fallback is UTC. */
export const slackDate = (ms: number): string =>
  `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time}|${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC>`;

const ephemeral = (text: string, blocks: unknown[]): SlackMessage => ({ response_type: 'ephemeral', text, blocks });

/** An ephemeral message of one mrkdwn section whose text is also the notification text. */
export const ephemeralText = (text: string): SlackMessage => ephemeral(text, [section(text)]);

export function linkPrompt(url: string, reason: string, ttlSeconds: number): SlackMessage {
  const minutes = Math.max(1, Math.round(ttlSeconds / 60));
  return ephemeral(`${reason} Link your account: ${url}`, [
    section(`${mrkdwn(reason)}\nOpen this link, sign in as yourself, and confirm:\n<${url}|Link my account>`),
    {
      type: 'actions',
      // A URL button still sends an interaction; acct.open_link is acknowledged and nothing more.
      elements: [{ type: 'button', action_id: 'acct.open_link', text: { type: 'plain_text', text: 'Link my account' }, url, style: 'primary' }],
    },
    context(`The link works once and expires in ${minutes} minute${minutes === 1 ? '' : 's'}. It is only for you: do not share it.`),
  ]);
}

export interface HelpOptions {
  verification: string;
  withConfirm: boolean;
  /** Set when no internal application is connected: the built-in commands. */
  builtins: readonly string[] | null;
}

export function help(command: string, binding: Binding | undefined, { verification, withConfirm, builtins }: HelpOptions): SlackMessage {
  const status = binding
    ? `You are linked to *${mrkdwn(binding.internalUser)}*.`
    : `You are not linked yet: run \`${command} link\` first.`;
  const lines = [
    `\`${command} help\`: this help`,
    `\`${command} whoami\`: which account you are linked to`,
    `\`${command} link\`: link your Slack user to your account`,
    `\`${command} unlink\`: forget the link`,
    ...(withConfirm ? [`\`${command} confirm <code>\`: finish linking with the code shown in your browser`] : []),
    builtins
      ? `Built-in commands (no internal application is connected): ${builtins.map((b) => `\`${command} ${mrkdwn(b)}\``).join(', ')}`
      : `\`${command} <anything else>\`: run it in the internal application as yourself`,
  ];
  return ephemeral(`${status} Commands: help, whoami, link, unlink.`, [section(status), section(lines.join('\n')), context(mrkdwn(verification))]);
}

export function whoami(binding: Binding): SlackMessage {
  const text = `You are linked to *${mrkdwn(binding.internalUser)}* since ${slackDate(binding.createdAt)}.`;
  return ephemeral(`You are linked to ${binding.internalUser}.`, [section(text)]);
}

export function alreadyLinked(command: string, binding: Binding): SlackMessage {
  const text =
    `You are already linked to *${mrkdwn(binding.internalUser)}* (since ${slackDate(binding.createdAt)}).\n` +
    `To link another account, run \`${command} unlink\` first.`;
  return ephemeral(`You are already linked to ${binding.internalUser}.`, [section(text)]);
}

export function unlinked(command: string, binding: Binding): SlackMessage {
  const text = `Your Slack user is no longer linked to *${mrkdwn(binding.internalUser)}*. Run \`${command} link\` to link again.`;
  return ephemeral(`Unlinked from ${binding.internalUser}.`, [section(text)]);
}

export function working(command: string, text: string, binding: Binding): SlackMessage {
  const body = `Working on \`${mrkdwn(`${command} ${text}`)}\` as *${mrkdwn(binding.internalUser)}*… the answer will appear here.`;
  return ephemeral(`Working on ${command} ${text}…`, [section(body)]);
}

export function cannotDeliverLater(command: string, text: string, requestId: string): SlackMessage {
  const body =
    `\`${mrkdwn(`${command} ${text}`)}\` is taking longer than Slack waits, and this Slack request's reply address is not ` +
    `one this service may post to, so its answer cannot be shown. (request ${requestId})`;
  return ephemeralText(body);
}

export function tooBusyToDeliver(command: string, text: string, requestId: string): SlackMessage {
  return ephemeralText(
    `\`${mrkdwn(`${command} ${text}`)}\` is taking longer than Slack waits, and this service is too busy right now to ` +
      `deliver its answer later. Please run it again in a minute. (request ${requestId})`,
  );
}

export function codeOutcome(command: string, outcome: 'none' | 'expired' | 'wrong' | 'void' | 'usage', attemptsLeft = 0): SlackMessage {
  const again = `Run \`${command} link\` to start again.`;
  const text = {
    none: `There is no link waiting for a code from you. ${again}`,
    expired: `That code has expired. ${again}`,
    wrong: `That code is not right. ${attemptsLeft} ${attemptsLeft === 1 ? 'try' : 'tries'} left.`,
    void: `Too many wrong codes: the pending link is void. ${again}`,
    usage: `Type the six-digit code your browser showed: \`${command} confirm 123456\`.`,
  }[outcome];
  return ephemeralText(text);
}

export function linkedReply(binding: Binding): SlackMessage {
  const text = `Linked: your Slack user now acts as *${mrkdwn(binding.internalUser)}*.`;
  return ephemeral(`Linked to ${binding.internalUser}.`, [section(text)]);
}

export function tooManyLinks(perMinute: number): SlackMessage {
  const text = `You asked for ${perMinute} links within a minute, the most allowed. Use the last link you got, or try again in a minute.`;
  return ephemeralText(text);
}

export function apology(requestId: string): SlackMessage {
  const text = `Sorry, something went wrong on our side. Please try again in a moment. (request ${requestId})`;
  return ephemeral(text, [section(mrkdwn(text))]);
}

/** What became of the command the user typed before they were linked. */
export type PendingNote = { ran: string } | { again: string } | null;

export function linkedDm(command: string, binding: Binding, pending: PendingNote = null, linksUrl: string | null = null): SlackMessage {
  const note = !pending
    ? ''
    : 'ran' in pending
      ? `\nI am now running \`${mrkdwn(pending.ran)}\` for you, as you asked before linking; its answer appears where you typed it.`
      : `\nRun \`${mrkdwn(pending.again)}\` again to get its answer.`;
  const text =
    `Your Slack user is now linked to *${mrkdwn(binding.internalUser)}*. ` +
    `Commands you run with \`${command}\` act as that account.${note}\n` +
    `Not you? Run \`${command} unlink\` and tell your administrator.` +
    (linksUrl ? `\nEvery link of your account: <${linksUrl}|My Slack links>.` : '');
  return { text: `Your Slack user is now linked to ${binding.internalUser}.`, blocks: [section(text)] };
}

/** Why a binding ended, in the words of the DM that tells its user. */
const REVOKED_BECAUSE: Partial<Record<string, string>> = {
  admin_api: 'your administrator removed it (for example because you left, or changed roles)',
  admin_cli: 'your administrator removed it',
  idle: 'it was not used for a long time',
  internal_user_inactive: 'the internal application says that account no longer exists',
};

export function revokedDm(binding: Binding, reason: string): SlackMessage {
  const because = REVOKED_BECAUSE[reason] ?? 'it was revoked';
  const text = `Your Slack user is no longer linked to *${mrkdwn(binding.internalUser)}*: ${because}. Run the slash command with \`link\` to link again if you still should.`;
  return { text: `Your Slack user is no longer linked to ${binding.internalUser}.`, blocks: [section(text)] };
}

/** Why Slack refused to post in a channel, in words, by the error it named (else its name alone). */
const NOT_POSTED_BECAUSE: Partial<Record<string, string>> = {
  posting_to_general_channel_denied: 'only some members may post in this channel',
  restricted_action: "the channel's posting permissions do not allow it",
  action_prohibited: 'the workspace restricts posting here',
  channel_not_found: 'this app cannot see the channel (a private channel or conversation it is not in)',
  channel_is_archived: 'the channel is archived',
  is_archived: 'the channel is archived',
};

/**
 * An in_channel answer Slack would not post in the channel, shown to its user alone instead, with
 * one line saying so and why.
 */
export function notPostedInChannel(message: SlackMessage, error: string): SlackMessage {
  const because = NOT_POSTED_BECAUSE[error] ?? 'Slack refused it';
  const note = context(`Only you can see this: it could not be posted in the channel because ${because} (\`${mrkdwn(error)}\`).`);
  // The answer's own text is the internal application's mrkdwn: shown as it would have been.
  const own = message.blocks ?? [section(clip(message.text, LIMITS.sectionText))];
  return { response_type: 'ephemeral', text: message.text, blocks: [...own.slice(0, LIMITS.messageBlocks - 1), note] };
}
