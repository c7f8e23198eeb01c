// What the SSO proxy and a browser do with an association link: the link's public URL is mapped
// onto the local server, the proxy adds the identity header.
import { form, request, type TestRequest, type TestResponse } from './http-client.ts';

export const PUBLIC_ORIGIN = 'https://slack-link.corp.example';

export const localUrl = (serverUrl: string, publicUrl: string): string => serverUrl + publicUrl.slice(PUBLIC_ORIGIN.length);

export function openLink(serverUrl: string, link: string, user: string | null, opts: TestRequest = {}): Promise<TestResponse> {
  const headers: Record<string, string | undefined> = user === null ? {} : { 'x-forwarded-user': user };
  return request(localUrl(serverUrl, link), { ...opts, headers: { ...headers, ...opts.headers } });
}

/** Hidden inputs of the confirmation form. */
export function formFields(page: string): { nonce: string; csrf: string } {
  const value = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(page)?.[1];
  const nonce = value('nonce');
  const csrf = value('csrf');
  if (!nonce || !csrf) throw new Error(`no confirmation form in page:\n${page}`);
  return { nonce, csrf };
}

export function confirm(
  serverUrl: string,
  fields: Record<string, string>,
  user: string | null,
  opts: TestRequest = {},
): Promise<TestResponse> {
  const headers: Record<string, string | undefined> = {
    'content-type': 'application/x-www-form-urlencoded',
    origin: PUBLIC_ORIGIN,
    'sec-fetch-site': 'same-origin',
  };
  if (user !== null) headers['x-forwarded-user'] = user;
  return request(`${serverUrl}/associate`, {
    ...opts,
    method: 'POST',
    headers: { ...headers, ...opts.headers },
    body: form({ decision: 'link', ...fields }),
  });
}

/**
 * Open the link and confirm, as the signed-in user would: "Link accounts", or "Link and run" the
 * command typed before linking.
 */
export async function linkAs(serverUrl: string, link: string, user: string, decision: 'link' | 'link_and_run' = 'link'): Promise<TestResponse> {
  const page = await openLink(serverUrl, link, user);
  if (page.status !== 200) throw new Error(`confirmation page: ${page.status}\n${page.body}`);
  return confirm(serverUrl, { ...formFields(page.body), decision }, user);
}

const unescapeHtml = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));

/** LINK_VERIFICATION=slack: the "Continue with Slack" URL (or "… and run") on a confirmation page: Slack's authorization endpoint. */
export function continueWithSlackUrl(page: string, andRun = false): URL {
  const m = new RegExp(`<a class="button" href="([^"]+)">Continue with Slack${andRun ? ' and run' : '</a>'}`).exec(page);
  if (!m) throw new Error(`no "Continue with Slack" in page:\n${page}`);
  return new URL(unescapeHtml(m[1]!));
}
