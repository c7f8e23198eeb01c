// The App Home's Home tab, per user: what their link is and what they can do with it. Built from
// the binding alone (or a fresh link URL), so it can be republished after any change.
import { context, mrkdwn, section, slackDate } from './messages.ts';
import type { HomeView } from './api.ts';
import type { Binding, LinkVerification } from '../model.ts';

export interface HomeOptions {
  appName: string;
  command: string;
  /** PUBLIC_BASE_URL + /links: the page that lists every link of the signed-in person. */
  linksUrl: string;
  /** A fresh link to show (after "Link my account"), with how long it lasts. */
  link?: { url: string; ttlSeconds: number };
}

// Every mode named: a Record over LinkVerification makes a new mode a type error here, not "undefined" in the tab.
const VERIFIED_BY: Record<LinkVerification, string> = {
  email: 'your Slack email matched your sign-in email',
  code: 'a one-time code you typed in Slack',
  confirm: 'the confirmation page',
  slack: 'Sign in with Slack',
};

const button = (actionId: string, text: string, extra: Record<string, unknown> = {}) => ({
  type: 'button',
  action_id: actionId,
  text: { type: 'plain_text', text },
  ...extra,
});

export function homeView(binding: Binding | undefined, o: HomeOptions): HomeView {
  const header = { type: 'header', text: { type: 'plain_text', text: o.appName } };
  if (binding) {
    const facts = [
      `*Linked to:* ${mrkdwn(binding.internalUser)}`,
      `*Since:* ${slackDate(binding.createdAt)}`,
      `*Verified by:* ${binding.verifiedBy ? VERIFIED_BY[binding.verifiedBy] : 'not recorded (linked before this was kept)'}`,
      `*Last used:* ${binding.lastUsedAt === null ? 'not yet' : slackDate(binding.lastUsedAt)}`,
    ];
    return {
      type: 'home',
      blocks: [
        header,
        section(`Commands you run with \`${mrkdwn(o.command)}\` act as your account *${mrkdwn(binding.internalUser)}*.`),
        section(facts.join('\n')),
        {
          type: 'actions',
          elements: [
            button('acct.unlink', 'Unlink', {
              style: 'danger',
              confirm: {
                title: { type: 'plain_text', text: 'Unlink your account?' },
                text: { type: 'mrkdwn', text: `Slack commands will no longer act as *${mrkdwn(binding.internalUser)}* until you link again.` },
                confirm: { type: 'plain_text', text: 'Unlink' },
                deny: { type: 'plain_text', text: 'Keep it' },
                style: 'danger',
              },
            }),
          ],
        },
        context(`Every link of your account, in every workspace: <${o.linksUrl}|My Slack links>`),
      ],
    };
  }
  const blocks: unknown[] = [
    header,
    section(
      `You are not linked yet. Linking connects this Slack user to your account in the internal application, through the company sign-in, once; ` +
        `from then on \`${mrkdwn(o.command)}\` runs commands there as you, with your own permissions.`,
    ),
  ];
  if (o.link) {
    const minutes = Math.max(1, Math.round(o.link.ttlSeconds / 60));
    blocks.push(
      section(`Open this link, sign in as yourself, and confirm. It works once and expires in ${minutes} minute${minutes === 1 ? '' : 's'}; it is only for you.`),
      { type: 'actions', elements: [button('acct.open_link', 'Open the link', { url: o.link.url, style: 'primary' })] },
    );
  } else {
    blocks.push({ type: 'actions', elements: [button('acct.new_link', 'Link my account', { style: 'primary' })] });
  }
  return { type: 'home', blocks };
}
