// Every HTML page this service shows. Escaping and security headers live here and nowhere else:
// a page is built from html`` templates, which escape each interpolated value.
import { createHash } from 'node:crypto';
import type { Reply } from './http.ts';

/** Markup that is already safe; anything else interpolated into html`` is escaped. */
class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString() {
    return this.value;
  }
}

export const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    const parts = Array.isArray(value) ? value : [value];
    for (const part of parts) out += part instanceof Html ? part.value : escapeHtml(String(part ?? ''));
    out += strings[i + 1]!;
  });
  return new Html(out);
}

const STYLE = `
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1c1d;background:#f8f8f8;margin:0}
main{max-width:34rem;margin:4rem auto;padding:2rem;background:#fff;border:1px solid #ddd;border-radius:8px}
h1{font-size:1.4rem;margin-top:0}
.who{background:#f4f4f4;border-radius:6px;padding:.75rem 1rem}
button{font:inherit;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #007a5a;background:#007a5a;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1d1c1d;border-color:#6b6b6b;margin-left:.5rem}
a.button{display:inline-block;padding:.6rem 1.2rem;border-radius:6px;background:#4a154b;color:#fff;text-decoration:none;margin:0 .5rem .5rem 0}
.note{color:#616061;font-size:.9rem}
.brand{color:#4a4a4a;font-size:.85rem;font-weight:600;margin:0 0 .25rem}`;

// The inline style is allowed by its hash: no 'unsafe-inline', and no script at all.
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
};

/** Who is asking: every page names the product and the slash command it belongs to. */
export interface Brand {
  appName: string;
  slashCommand: string;
}

function layout(brand: Brand, status: number, title: string, body: Html): Reply {
  const doc = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · ${brand.appName}</title>
<style>${new Html(STYLE)}</style>
</head>
<body>
<main>
<p class="brand">${brand.appName}</p>
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`;
  return { status, headers: { ...PAGE_HEADERS }, body: doc.value };
}

export interface ConfirmView {
  slackUserName: string;
  slackUserId: string;
  teamDomain: string;
  internalUser: string;
  /** The link the form confirms: its nonce (from the link's URL), or its hash (linking started on the web, whose nonce is never shown). */
  link: { nonce: string } | { hash: string };
  csrf: string;
  /** How this link is verified (LINK_VERIFICATION), in a sentence. */
  verification: string;
  /** Where the form posts: /associate under PUBLIC_BASE_URL's path. */
  action: string;
  /** The command typed before linking ("/acct report q3"), which runs only if asked for here. */
  pendingCommand: string | null;
  /** LINK_VERIFICATION=slack: "Continue with Slack" (and "… and run") go to Slack instead of linking here. */
  signInWithSlack?: { link: string; linkAndRun: string } | null;
  /** Linking started on the web: Slack already said who signed in; the form carries that proof. */
  slackProof?: string | null;
}

export interface LinkRow {
  org: string;
  userId: string;
  userName: string;
  teamDomain: string;
  since: string;
  verifiedBy: string;
  lastUsed: string;
}

export interface LinksView {
  internalUser: string;
  rows: LinkRow[];
  csrf: string;
  /** Where the forms post: /links under PUBLIC_BASE_URL's path. */
  action: string;
  notice: string | null;
  /** "Link a Slack account": Sign in with Slack for this user (SLACK_CLIENT_ID), or null without it. */
  linkSlackAccount: string | null;
}

export type Pages = ReturnType<typeof createPages>;

/**
 * Every page of the service, each naming the product (APP_NAME) and its slash command. (The page
 * builders keep the indentation they had at the top level: their HTML is written as it is served.)
 */
export function createPages(brand: Brand) {
const page = (status: number, title: string, content: Html): Reply => layout(brand, status, title, content);

const confirmPage = (v: ConfirmView): Reply =>
  page(
    200,
    'Link your Slack account?',
    html`<p>Link Slack user <strong>${v.slackUserName}</strong> (${v.slackUserId}) in workspace
<strong>${v.teamDomain}</strong> to your account <strong>${v.internalUser}</strong>?</p>
<p class="who">Slack commands from <strong>${v.slackUserName}</strong> will then act as <strong>${v.internalUser}</strong>.</p>
${
  v.slackProof
    ? html`<p class="note">You signed in to Slack as this Slack user just now. Only confirm if it is your own Slack account.</p>`
    : html`<p class="note">Only confirm if you ran the slash command yourself just now. If someone sent you this link, do not confirm.</p>`
}
<p class="note">${v.verification}</p>
${
  v.pendingCommand
    ? html`<p class="who">Before linking, this command was typed in Slack: <code>${v.pendingCommand}</code>. It runs as
<strong>${v.internalUser}</strong> only if you choose "Link and run". Run nothing you did not type yourself.</p>`
    : ''
}
${
  v.signInWithSlack
    ? html`<p><a class="button" href="${v.signInWithSlack.link}">Continue with Slack</a>
${v.pendingCommand ? html`<a class="button" href="${v.signInWithSlack.linkAndRun}">Continue with Slack and run <code>${v.pendingCommand}</code></a>` : ''}</p>`
    : ''
}
<form method="post" action="${v.action}">
${'nonce' in v.link ? html`<input type="hidden" name="nonce" value="${v.link.nonce}">` : html`<input type="hidden" name="link" value="${v.link.hash}">`}
<input type="hidden" name="csrf" value="${v.csrf}">
${v.slackProof ? html`<input type="hidden" name="proof" value="${v.slackProof}">` : ''}
${
  v.signInWithSlack
    ? ''
    : html`<button type="submit" name="decision" value="link">Link accounts</button>
${v.pendingCommand ? html`<button type="submit" name="decision" value="link_and_run" class="secondary">Link and run <code>${v.pendingCommand}</code></button>` : ''}`
}
<button type="submit" name="decision" value="cancel" class="secondary">Cancel</button>
</form>`,
  );

/** Why the DM after linking did not arrive, in words, for the reasons a user can do something about. */
const DM_REFUSALS: Record<string, string> = {
  restricted_action: 'your organisation does not let apps message you',
  action_prohibited: 'your organisation does not let apps message you',
  channel_not_found: 'Slack would not open a conversation between the app and you',
  user_disabled: 'your Slack account is deactivated',
  ratelimited: 'Slack asked the app to slow down; the message may still arrive',
  overloaded: 'the service is busy',
  slack_unreachable: 'Slack could not be reached',
};

const dmRefusedNote = (refused: string | null) =>
  refused === null
    ? html``
    : html`<p class="note">Slack did not deliver the app's message confirming this (${DM_REFUSALS[refused] ?? 'Slack refused it'}: <code>${refused}</code>). The link itself is made.</p>`;

/** Where the browser goes on to (303 See Other): a GET that shows the page, however often it is reloaded. */
const seeOther = (location: string): Reply => ({ status: 303, headers: { ...PAGE_HEADERS, location }, body: '' });

const linkedPage = (internalUser: string, slackUserName: string, linksPath: string, dmRefused: string | null = null): Reply =>
  page(
    200,
    'Linked',
    html`<p>Your Slack account is now linked to <strong>${internalUser}</strong>.</p>
<p>Slack user <strong>${slackUserName}</strong> can now run the slash command as you. You can close this page and go back to Slack.</p>
${dmRefusedNote(dmRefused)}
<p class="note">To undo it: the Unlink button on <a href="${linksPath}">My Slack links</a>, or <code>${brand.slashCommand} unlink</code> in Slack.</p>`,
  );

const codePage = (code: string, command: string, minutes: number): Reply =>
  page(
    200,
    'One more step: confirm in Slack',
    html`<p>Type this in Slack yourself, within ${String(minutes)} minutes:</p>
<p class="who"><code>${command} confirm ${code}</code></p>
<p class="note">Never share this code with anyone: whoever types it links your account to their Slack user.
Nobody from support will ever ask for it.</p>`,
  );

const emailMismatchPage = (): Reply =>
  page(
    403,
    'This link belongs to another person',
    html`<p>The Slack user who asked for this link does not have your email address, so nothing was linked.</p>
<p>If someone sent you this link, they were trying to act as you: do not confirm links you did not ask for,
and tell your security team. To link your own Slack user, run the slash command in Slack yourself.</p>`,
  );

const slackMismatchPage = (): Reply =>
  page(
    403,
    'This link belongs to another Slack account',
    html`<p>The Slack account that signed in is not the one that asked for this link, so nothing was linked.</p>
<p>If you have several Slack accounts, go back and sign in to Slack as the one that ran the slash command. If someone
sent you this link, they were trying to act as you: do not use it, and tell your security team.</p>`,
  );

const noEmailPage = (header: string): Reply =>
  page(
    403,
    'Your email address is needed',
    html`<p>This service checks that your Slack email matches your sign-in email, but the sign-in proxy did not pass
your email address. Nothing was linked.</p>
<p class="note">For the administrator: make the proxy set the <code>${header}</code> header to the signed-in
user's email (or set <code>TRUSTED_EMAIL_HEADER</code> to the header it uses), or choose another
<code>LINK_VERIFICATION</code> mode.</p>`,
  );

const slackUnavailablePage = (): Reply =>
  page(
    503,
    'Please try again in a minute',
    html`<p>Slack could not be asked to confirm who you are just now, so nothing was linked. Your link still works:
go back and confirm again in a minute.</p>`,
  );

const misconfiguredPage = (requestId: string): Reply =>
  page(
    503,
    'This service is misconfigured',
    html`<p>Slack refused this service's credentials, so your link cannot be checked. Nothing was linked, and trying again
will not help until it is fixed: please tell your administrator, quoting request ${requestId}.</p>`,
  );

const cancelledPage = (): Reply =>
  page(200, 'Nothing was linked', html`<p>The link was cancelled and can no longer be used. You can close this page.</p>`);

const goneLinkPage = (): Reply =>
  page(
    410,
    'This link no longer works',
    html`<p>This link was already used, has expired, or was replaced by a newer one.</p>
<p>Run the slash command in Slack again (<code>${brand.slashCommand} link</code>) to get a new link.</p>`,
  );

const alreadyBoundPage = (internalUser: string): Reply =>
  page(
    409,
    'Already linked',
    html`<p>This Slack user is already linked to <strong>${internalUser}</strong>. Nothing was changed.</p>
<p>To link it to another account, run <code>${brand.slashCommand} unlink</code> in Slack first.</p>`,
  );

const errorPage = (status: number, message: string): Reply =>
  page(status, status >= 500 ? 'Something went wrong' : 'This request cannot be completed', html`<p>${message}</p>`);



/** "My Slack links": every Slack user linked to the signed-in person, each with its Unlink button. */
const linksPage = (v: LinksView, status = 200): Reply =>
  page(
    status,
    'My Slack links',
    html`<p>Slack users linked to your account <strong>${v.internalUser}</strong>. Their commands act as you.</p>
${v.notice ? html`<p class="who">${v.notice}</p>` : ''}
${
  v.rows.length
    ? v.rows.map(
        (r) => html`<form method="post" action="${v.action}" class="who">
<p><strong>${r.userName}</strong> (${r.userId}) in workspace <strong>${r.teamDomain}</strong><br>
<span class="note">Linked ${r.since}, verified by ${r.verifiedBy}; last used ${r.lastUsed}.</span></p>
<input type="hidden" name="org" value="${r.org}">
<input type="hidden" name="slack_user" value="${r.userId}">
<input type="hidden" name="csrf" value="${v.csrf}">
<button type="submit" name="decision" value="unlink" class="secondary">Unlink</button>
</form>`,
      )
    : html`<p>No Slack user is linked to your account.</p>`
}
${v.linkSlackAccount ? html`<p><a class="button" href="${v.linkSlackAccount}">Link a Slack account</a></p>` : ''}
<p class="note">Not you, or a workspace you do not know? Unlink it and tell your security team.</p>`,
  );

return { confirmPage, seeOther, linkedPage, codePage, emailMismatchPage, slackMismatchPage, noEmailPage, slackUnavailablePage, misconfiguredPage, cancelledPage, goneLinkPage, alreadyBoundPage, errorPage, linksPage };
}
