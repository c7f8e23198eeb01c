// Linking started from the web: "My Slack links" → "Link a Slack account" → Sign in with Slack (the
// stand-in signs in as the Slack user the test chooses) → the confirmation page → bound, verified by
// Slack, audited as started on the web. Against the real server: the happy path on SQLite and
// PostgreSQL (asserted through the admin CLI), the refusals on SQLite. LINK_VERIFICATION stays at
// its default (email): the Slack sign-in is the proof, whatever the slash command's links use.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { boundTo as boundToIn } from './support/db.ts';
import { form, request, type TestResponse } from './support/http-client.ts';
import { BACKENDS, ROOT, startServer, type RunningServer } from './support/server.ts';
import { startSlackStub, type SlackStub } from './support/slack-stand-in.ts';
import { linkFrom, slashCommand } from './support/slack.ts';
import { PUBLIC_ORIGIN, formFields, localUrl } from './support/browser.ts';
import { requiresPostgres } from './support/postgres.ts';

const skips = { sqlite: false, postgres: await requiresPostgres() } as const;

let slack: SlackStub;
before(async () => {
  slack = await startSlackStub();
});
after(() => slack?.close());

const unescapeHtml = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));
const as = (user: string) => ({ 'x-forwarded-user': user, 'x-forwarded-email': `${user}@corp.example` });

/** "My Slack links" as `user`, and its "Link a Slack account" URL (Slack's authorization endpoint). */
async function linkSlackAccount(server: RunningServer, user: string): Promise<{ page: TestResponse; authorize: URL }> {
  const page = await request(`${server.url}/links`, { headers: as(user) });
  assert.equal(page.status, 200, page.body);
  const m = /<a class="button" href="([^"]+)">Link a Slack account<\/a>/.exec(page.body);
  assert.ok(m, `no "Link a Slack account" on:\n${page.body}`);
  return { page, authorize: new URL(unescapeHtml(m[1]!)) };
}

/**
 * From "My Slack links" through Slack (signed in as `slackUser` of `teamId`) back to us, as
 * `returnAs`; `res` is the page the browser ends on (after our 303 to the confirmation page),
 * `returned` our answer to Slack's return itself.
 */
async function signInFromLinks(server: RunningServer, user: string, who: { userId: string; teamId?: string; enterpriseId?: string }, returnAs = user) {
  const { authorize } = await linkSlackAccount(server, user);
  slack.oidc.signedInAs = { teamId: 'T0001', ...who };
  const redirect = await request(authorize.href);
  assert.equal(redirect.status, 302);
  const back = String(redirect.headers.location);
  const returned = await request(localUrl(server.url, back), { headers: as(returnAs) });
  const confirmation = returned.status === 303 ? new URL(String(returned.headers.location), back).href : null;
  const res = confirmation ? await request(localUrl(server.url, confirmation), { headers: as(returnAs) }) : returned;
  return { authorize, back, returned, confirmation, res };
}

/** The confirmation form's fields (with the proof), posted as `user`. */
function post(server: RunningServer, fields: Record<string, string>, user: string): Promise<TestResponse> {
  return request(`${server.url}/associate`, {
    method: 'POST',
    headers: { ...as(user), 'content-type': 'application/x-www-form-urlencoded', origin: PUBLIC_ORIGIN, 'sec-fetch-site': 'same-origin' },
    body: form({ decision: 'link', ...fields }),
  });
}

const proofOf = (page: string) => /name="proof" value="([^"]+)"/.exec(page)?.[1];
/** The confirmation form's hidden fields: a link started on the web is named by its hash (its nonce is never shown). */
const webForm = (page: string): Record<string, string> => {
  const fields = Object.fromEntries([...page.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]));
  assert.ok(fields.csrf && fields.proof, `no confirmation form in page:\n${page}`);
  return fields;
};
const CLIENT = () => ({ SLACK_CLIENT_ID: slack.oidc.clientId, SLACK_CLIENT_SECRET: slack.oidc.clientSecret, LINK_RATE_LIMIT_PER_MINUTE: '0' });

for (const backend of BACKENDS) {
  describe(`linking started on the web, on ${backend}`, { skip: skips[backend] }, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer({ backend, slackApiUrl: slack.url, env: CLIENT() });
    });
    after(async () => {
      await server?.stop();
      await server?.dropDatabase();
    });
    const cli = (...args: string[]) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/admin.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, ...server.databaseEnv } });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim() ? r.stdout.trim().split('\n').map((l) => JSON.parse(l)) : [];
    };

    test('Link a Slack account → Sign in with Slack → "Link Slack user … to your account alice?" → bound, verified by Slack, source web, DM', async () => {
      const user = backend === 'sqlite' ? 'UWEBS1' : 'UWEBP1';
      const { authorize, res } = await signInFromLinks(server, 'alice', { userId: user });
      assert.equal(authorize.origin + authorize.pathname, `${slack.oidc.issuer}/openid/connect/authorize`);
      assert.equal(authorize.searchParams.get('scope'), 'openid');
      assert.equal(authorize.searchParams.get('redirect_uri'), 'https://slack-link.corp.example/associate/slack');
      assert.equal(authorize.searchParams.get('team'), 'T0001', "the served workspace (auth.test's) as the hint");
      assert.match(authorize.searchParams.get('state')!, /^web\.\d+\.0\.[\w-]{43}$/, 'bound to alice, no link nonce');

      assert.equal(res.status, 200, res.body);
      const text = res.body.replace(/<[^>]+>/g, '');
      assert.match(text, new RegExp(`Link Slack user slack-${user.toLowerCase()} \\(${user}\\) in workspace\\s+acme to your account alice\\?`));
      assert.match(text, /You signed in to Slack as this Slack user just now/);
      assert.deepEqual(cli('list', '--json', '--slack-user', user), [], 'nothing bound before the confirmation');
      const started = cli('audit', '--slack-user', user, '--format', 'jsonl').find((a) => a.action === 'link_created');
      assert.equal(started.reason, 'web');
      assert.equal(started.internal_user, 'alice');

      const done = await post(server, webForm(res.body), 'alice');
      assert.equal(done.status, 200, done.body);
      assert.match(done.body, /now linked to <strong>alice<\/strong>/);
      const [binding] = cli('list', '--json', '--slack-user', user);
      assert.equal(binding.internal_user, 'alice');
      assert.equal(binding.verified_by, 'slack');
      assert.equal(binding.workspace, 'T0001');
      const linked = cli('audit', '--slack-user', user, '--format', 'jsonl').find((a) => a.action === 'linked');
      assert.equal(linked.reason, 'slack');
      assert.equal(linked.actor, 'internal:alice');
      const [dm] = await slack.waitFor('chat.postMessage', 1, (c) => c.args.channel === user);
      assert.match(String(dm!.args.text), /linked to alice/);
      const [home] = await slack.waitFor('views.publish', 1, (c) => c.args.user_id === user);
      assert.match(JSON.stringify(home!.args.view), /Verified by:\* Sign in with Slack/, 'the Home tab names the proof');
      const links = await request(`${server.url}/links`, { headers: as('alice') });
      assert.match(links.body, new RegExp(`\\(${user}\\) in workspace <strong>acme</strong>[\\s\\S]*verified by Sign in with Slack`));
      assert.match((await slashCommand(server.url, { user, text: 'whoami' })).json.text, /linked to alice/);
    });
  });
}

describe('linking started on the web: refusals bind nothing', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ slackApiUrl: slack.url, env: CLIENT() });
  });
  after(() => server?.stop());
  const boundTo = (user: string) => boundToIn(server.databasePath, user);

  test('another workspace: a clear page, no link made, logged', async () => {
    const { res } = await signInFromLinks(server, 'alice', { userId: 'UOTHERWS', teamId: 'T0OTHER' });
    assert.equal(res.status, 403);
    assert.match(res.body, /workspace this service does not serve/);
    assert.equal(proofOf(res.body), undefined);
    assert.equal(boundTo('UOTHERWS'), undefined);
    const [line] = await server.waitForLog((l) => l.event === 'slack_sign_in_workspace_refused' && l.signed_in_slack_user === 'UOTHERWS');
    assert.equal(line!.signed_in_slack_team, 'T0OTHER');
    assert.equal(line!.internal_user, 'alice');
    // The same Slack user id in the right workspace, but under another enterprise, is someone else too.
    const grid = await signInFromLinks(server, 'alice', { userId: 'UOTHERWS', enterpriseId: 'E0OTHER' });
    assert.equal(grid.res.status, 403);
  });

  test('a Slack user already bound: the "already linked" page, as for a slash-command link', async () => {
    slack.emails.set('UTAKEN', 'bob@corp.example');
    const link = linkFrom(await slashCommand(server.url, { user: 'UTAKEN', text: 'link' }));
    const page = await request(localUrl(server.url, link), { headers: as('bob') });
    assert.equal((await post(server, formFields(page.body), 'bob')).status, 200);
    const { res } = await signInFromLinks(server, 'alice', { userId: 'UTAKEN' });
    assert.equal(res.status, 409);
    assert.match(res.body, /already linked to <strong>bob<\/strong>/);
    assert.equal(boundTo('UTAKEN'), 'bob');
  });

  test("the proof is this user's and this link's: altered or in another user's hands, nothing binds", async () => {
    const { res } = await signInFromLinks(server, 'alice', { userId: 'UPROOF' });
    assert.equal(res.status, 200, res.body);
    const fields = webForm(res.body);
    const proof = fields.proof!;
    const altered = await post(server, { ...fields, proof: `${proof.slice(0, -2)}AA` }, 'alice');
    assert.equal(altered.status, 400);
    await server.waitForLog((l) => l.event === 'slack_proof_refused' && l.internal_user === 'alice');
    // mallory holding alice's whole form: the CSRF token is alice's.
    assert.equal((await post(server, { ...fields, proof }, 'mallory')).status, 403);
    assert.equal(boundTo('UPROOF'), undefined);
    // The untouched form still binds.
    assert.equal((await post(server, { ...fields, proof }, 'alice')).status, 200);
    assert.equal(boundTo('UPROOF'), 'alice');
  });

  test('back from Slack: a 303 to the confirmation page (no code, no state), which reloads as itself and then binds', async () => {
    const { back, returned, confirmation, res } = await signInFromLinks(server, 'alice', { userId: 'URELOAD' });
    assert.equal(returned.status, 303, returned.body);
    assert.ok(confirmation);
    const target = new URL(confirmation);
    assert.equal(target.origin + target.pathname, 'https://slack-link.corp.example/associate/slack', 'a path the shipped nginx config already passes through the SSO');
    const code = new URL(back).searchParams.get('code')!;
    assert.equal(confirmation.includes(code), false, "Slack's code is not in the address");
    assert.equal(target.searchParams.has('code') || target.searchParams.has('state'), false);
    assert.equal(res.status, 200, res.body);
    const tokens = () => slack.calls.filter((c) => c.method === 'openid.connect.token').length;
    const exchanged = tokens();
    // The browser reloads (or restores the tab): the same page, with a form that still binds, and Slack's code is not spent again.
    for (let i = 0; i < 2; i++) {
      const again = await request(localUrl(server.url, confirmation), { headers: as('alice') });
      assert.equal(again.status, 200, again.body);
      assert.match(again.body.replace(/<[^>]+>/g, ''), /Link Slack user slack-ureload \(URELOAD\) in workspace\s+acme to your account alice\?/);
      assert.deepEqual(webForm(again.body), webForm(res.body));
      assert.equal(proofOf(again.body), proofOf(res.body));
    }
    assert.equal(tokens(), exchanged, 'a reload asks Slack nothing');
    assert.equal(boundTo('URELOAD'), undefined, 'a reload binds nothing');
    const done = await post(server, webForm(res.body), 'alice');
    assert.equal(done.status, 200, done.body);
    assert.match(done.body, /now linked to <strong>alice<\/strong>/);
    assert.equal(boundTo('URELOAD'), 'alice');
    assert.equal(server.output().includes(code), false, 'the code is never logged');
  });

  test('the confirmation address is refused to another signed-in user, and once the link is used', async () => {
    const { confirmation, res } = await signInFromLinks(server, 'alice', { userId: 'UFORWARD' });
    assert.ok(confirmation);
    assert.equal(res.status, 200, res.body);
    // Forwarded to mallory (or opened in her session): a refusal page, no form, nothing made or bound.
    const forwarded = await request(localUrl(server.url, confirmation), { headers: as('mallory') });
    assert.equal(forwarded.status, 400, forwarded.body);
    assert.match(forwarded.body, /not valid for the account you are signed in as[\s\S]*Start again from My Slack links/);
    assert.equal(proofOf(forwarded.body), undefined);
    assert.doesNotMatch(forwarded.body, /name="csrf"/);
    await server.waitForLog((l) => l.event === 'slack_sign_in_state_refused' && l.internal_user === 'mallory');
    // Altered (another link's hash, or a longer life): refused too.
    const target = new URL(confirmation);
    const [hash, expires, mac] = target.searchParams.get('signed_in')!.split('.');
    for (const forged of [`${'A'.repeat(43)}.${expires}.${mac}`, `${hash}.${Number(expires) + 3600}.${mac}`, `${hash}.${expires}`, '']) {
      target.searchParams.set('signed_in', forged);
      assert.equal((await request(localUrl(server.url, target.href), { headers: as('alice') })).status, 400, forged);
    }
    assert.equal(boundTo('UFORWARD'), undefined);
    assert.equal((await post(server, webForm(res.body), 'alice')).status, 200);
    assert.equal(boundTo('UFORWARD'), 'alice');
    // Used: the address shows the link is spent, for its own user too, and binds nothing more.
    const used = await request(localUrl(server.url, confirmation), { headers: as('alice') });
    assert.equal(used.status, 410, used.body);
    assert.equal(proofOf(used.body), undefined);
  });

  test("a web state returned in another user's session is refused", async () => {
    const { res } = await signInFromLinks(server, 'alice', { userId: 'UWEBFOREIGN' }, 'mallory');
    assert.equal(res.status, 400);
    assert.match(res.body, /not valid for the account you are signed in as/);
    assert.equal(boundTo('UWEBFOREIGN'), undefined);
  });

  test('cancel on the confirmation page: nothing bound, the link is spent', async () => {
    const { res } = await signInFromLinks(server, 'alice', { userId: 'UWEBCANCEL' });
    const fields = webForm(res.body);
    assert.equal((await post(server, { ...fields, decision: 'cancel' }, 'alice')).status, 200);
    assert.equal((await post(server, fields, 'alice')).status, 410);
    assert.equal(boundTo('UWEBCANCEL'), undefined);
  });

  test("Slack's keys unreachable: a clear page, and the log names Slack's keys (not the proxy's)", async () => {
    const before = slack.oidc.keysDown;
    slack.oidc.keysDown = true;
    try {
      const fresh = await startServer({ slackApiUrl: slack.url, env: CLIENT() });
      try {
        const { res } = await signInFromLinks(fresh, 'alice', { userId: 'UKEYS' });
        assert.equal(res.status, 503, res.body);
        const [line] = await fresh.waitForLog((l) => l.event === 'slack_sign_in_failed');
        assert.match(String(line!.detail), /cannot fetch Slack's keys: HTTP 500/);
        assert.doesNotMatch(String(line!.detail), /proxy/);
      } finally {
        await fresh.stop();
      }
    } finally {
      slack.oidc.keysDown = before;
    }
  });
});

test("Slack's auth.test not answering at startup: the workspace is asked again when needed; until then a retry page, nothing made", async () => {
  slack.on('auth.test', () => ({ status: 500, body: { ok: false, error: 'fatal_error' } }));
  const server = await startServer({ slackApiUrl: slack.url, env: CLIENT() });
  try {
    await server.waitForLog((l) => l.event === 'startup_check' && l.check === 'slack' && l.level === 'warn');
    const { authorize, res } = await signInFromLinks(server, 'alice', { userId: 'UNOWS' });
    assert.equal(authorize.searchParams.get('team'), null, 'no hint while Slack has not said');
    assert.equal(res.status, 503, res.body);
    await server.waitForLog((l) => l.event === 'slack_workspace_unknown');
    assert.equal(boundToIn(server.databasePath, 'UNOWS'), undefined);
    slack.restore('auth.test');
    const again = await signInFromLinks(server, 'alice', { userId: 'UNOWS' });
    assert.equal(again.authorize.searchParams.get('team'), 'T0001');
    assert.equal(again.res.status, 200, again.res.body);
    assert.match(again.res.body, /in workspace\s+<strong>acme<\/strong>/);
  } finally {
    slack.restore('auth.test');
    await server.stop();
  }
});

test('without SLACK_CLIENT_ID: no "Link a Slack account", and no /associate/slack', async () => {
  const server = await startServer({ slackApiUrl: slack.url });
  try {
    const page = await request(`${server.url}/links`, { headers: as('alice') });
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.body, /Link a Slack account/);
    assert.equal((await request(`${server.url}/associate/slack?code=x&state=y`, { headers: as('alice') })).status, 404);
  } finally {
    await server.stop();
  }
});
