// How we reach Slack and how Slack reaches us: over HTTP (Slack signs each request with the signing
// secret) or over Socket Mode (we connect out with the app-level token), or both during a move;
// the bot token, the Web API's address, where delayed answers may be posted, the command's name.
import type { Reader } from './reader.ts';

export interface SlackSettings {
  /** "" with Socket Mode alone: then /slack/* is not served (404). */
  signingSecret: string;
  botToken: string;
  /** The app-level token (xapp-…) that opens Socket Mode connections; "" when Slack calls us over HTTP. */
  appToken: string;
  /** Always ends with a slash, as WebClient expects. */
  slackApiUrl: string;
  /** URL prefixes (each ending in "/") that response_urls may use besides https://hooks.slack.com/. */
  responseUrlAllow: string[];
  /** The slash command as configured in Slack, for links made outside a command (the App Home). */
  slashCommand: string;
}

const APP_TOKEN_PAGE = "an app-level token (xapp-…) with the connections:write scope, from the app's Basic Information → App-Level Tokens";

/** The examples' "paste-…" values, left as they are: refused, since Slack would refuse them later, less clearly. */
function pasted(r: Reader, name: string, value: string): string {
  if (!value.includes('paste-')) return value;
  r.problem(`${name} is still the example's "${value}": paste the value from your Slack app's pages`);
  return '';
}

export function readSlack(r: Reader): SlackSettings {
  const appToken = pasted(r, 'SLACK_APP_TOKEN', r.secret('SLACK_APP_TOKEN', false));
  // Socket Mode: Slack does not sign socket messages (the app token authenticates the connection).
  const signingSecret = pasted(r, 'SLACK_SIGNING_SECRET', r.secret('SLACK_SIGNING_SECRET', !r.env.SLACK_APP_TOKEN && !r.env.SLACK_APP_TOKEN_FILE, ' (or SLACK_APP_TOKEN for Socket Mode)'));
  // Slack issues signing secrets of 32 hex digits; anything else is most likely a value from the wrong field.
  if (signingSecret && !/^[0-9a-f]{32}$/.test(signingSecret)) {
    r.warn("SLACK_SIGNING_SECRET is not the 32 hex digits Slack issues: check it is the Signing Secret (Basic Information → App Credentials), not the Client Secret or a token. Slack cannot check it for us: a wrong one shows as every request refused (slack_signature_rejected)");
  }
  const botToken = pasted(r, 'SLACK_BOT_TOKEN', r.secret('SLACK_BOT_TOKEN'));
  if (appToken && !appToken.startsWith('xapp-')) {
    r.problem(
      /^(xoxe\.)?xox[bp]-/.test(appToken)
        ? `SLACK_APP_TOKEN is a ${appToken.includes('xoxp-') ? 'user' : 'bot'} token: Socket Mode needs ${APP_TOKEN_PAGE}`
        : `SLACK_APP_TOKEN does not start with xapp-: Socket Mode needs ${APP_TOKEN_PAGE}`,
    );
  }
  // The bot token, not a user's: a user token would act as that person everywhere.
  if (botToken.startsWith('xapp-')) {
    r.problem("SLACK_BOT_TOKEN is an app-level token (xapp-…): that one goes in SLACK_APP_TOKEN; SLACK_BOT_TOKEN is the Bot User OAuth Token (xoxb-…) from OAuth & Permissions");
  } else if (/^(xoxe\.)?xoxp-/.test(botToken)) {
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

  return { signingSecret, botToken, appToken, slackApiUrl, responseUrlAllow, slashCommand };
}
