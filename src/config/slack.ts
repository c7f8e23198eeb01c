// How we reach Slack and how Slack reaches us: the signing secret, the bot token, the Web API's
// address, where delayed answers may be posted, and the slash command's name.
import type { Reader } from './reader.ts';

export interface SlackSettings {
  signingSecret: string;
  botToken: string;
  /** Always ends with a slash, as WebClient expects. */
  slackApiUrl: string;
  /** URL prefixes (each ending in "/") that response_urls may use besides https://hooks.slack.com/. */
  responseUrlAllow: string[];
  /** The slash command as configured in Slack, for links made outside a command (the App Home). */
  slashCommand: string;
}

export function readSlack(r: Reader): SlackSettings {
  const signingSecret = r.secret('SLACK_SIGNING_SECRET');
  const botToken = r.secret('SLACK_BOT_TOKEN');
  // The bot token, not a user's: a user token would act as that person everywhere.
  if (/^(xoxe\.)?xoxp-/.test(botToken)) {
    r.problem("SLACK_BOT_TOKEN is a user token (xoxp-…): use the app's Bot User OAuth Token (xoxb-…) from its OAuth & Permissions page");
  } else if (botToken && !/^(xoxe\.)?xoxb-/.test(botToken)) {
    r.warn('SLACK_BOT_TOKEN does not start with xoxb-: Slack bot tokens do (the Bot User OAuth Token on the OAuth & Permissions page)');
  }

  let slackApiUrl = 'https://slack.com/api/';
  if (r.env.SLACK_API_URL) {
    const url = r.httpUrl('SLACK_API_URL', r.env.SLACK_API_URL);
    if (url) slackApiUrl = url.href.endsWith('/') ? url.href : `${url.href}/`;
  }

  const responseUrlAllow: string[] = [];
  for (const entry of (r.env.SLACK_RESPONSE_URL_ALLOW ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const url = r.httpUrl('SLACK_RESPONSE_URL_ALLOW', entry);
    // A prefix that stops mid-name would let "http://10.0.0.1:80" allow "http://10.0.0.1:8080".
    if (url && !url.href.endsWith('/')) r.problem(`SLACK_RESPONSE_URL_ALLOW entries must end with "/" (got "${entry}")`);
    else if (url) responseUrlAllow.push(url.href);
  }

  const slashCommand = r.env.SLASH_COMMAND || '/acct';
  if (!/^\/[a-z0-9_-]{1,31}$/.test(slashCommand)) r.problem(`SLASH_COMMAND must be like /acct: a slash and up to 31 lower-case letters, digits, - or _ (got "${slashCommand}")`);

  return { signingSecret, botToken, slackApiUrl, responseUrlAllow, slashCommand };
}
