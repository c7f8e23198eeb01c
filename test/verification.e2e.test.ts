// LINK_VERIFICATION against the real server: email (the default) and code, including the
// forwarded-link attack each is there to stop.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { startServer, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { linkFrom, slashCommand } from './support/slack.ts';
import { confirm, formFields, openLink } from './support/browser.ts';
import { boundTo as boundToIn } from './support/db.ts';

let slack: SlackStub;
before(async () => {
  slack = await startSlackStub();
});
after(() => slack.close());

const boundTo = (server: RunningServer, user: string) => boundToIn(server.databasePath, user);

/** Opens the link as the signed-in user (with the email the proxy passes) and confirms. */
async function confirmAs(server: RunningServer, link: string, user: string, email: string | undefined) {
  const headers = { 'x-forwarded-email': email };
  const page = await openLink(server.url, link, user, { headers });
  assert.equal(page.status, 200, page.body);
  return { page, res: await confirm(server.url, formFields(page.body), user, { headers }) };
}

describe('LINK_VERIFICATION=email (the default)', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ slackApiUrl: slack.url });
  });
  after(() => server.stop());

  test('matching emails bind, and the check is shown on the page and in help', async () => {
    slack.emails.set('UEMAIL1', 'alice@corp.example');
    const link = linkFrom(await slashCommand(server.url, { user: 'UEMAIL1', text: 'link' }));
    const { page, res } = await confirmAs(server, link, 'alice', 'alice@corp.example');
    assert.match(page.body, /verified by email/);
    assert.equal(res.status, 200);
    assert.equal(boundTo(server, 'UEMAIL1'), 'alice');
    const info = slack.calls.find((c) => c.method === 'users.info' && c.args.user === 'UEMAIL1');
    assert.ok(info, 'Slack was asked for the email of the Slack user who made the link');
    const help = await slashCommand(server.url, { user: 'UEMAIL1', text: 'help' });
    assert.match(JSON.stringify(help.json.blocks), /verified by email/);
  });

  test('emails are compared case-insensitively', async () => {
    slack.emails.set('UEMAIL2', 'Bob.Smith@Corp.Example');
    const link = linkFrom(await slashCommand(server.url, { user: 'UEMAIL2', text: 'link' }));
    assert.equal((await confirmAs(server, link, 'bob', 'bob.smith@corp.example')).res.status, 200);
    assert.equal(boundTo(server, 'UEMAIL2'), 'bob');
  });

  test('a forwarded link: the colleague who confirms it gets 403, nothing is bound, the link is void', async () => {
    slack.emails.set('UATTACK', 'mallory@corp.example');
    const link = linkFrom(await slashCommand(server.url, { user: 'UATTACK', text: 'link' }));
    const { res } = await confirmAs(server, link, 'victim', 'victim@corp.example');
    assert.equal(res.status, 403);
    assert.match(res.body, /This link belongs to another person/);
    assert.equal(boundTo(server, 'UATTACK'), undefined);
    assert.equal((await openLink(server.url, link, 'victim')).status, 410, 'the link cannot be tried again');
    const [event] = await server.waitForLog((l) => l.event === 'security_link_email_mismatch');
    assert.ok(event);
    assert.equal(event.slack_user, 'UATTACK');
    assert.equal(event.internal_user, 'victim');
    assert.equal(event.level, 'warn');
  });

  test('the email match folds ASCII letters only: a Kelvin sign in the signed-in email does not match a k', async () => {
    slack.emails.set('UKELVIN', 'kate@corp.example');
    const link = linkFrom(await slashCommand(server.url, { user: 'UKELVIN', text: 'link' }));
    const { res } = await confirmAs(server, link, 'kate', Buffer.from('\u212Aate@corp.example').toString('latin1'));
    assert.equal(res.status, 403);
    assert.equal(boundTo(server, 'UKELVIN'), undefined);
  });

  test('no email header: a page that tells the operator what to do, before the click and after it, and nothing bound', async () => {
    slack.emails.set('UNOMAIL', 'carol@corp.example');
    const link = linkFrom(await slashCommand(server.url, { user: 'UNOMAIL', text: 'link' }));
    // Before the click: the page says what is missing instead of offering a button that can only fail.
    const before = await openLink(server.url, link, 'carol');
    assert.equal(before.status, 403);
    assert.match(before.body, /x-forwarded-email/);
    assert.doesNotMatch(before.body, /Link accounts/);
    // A confirmation posted without it (the page was opened with it) is refused just the same.
    const page = await openLink(server.url, link, 'carol', { headers: { 'x-forwarded-email': 'carol@corp.example' } });
    assert.equal(page.status, 200, page.body);
    const res = await confirm(server.url, formFields(page.body), 'carol');
    assert.equal(res.status, 403);
    assert.match(res.body, /x-forwarded-email/);
    assert.match(res.body, /LINK_VERIFICATION/);
    assert.equal(boundTo(server, 'UNOMAIL'), undefined);
  });

  test('a Slack profile without a visible email fails closed', async () => {
    slack.emails.delete('UHIDDEN');
    const link = linkFrom(await slashCommand(server.url, { user: 'UHIDDEN', text: 'link' }));
    const { res } = await confirmAs(server, link, 'dan', 'dan@corp.example');
    assert.equal(res.status, 403);
    assert.match(res.body, /shows no email/);
    assert.equal(boundTo(server, 'UHIDDEN'), undefined);
  });

  test('Slack API down: a retry page, nothing bound, and the link works once Slack is back', async () => {
    slack.emails.set('USLACKDOWN', 'erin@corp.example');
    const link = linkFrom(await slashCommand(server.url, { user: 'USLACKDOWN', text: 'link' }));
    slack.on('users.info', () => ({ status: 500, body: { ok: false } }));
    try {
      const { res } = await confirmAs(server, link, 'erin', 'erin@corp.example');
      assert.equal(res.status, 503);
      assert.match(res.body, /try again in a minute/i);
      assert.equal(boundTo(server, 'USLACKDOWN'), undefined);
    } finally {
      slack.on('users.info', (args) => ({ body: { ok: true, user: { id: args.user, profile: { email: slack.emails.get(String(args.user)) } } } }));
    }
    assert.equal((await confirmAs(server, link, 'erin', 'erin@corp.example')).res.status, 200);
    assert.equal(boundTo(server, 'USLACKDOWN'), 'erin');
  });
});

describe('LINK_VERIFICATION=code', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ slackApiUrl: slack.url, env: { LINK_VERIFICATION: 'code' } });
  });
  after(() => server.stop());

  const codeFrom = (page: string): string => {
    const m = /\/acct confirm (\d{6})/.exec(page);
    if (!m) throw new Error(`no code in page:\n${page}`);
    return m[1]!;
  };
  const browserStep = async (slackUser: string, internalUser: string) => {
    const link = linkFrom(await slashCommand(server.url, { user: slackUser, text: 'link' }));
    const { page, res } = await confirmAs(server, link, internalUser, undefined);
    assert.match(page.body, /verified by code/);
    assert.equal(res.status, 200);
    assert.match(res.body, /Never share this code/);
    return codeFrom(res.body);
  };
  const type = (user: string, text: string) => slashCommand(server.url, { user, text });

  test('the right code typed by the Slack user who made the link binds, and the DM follows', async () => {
    const code = await browserStep('UCODE1', 'frank');
    assert.equal(boundTo(server, 'UCODE1'), undefined, 'nothing is bound before the code is typed');
    const res = await type('UCODE1', `confirm ${code}`);
    assert.match(res.json.text, /Linked to frank/);
    assert.equal(boundTo(server, 'UCODE1'), 'frank');
    const [dm] = await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === 'UCODE1');
    assert.match(String(dm!.args.text), /linked to frank/);
    assert.match((await type('UCODE1', 'whoami')).json.text, /linked to frank/);
    const help = await type('UCODE1', 'help');
    assert.match(JSON.stringify(help.json.blocks), /confirm <code>/);
  });

  test('five wrong codes void the pending binding; the right code then does nothing', async () => {
    const code = await browserStep('UCODE2', 'gina');
    const wrong = code === '000000' ? '111111' : '000000';
    for (let left = 4; left >= 1; left--) {
      assert.match((await type('UCODE2', `confirm ${wrong}`)).json.text, new RegExp(`not right. ${left} tr`));
    }
    assert.match((await type('UCODE2', `confirm ${wrong}`)).json.text, /Too many wrong codes/);
    assert.match((await type('UCODE2', `confirm ${code}`)).json.text, /no link waiting/);
    assert.equal(boundTo(server, 'UCODE2'), undefined);
    await server.waitForLog((l) => l.event === 'security_code_attempts_exhausted' && l.slack_user === 'UCODE2');
  });

  test('a late code is refused', async () => {
    const code = await browserStep('UCODE3', 'hank');
    const db = new Database(server.databasePath);
    db.prepare("UPDATE pending_confirmations SET expires_at = ? WHERE slack_user_id = 'UCODE3'").run(Date.now() - 1);
    db.close();
    assert.match((await type('UCODE3', `confirm ${code}`)).json.text, /expired/);
    assert.equal(boundTo(server, 'UCODE3'), undefined);
  });

  test('a code typed by another Slack user does nothing, for either of them', async () => {
    const code = await browserStep('UCODE4', 'ivy');
    assert.match((await type('UOTHER4', `confirm ${code}`)).json.text, /no link waiting/);
    assert.equal(boundTo(server, 'UOTHER4'), undefined);
    assert.match((await type('UCODE4', `confirm ${code}`)).json.text, /Linked to ivy/);
  });

  test('a forwarded link is useless: the attacker never sees the code, the victim cannot use it for them', async () => {
    // Mallory (UMAL) forwards her link; Victor confirms it in his browser and sees the code.
    const code = await browserStep('UMAL', 'victor');
    // Victor types it in his own Slack (he has no pending link): nothing happens.
    assert.match((await type('UVICTOR', `confirm ${code}`)).json.text, /no link waiting/);
    // Mallory guesses.
    const guess = code === '123456' ? '654321' : '123456';
    assert.match((await type('UMAL', `confirm ${guess}`)).json.text, /not right/);
    assert.equal(boundTo(server, 'UMAL'), undefined);
    assert.equal(boundTo(server, 'UVICTOR'), undefined);
  });

  test('a binding by code voids every other open link of that Slack user: no page then names the account', async () => {
    const code = await browserStep('UCODE7', 'kim');
    const other = linkFrom(await slashCommand(server.url, { user: 'UCODE7', text: 'link' }));
    assert.match((await type('UCODE7', `confirm ${code}`)).json.text, /Linked to kim/);
    const page = await openLink(server.url, other, 'someone-else');
    assert.equal(page.status, 410);
    assert.doesNotMatch(page.body, /kim/);
  });

  test('codes are not in the database or the logs', async () => {
    const code = await browserStep('UCODE6', 'jane');
    assert.equal(server.output().includes(code), false);
    const db = new Database(server.databasePath, { readonly: true });
    const row = db.prepare("SELECT * FROM pending_confirmations WHERE slack_user_id = 'UCODE6'").get() as Record<string, unknown>;
    db.close();
    assert.ok(Buffer.isBuffer(row.code_mac));
    assert.equal(JSON.stringify(row).includes(code), false);
  });
});
