// One outcome vocabulary: every request ends with one outcome from its route's list. The same name
// is the request log's `outcome` field and the label of the route's counter in /metrics, so that
// operators can alert on it. README's "Outcomes" table lists them; test/outcomes.test.ts keeps
// README, this file and what the server really logs in agreement.

/** Any route: a request refused before it reached the domain (4xx), or our own failure (5xx). */
const COMMON = ['refused', 'error'] as const;

export const OUTCOMES = {
  /** POST /slack/commands, counted in slack_commands_total{outcome}. */
  commands: [
    'help',
    'ssl_check',
    'link_created',
    'link_rate_limited',
    'whoami',
    'already_linked',
    'unlinked',
    'code_bound',
    'code_already_bound',
    'code_wrong',
    'code_void',
    'code_expired',
    'code_none',
    'code_usage',
    'command_ok',
    'command_forbidden',
    'command_misconfigured',
    'command_user_gone',
    'command_app_error',
    'command_timeout',
    'command_unreachable',
    'command_invalid_response',
    'command_delayed',
    'command_undeliverable',
    ...COMMON,
  ],
  /** GET and POST /associate, and GET /associate/slack (Sign in with Slack's return), counted in associate_requests_total{outcome}. */
  associate: [
    'confirm_shown',
    'link_gone',
    'already_bound',
    'bound',
    'linked_shown',
    'code_shown',
    'cancelled',
    'email_mismatch',
    'no_email',
    'slack_email_hidden',
    'slack_unavailable',
    'slack_misconfigured',
    'slack_sign_in_required',
    'slack_denied',
    'slack_signed_in',
    'slack_state_refused',
    'slack_sign_in_failed',
    'slack_user_mismatch',
    'slack_workspace_refused',
    'link_rate_limited',
    'identity_refused',
    'cross_site_refused',
    'csrf_refused',
    ...COMMON,
  ],
  /** POST /slack/events, counted in slack_events_total{outcome}. */
  events: ['url_verification', 'duplicate', 'revoked', 'nothing_to_revoke', 'rekeyed', 'nothing_to_rekey', 'home_published', 'ignored', 'unusable', ...COMMON],
  /** POST /slack/interactions, counted in slack_interactions_total{outcome}. */
  interactions: ['unlink', 'new_link', 'forwarded', 'forward_refused', 'acknowledged', 'ignored', ...COMMON],
  /** GET and POST /links ("My Slack links"), counted in links_page_requests_total{outcome}. */
  links: ['listed', 'unlinked', 'not_yours', 'identity_refused', 'cross_site_refused', 'csrf_refused', ...COMMON],
  /** /admin/bindings, counted in admin_api_requests_total{outcome}. */
  admin: ['listed', 'revoked', 'nothing_to_revoke', ...COMMON],
  health: ['ok', 'unavailable', ...COMMON],
  metrics: ['served', ...COMMON],
} as const;

export type Operation = keyof typeof OUTCOMES;
export type OutcomeOf<O extends Operation> = (typeof OUTCOMES)[O][number];
export type CommandOutcome = OutcomeOf<'commands'>;
export type AssociateOutcome = OutcomeOf<'associate'>;

/** The counter each entry point's outcomes are counted in (null: not counted), whichever transport brought the request. */
export const COUNTERS = {
  commands: 'slack_commands_total',
  associate: 'associate_requests_total',
  events: 'slack_events_total',
  interactions: 'slack_interactions_total',
  links: 'links_page_requests_total',
  admin: 'admin_api_requests_total',
  health: null,
  metrics: null,
} as const satisfies Record<Operation, string | null>;
