// Every refusal a client can get, in one place: its status and the text that is safe to show. A
// route names the refusal; what only the log may see goes in `detail`. src/http.ts turns a thrown
// HttpError into the reply (each route renders it its way: a page, JSON, plain text).
import type { IdentityRefusal } from './sso/identity.ts';

/** Who a request was about, for its log line: set as soon as it is known, kept on a refusal too. */
export interface About {
  slack_team?: string;
  slack_user?: string;
  internal_user?: string;
  /** Log-only detail of a refusal, a failure or an ignored payload. */
  detail?: string;
}

export interface HttpErrorOptions {
  headers?: Record<string, string>;
  /** Log-only detail: never shown to the client. */
  detail?: string;
  /** The outcome the request ends in (its route's vocabulary); default `refused` (or `error` for a 5xx). */
  outcome?: string;
  about?: About;
}

/** A refusal on its way to the client: `message` is safe to show; `detail` goes to the log only. */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly detail: string | undefined;
  readonly outcome: string | undefined;
  readonly about: About | undefined;
  constructor(status: number, message: string, o: HttpErrorOptions = {}) {
    super(message);
    this.status = status;
    this.headers = o.headers ?? {};
    this.detail = o.detail;
    this.outcome = o.outcome;
    this.about = o.about;
  }
}

const SIGN_IN_AGAIN = 'This page must be reached through the company sign-in proxy.';

const CATALOG = {
  // Any route (src/http.ts).
  not_found: [404, 'Not found.'],
  method_not_allowed: [405, 'Method not allowed.'],
  body_unreadable: [400, 'The request body could not be read.'],
  form_invalid: [400, 'The body is not a well-formed form (broken %-escape, invalid UTF-8, or unexpected fields).'],
  // Slack's paths (src/routes/slack-guard.ts and the three Slack routes).
  slack_signature_invalid: [401, 'Invalid Slack request signature.'],
  slack_replayed: [401, 'This signed request was already received.'],
  slack_form_expected: [415, 'Slack sends this as application/x-www-form-urlencoded.'],
  slack_json_expected: [400, 'Events are sent as application/json.'],
  slack_payload_invalid: [400, 'The Slack payload is not valid.'],
  slack_event_failed: [500, 'The event could not be handled; Slack will retry it.'],
  // The pages behind the SSO proxy (src/routes/page-guard.ts, associate, links).
  untrusted_address: [403, SIGN_IN_AGAIN],
  proxy_secret_wrong: [403, SIGN_IN_AGAIN],
  header_repeated: [400, 'The sign-in proxy sent a header more than once; ask your administrator to check its configuration.'],
  header_joined: [
    400,
    'The sign-in proxy sent two values joined with a comma in one identity header. Ask your administrator: the proxy must set (overwrite) the header, not append to it.',
  ],
  header_invalid: [400, 'The sign-in proxy sent a value this service cannot accept.'],
  no_user: [401, 'The sign-in proxy did not say who you are. Sign in and open the link again.'],
  no_assertion: [401, 'The sign-in proxy did not send a signed identity. Sign in and open the link again.'],
  assertion_invalid: [401, 'Your sign-in could not be verified. Sign in again and reopen the link.'],
  assertion_unverifiable: [503, 'Your sign-in cannot be verified right now. Please try again in a minute.'],
  no_user_claim: [401, 'Your sign-in has no usable user claim.'],
  cross_site: [403, 'This form was sent from another site and was refused. Open the page from Slack again.'],
  page_form_expected: [415, 'Use the buttons on the page.'],
  confirm_csrf: [403, 'This confirmation form is not valid for the account you are signed in as. Open the link from Slack again.'],
  links_csrf: [403, 'This form is not valid for the account you are signed in as. Reload the page and try again.'],
  unknown_decision: [400, 'Unknown decision.'],
  // Operators' endpoints.
  metrics_not_allowed: [403, 'Metrics are only served to addresses in METRICS_ALLOW.'],
  metrics_proxied: [
    403,
    "Metrics are never served through a proxy (this request carries a proxy's header, such as X-Forwarded-For or the sign-in identity). Scrape the server's own address from a METRICS_ALLOW host, and let the proxy forward only Slack's paths and the pages (docs/sso.md).",
  ],
  admin_off: [404, 'Not found.'],
  admin_not_allowed: [403, 'The offboarding API is only served to addresses in ADMIN_ALLOW.'],
  admin_proxied: [
    403,
    "The offboarding API is never served through a proxy (this request carries a proxy's header, such as X-Forwarded-For or the sign-in identity). Call the server's own address from an ADMIN_ALLOW host, and let the proxy forward only Slack's paths and the pages (docs/sso.md).",
  ],
  admin_token: [401, 'A valid bearer token (ADMIN_API_TOKEN) is required.'],
  admin_no_user: [400, 'Give the person as ?internal_user=NAME.'],
} as const satisfies Record<string, readonly [number, string]> & Record<IdentityRefusal, readonly [number, string]>;

export type RefusalName = keyof typeof CATALOG;

/** The catalog's refusal as an HttpError, ready to throw. */
export function refusal(name: RefusalName, o: HttpErrorOptions = {}): HttpError {
  const [status, message] = CATALOG[name];
  return new HttpError(status, message, o);
}

/** A body over `limit` bytes: the one refusal whose text carries a number. */
export const tooLarge = (limit: number): HttpError => new HttpError(413, `Request body is larger than ${limit} bytes.`, { headers: { connection: 'close' } });
