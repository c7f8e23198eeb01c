// LINK_VERIFICATION=slack against the real server and the Slack stand-in's OpenID Connect endpoints:
// the confirmation page sends the browser to Slack, Slack sends it back to /associate/slack with a
// code, and the binding is made only when the Slack user who signed in is the link's. The main flow
// runs on SQLite and PostgreSQL (asserted through the admin CLI); the refusals on SQLite.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { request, type TestResponse } from './support/http-client.ts';
import { BACKENDS, ROOT, SIGNING_SECRET, BOT_TOKEN, runToExit, startServer, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { linkFrom, slashCommand } from './support/slack.ts';
import { confirm, continueWithSlackUrl, formFields, localUrl, openLink } from './support/browser.ts';
import { requiresPostgres } from './support/postgres.ts';

const skips = { sqlite: false, postgres: await requiresPostgres() } as const;

let slack: SlackStub;
before(async () => {
  slack = await startSlackStub();
});
after(() => slack?.close());

interface SignedIn {
  page: TestResponse;
  authorize: URL;
  /** Where Slack sent the browser back (PUBLIC_BASE_URL/associate/slack?…). */
  back: string;
  /** Our answer to that return itself. */
  returned: TestResponse;
  /** Where that answer sent the browser on (303), if it did: the page's own address. */
  landed: string | null;
  /** The page the browser ends on. */
  res: TestResponse;
}

/** Open the link as `internalUser`, continue with Slack (the stand-in signs in as whoever the test set), come back as `returnAs`. */
async function signIn(server: RunningServer, link: string, internalUser: string, o: { returnAs?: string; andRun?: boolean } = {}): Promise<SignedIn> {
  const page = await openLink(server.url, link, internalUser);
  assert.equal(page.status, 200, page.body);
  const authorize = continueWithSlackUrl(page.body, o.andRun);
  const redirect = await request(authorize.href);
  assert.equal(redirect.status, 302);
  const back = String(redirect.headers.location);
  const headers = { 'x-forwarded-user': o.returnAs ?? internalUser };
  const returned = await request(localUrl(server.url, back), { headers });
  const landed = returned.status === 303 ? new URL(String(returned.headers.location), back).href : null;
  const res = landed ? await request(localUrl(server.url, landed), { headers }) : returned;
  return { page, authorize, back, returned, landed, res };
}

const newLink = async (server: RunningServer, user: string, text = 'link') => linkFrom(await slashCommand(server.url, { user, text }));

const SLACK_ENV = { LINK_VERIFICATION: 'slack', LINK_RATE_LIMIT_PER_MINUTE: '0' };

for (const backend of BACKENDS) {
  describe(`Sign in with Slack on ${backend}`, { skip: skips[backend] }, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer({
        backend,
        slackApiUrl: slack.url,
        env: { ...SLACK_ENV, SLACK_CLIENT_ID: slack.oidc.clientId, SLACK_CLIENT_SECRET: slack.oidc.clientSecret },
      });
    });
    after(async () => {
      await server?.stop();
      await server?.dropDatabase();
    });

    const id = (name: string) => `U${backend === 'sqlite' ? 'S' : 'P'}${name}`;
    const cli = (...args: string[]) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, ...server.databaseEnv } });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim() ? r.stdout.trim().split('\n').map((l) => JSON.parse(l)) : [];
    };

    test('the Slack user who asked signs in: bound, verified_by slack, audited, DM sent; the same return again binds nothing', async () => {
      const user = id('SIWS1');
      slack.oidc.signedInAs = { userId: user, teamId: 'T0001' };
      const link = await newLink(server, user);
      const { page, authorize, back, res } = await signIn(server, link, 'alice');
      assert.match(page.body, /to your account <strong>alice<\/strong>/);
      assert.match(page.body, /verified by Sign in with Slack/);
      assert.doesNotMatch(page.body, /value="link"/, 'no button binds without Slack');
      assert.equal(authorize.origin + authorize.pathname, `${slack.oidc.issuer}/openid/connect/authorize`);
      const q = authorize.searchParams;
      assert.equal(q.get('response_type'), 'code');
      assert.equal(q.get('scope'), 'openid');
      assert.equal(q.get('client_id'), slack.oidc.clientId);
      assert.equal(q.get('redirect_uri'), 'https://slack-link.corp.example/associate/slack');
      assert.equal(q.get('team'), 'T0001');
      assert.match(q.get('state')!, /^[\w-]{43}\.\d+\.0\.[\w-]{43}$/);
      assert.match(q.get('nonce')!, /^[\w-]{43}$/);
      assert.equal(page.body.includes(new URL(localUrl(server.url, link)).searchParams.get('nonce')!), true);
      assert.equal(q.get('state')!.includes(new URL(localUrl(server.url, link)).searchParams.get('nonce')!), false, "the link's nonce never goes to Slack");

      assert.equal(res.status, 200, res.body);
      assert.match(res.body, /now linked to <strong>alice<\/strong>/);
      const [binding] = cli('list', '--json', '--slack-user', user);
      assert.equal(binding.internal_user, 'alice');
      assert.equal(binding.verified_by, 'slack');
      const linked = cli('audit', '--slack-user', user, '--format', 'jsonl').find((a) => a.action === 'linked');
      assert.equal(linked.reason, 'slack');
      const [dm] = await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === user);
      assert.match(String(dm!.args.text), /linked to alice/);
      const token = slack.calls.find((c) => c.method === 'openid.connect.token')!;
      assert.equal(token.args.redirect_uri, 'https://slack-link.corp.example/associate/slack');

      const replay = await request(localUrl(server.url, back), { headers: { 'x-forwarded-user': 'alice' } });
      assert.equal(replay.status, 410, 'a state is spent with its link');
      assert.equal(server.output().includes(new URL(back).searchParams.get('code')!), false, 'the code is never logged');
      assert.equal(server.output().includes(slack.oidc.clientSecret), false);
    });

    test('another Slack account signs in: nothing bound, audited, and the link still works for its owner', async () => {
      const user = id('SIWS2');
      const link = await newLink(server, user);
      slack.oidc.signedInAs = { userId: id('INTRUDER'), teamId: 'T0001' };
      const { res } = await signIn(server, link, 'bob');
      assert.equal(res.status, 403);
      assert.match(res.body, /Slack account that signed in is not the one that asked/);
      assert.deepEqual(cli('list', '--json', '--slack-user', user), []);
      const failed = cli('audit', '--slack-user', user, '--format', 'jsonl').find((a) => a.action === 'verification_failed');
      assert.equal(failed.reason, 'slack_user_mismatch');
      assert.equal(failed.internal_user, 'bob');
      await server.waitForLog((l) => l.event === 'security_link_slack_user_mismatch' && l.slack_user === user);

      slack.oidc.signedInAs = { userId: user, teamId: 'T0001' };
      assert.equal((await signIn(server, link, 'bob')).res.status, 200);
      assert.equal(cli('list', '--json', '--slack-user', user)[0].verified_by, 'slack');
    });
  });
}

describe('Sign in with Slack: every refusal is a clear page that binds nothing', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ slackApiUrl: slack.url, env: { ...SLACK_ENV, SLACK_CLIENT_ID: slack.oidc.clientId, SLACK_CLIENT_SECRET: slack.oidc.clientSecret } });
  });
  after(() => server?.stop());
  const boundTo = (user: string) => {
    const db = new Database(server.databasePath, { readonly: true });
    try {
      return (db.prepare('SELECT internal_user, verified_by FROM bindings WHERE slack_user_id = ?').get(user) as { internal_user: string; verified_by: string } | undefined)?.internal_user;
    } finally {
      db.close();
    }
  };
  /** After a refusal the link still works: its owner signs in and binds. */
  const stillWorks = async (link: string, user: string, internalUser: string) => {
    slack.oidc.signedInAs = { userId: user, teamId: 'T0001' };
    const { res } = await signIn(server, link, internalUser);
    assert.equal(res.status, 200, res.body);
    assert.equal(boundTo(user), internalUser);
  };

  test('bound: a 303 to the "linked" page (no code, no state), which reloads as itself, is refused to another user, and ends with the binding', async () => {
    const user = 'USIWSRELOAD';
    slack.oidc.signedInAs = { userId: user, teamId: 'T0001' };
    const link = await newLink(server, user);
    const { back, returned, landed, res } = await signIn(server, link, 'ivy');
    assert.equal(returned.status, 303, returned.body);
    assert.equal(boundTo(user), 'ivy', 'bound by the return itself, before the redirect');
    assert.ok(landed);
    const target = new URL(landed);
    assert.equal(target.origin + target.pathname, 'https://slack-link.corp.example/associate/slack', 'a path the shipped nginx config already passes through the SSO');
    assert.equal(landed.includes(new URL(back).searchParams.get('code')!), false, "Slack's code is not in the address");
    assert.equal(landed.includes(new URL(localUrl(server.url, link)).searchParams.get('nonce')!), false, "nor the link's nonce");
    assert.equal(target.searchParams.has('code') || target.searchParams.has('state'), false);
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, /now linked to <strong>ivy<\/strong>/);
    const tokens = () => slack.calls.filter((c) => c.method === 'openid.connect.token').length;
    const exchanged = tokens();
    // The browser reloads (or restores the tab): the same page, and Slack's code is not spent again.
    for (let i = 0; i < 2; i++) {
      const again = await request(localUrl(server.url, landed), { headers: { 'x-forwarded-user': 'ivy' } });
      assert.equal(again.status, 200, again.body);
      assert.match(again.body, /now linked to <strong>ivy<\/strong>/);
    }
    assert.equal(tokens(), exchanged, 'a reload asks Slack nothing');
    // In another user's session (forwarded, or a shared machine): refused, and it says nothing of the binding.
    const other = await request(localUrl(server.url, landed), { headers: { 'x-forwarded-user': 'mallory' } });
    assert.equal(other.status, 400, other.body);
    assert.match(other.body, /not valid for the account you are signed in as[\s\S]*My Slack links/);
    assert.doesNotMatch(other.body, /ivy|Nothing was linked/);
    // Once the binding ends, the page no longer says it is made.
    assert.match((await slashCommand(server.url, { user, text: 'unlink' })).json.text, /nlinked|no longer/);
    const ended = await request(localUrl(server.url, landed), { headers: { 'x-forwarded-user': 'ivy' } });
    assert.equal(ended.status, 410, ended.body);
    assert.equal(boundTo(user), undefined);
  });

  test('bound but the DM refused: the "linked" page says why, after the redirect and on a reload', async () => {
    const user = 'USIWSNODM';
    slack.oidc.signedInAs = { userId: user, teamId: 'T0001' };
    const link = await newLink(server, user);
    slack.on('chat.postMessage', () => ({ body: { ok: false, error: 'restricted_action' } }));
    try {
      const { returned, landed, res } = await signIn(server, link, 'una');
      assert.equal(returned.status, 303);
      for (const page of [res, await request(localUrl(server.url, landed!), { headers: { 'x-forwarded-user': 'una' } })]) {
        assert.equal(page.status, 200, page.body);
        assert.match(page.body, /did not deliver the app's message confirming this \(your organisation does not let apps message you: <code>restricted_action<\/code>\)/);
      }
    } finally {
      slack.restore('chat.postMessage');
    }
    assert.equal(boundTo(user), 'una');
  });

  test('denied consent (error=access_denied)', async () => {
    const link = await newLink(server, 'UDENY');
    slack.oidc.deny = true;
    try {
      const { res } = await signIn(server, link, 'carol');
      assert.equal(res.status, 403);
      assert.match(res.body, /sign-in was cancelled/);
      assert.equal(boundTo('UDENY'), undefined);
    } finally {
      slack.oidc.deny = false;
    }
    await stillWorks(link, 'UDENY', 'carol');
  });

  test("a state made for another internal user (the return opened in someone else's session)", async () => {
    const link = await newLink(server, 'UFOREIGN');
    slack.oidc.signedInAs = { userId: 'UFOREIGN', teamId: 'T0001' };
    const { res } = await signIn(server, link, 'dave', { returnAs: 'mallory' });
    assert.equal(res.status, 400);
    assert.match(res.body, /not valid for the account you are signed in as/);
    assert.equal(boundTo('UFOREIGN'), undefined);
    await server.waitForLog((l) => l.event === 'slack_sign_in_state_refused' && l.internal_user === 'mallory');
    await stillWorks(link, 'UFOREIGN', 'dave');
  });

  test('a forged, missing or altered state', async () => {
    const link = await newLink(server, 'UFORGED');
    const page = await openLink(server.url, link, 'erin');
    const state = continueWithSlackUrl(page.body).searchParams.get('state')!;
    const flipped = state.replace(/\.0\./, '.1.');
    for (const query of ['code=x', `code=x&state=${'A'.repeat(43)}.9999999999.0.${'B'.repeat(43)}`, `code=x&state=${flipped}`, 'error=access_denied']) {
      const res = await request(`${server.url}/associate/slack?${query}`, { headers: { 'x-forwarded-user': 'erin' } });
      assert.equal(res.status, 400, query);
    }
    assert.equal(boundTo('UFORGED'), undefined);
    await stillWorks(link, 'UFORGED', 'erin');
  });

  const tamper = (change: (c: Record<string, unknown>) => void) => () => {
    slack.oidc.tamper = change;
  };
  for (const [name, spoil] of [
    [
      'a wrong signature',
      () => {
        slack.oidc.foreignKey = true;
      },
    ],
    ['a wrong audience', tamper((c) => Object.assign(c, { aud: '111.222' }))],
    ['a wrong nonce', tamper((c) => Object.assign(c, { nonce: 'not-the-nonce' }))],
    ['a wrong issuer', tamper((c) => Object.assign(c, { iss: 'https://evil.example' }))],
    ['an expired token', tamper((c) => Object.assign(c, { exp: Math.floor(Date.now() / 1000) - 3600 }))],
    ['another team', tamper((c) => Object.assign(c, { 'https://slack.com/team_id': 'T0BAD' }))],
  ] as const) {
    test(`an id_token with ${name}`, async () => {
      const user = `UTOK${name.replace(/\W/g, '').toUpperCase().slice(0, 12)}`;
      const link = await newLink(server, user);
      slack.oidc.signedInAs = { userId: user, teamId: 'T0001' };
      spoil();
      try {
        const { res } = await signIn(server, link, 'fay');
        assert.ok(res.status === 400 || res.status === 403, `${res.status} ${res.body}`);
        assert.equal(boundTo(user), undefined);
      } finally {
        slack.oidc.foreignKey = false;
        slack.oidc.tamper = null;
      }
      await stillWorks(link, user, 'fay');
    });
  }

  test("an id_token valid for longer than a day: refused, and the log names no proxy setting", async () => {
    const link = await newLink(server, 'ULONGTOKEN');
    slack.oidc.signedInAs = { userId: 'ULONGTOKEN', teamId: 'T0001' };
    slack.oidc.tamper = (c) => Object.assign(c, { exp: Math.floor(Date.now() / 1000) + 2 * 86_400 });
    try {
      assert.equal((await signIn(server, link, 'lee')).res.status, 400);
    } finally {
      slack.oidc.tamper = null;
    }
    const [line] = await server.waitForLog((l) => l.event === 'slack_sign_in_failed' && l.internal_user === 'lee');
    assert.equal(line!.detail, 'id_token: valid for longer than 86400 s');
    assert.equal(boundTo('ULONGTOKEN'), undefined);
  });

  test('the token endpoint refuses the code, or is down', async () => {
    const link = await newLink(server, 'UTOKEN');
    slack.oidc.signedInAs = { userId: 'UTOKEN', teamId: 'T0001' };
    slack.on('openid.connect.token', () => ({ body: { ok: false, error: 'invalid_code' } }));
    try {
      const refused = await signIn(server, link, 'gus');
      assert.equal(refused.res.status, 400);
      assert.match(refused.res.body, /Slack did not confirm who signed in/);
      slack.on('openid.connect.token', () => ({ status: 500, body: { ok: false } }));
      const down = await signIn(server, link, 'gus');
      assert.equal(down.res.status, 503);
      assert.match(down.res.body, /try again in a minute/i);
      assert.equal(boundTo('UTOKEN'), undefined);
    } finally {
      slack.restore('openid.connect.token');
    }
  });

  test('Enterprise Grid: the same org-wide user from another workspace of the enterprise binds; another enterprise does not', async () => {
    const link = linkFrom(await slashCommand(server.url, { user: 'UGRID', team: 'T0A', enterprise: 'E0001', text: 'link' }));
    slack.oidc.signedInAs = { userId: 'UGRID', teamId: 'T0A', enterpriseId: 'E0OTHER' };
    assert.equal((await signIn(server, link, 'kai')).res.status, 403);
    assert.equal(boundTo('UGRID'), undefined);
    slack.oidc.signedInAs = { userId: 'UGRID', teamId: 'T0B', enterpriseId: 'E0001' };
    const { authorize, res } = await signIn(server, link, 'kai');
    assert.equal(authorize.searchParams.get('team'), 'T0A');
    assert.equal(res.status, 200, res.body);
    assert.equal(boundTo('UGRID'), 'kai');
  });

  test('an expired link: the link-gone page', async () => {
    const link = await newLink(server, 'UEXPIRED');
    slack.oidc.signedInAs = { userId: 'UEXPIRED', teamId: 'T0001' };
    const page = await openLink(server.url, link, 'hal');
    const authorize = continueWithSlackUrl(page.body);
    const db = new Database(server.databasePath);
    db.prepare("UPDATE link_nonces SET expires_at = ? WHERE slack_user_id = 'UEXPIRED'").run(Date.now() - 1);
    db.close();
    const back = String((await request(authorize.href)).headers.location);
    const res = await request(localUrl(server.url, back), { headers: { 'x-forwarded-user': 'hal' } });
    assert.equal(res.status, 410);
    assert.equal(boundTo('UEXPIRED'), undefined);
  });

  test('the confirmation form alone binds nothing in slack mode', async () => {
    const link = await newLink(server, 'UFORM');
    const page = await openLink(server.url, link, 'ida');
    const res = await confirm(server.url, { ...formFields(page.body), decision: 'link' }, 'ida');
    assert.equal(res.status, 400);
    assert.match(res.body, /Continue with Slack/);
    assert.equal(boundTo('UFORM'), undefined);
  });

  test('the pending command runs only through "Continue with Slack and run"', async () => {
    const link = await newLink(server, 'URUN', 'report q3');
    slack.oidc.signedInAs = { userId: 'URUN', teamId: 'T0001' };
    const { authorize, res } = await signIn(server, link, 'jo', { andRun: true });
    assert.match(authorize.searchParams.get('state')!, /\.1\./);
    assert.equal(res.status, 200, res.body);
    assert.equal(boundTo('URUN'), 'jo');
  });
});

test('LINK_VERIFICATION=slack without the client id and secret: the error names both', async () => {
  const { code, output } = await runToExit({
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    PUBLIC_BASE_URL: 'https://slack-link.corp.example',
    DATABASE_PATH: ':memory:',
    LINK_VERIFICATION: 'slack',
  });
  assert.notEqual(code, 0);
  assert.match(output, /SLACK_CLIENT_ID is required \(or SLACK_CLIENT_ID_FILE\)/);
  assert.match(output, /SLACK_CLIENT_SECRET is required \(or SLACK_CLIENT_SECRET_FILE\)/);
});
