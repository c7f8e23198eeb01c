// Prometheus text exposition for GET /metrics, without a dependency: a few counters and one
// histogram are all this service has to say.
export type Metrics = ReturnType<typeof createMetrics>;

/** Seconds; the internal application is usually quick, Slack's limit is 3 s, ours 10 s by default. */
const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10];

const HELP = {
  slack_commands_total: 'Slash commands answered, by outcome.',
  slack_signature_failures_total: 'Requests to /slack/commands refused for their signature.',
  slack_replays_refused_total: 'Validly signed requests refused because the same signature was already received.',
  associate_requests_total: 'Requests to /associate (the confirmation page and form), by outcome.',
  slack_events_total: 'Events API deliveries to /slack/events, by outcome (ignored: a type we do not act on).',
  slack_interactions_total: 'Interactivity requests to /slack/interactions (buttons), by outcome.',
  links_page_requests_total: 'Requests to the "My Slack links" page, by outcome.',
  admin_api_requests_total: 'Requests to the offboarding API (/admin/bindings), by outcome.',
  links_created_total: 'Association links created.',
  links_completed_total: 'Association links that ended in a binding.',
  links_expired_total: 'Association links and pending confirmations purged unused after expiry.',
  slack_dm_failures_total: 'Slack DMs that could not be sent.',
  slack_in_channel_refused_total: 'in_channel answers a channel refused (its posting restrictions), shown to their user ephemerally instead, by the reason Slack gave.',
  slack_rate_limited_total: 'Calls to Slack answered 429, by method and outcome (waited as Retry-After said, or gave up past 30 s).',
  bindings_revoked_total: 'Bindings revoked because someone left (Slack events, the internal application, the offboarding API, the CLI, idle), or as the older of two after a Grid migration, by reason.',
  slack_socket_reconnects_total: 'Socket Mode connections opened after the first (refreshes Slack asked for, and reconnections after a drop).',
  slack_replay_claims_forgotten_early_total:
    'SQLite: replay claims dropped while still within their five minutes, because more than 200,000 signed requests arrived within them; a replay of one of those would be accepted. Always 0 on PostgreSQL.',
  database_connection_errors_total: 'PostgreSQL: pooled connections that failed (a restart, a cut connection) and were replaced. Always 0 on SQLite.',
  log_lines_dropped_total: 'Log lines dropped because stdout was not being read (a stuck log reader).',
  internal_app_request_duration_seconds: 'Time the internal application took to answer a command or a click.',
  slack_socket_connected: 'Socket Mode: 1 while a connection to Slack is up (it said hello), else 0.',
} as const;

const GAUGES = new Set(['slack_socket_connected'] as const);
type Gauge = typeof GAUGES extends Set<infer G> ? G : never;
type Counter = Exclude<keyof typeof HELP, 'internal_app_request_duration_seconds' | Gauge>;

const LABEL_SPECIAL = /[\\"\n]/;
const escapeLabel = (v: string) =>
  LABEL_SPECIAL.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;

export function createMetrics() {
  const counters = new Map<Counter, Map<string, number>>();
  /** Counters kept by another part (the store), read at each scrape. */
  const readers = new Map<Counter, () => number>();
  const gauges = new Map<Gauge, number>();
  const buckets = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  let latencySum = 0;
  let latencyCount = 0;

  return {
    inc(name: Counter, labels: Record<string, string> = {}, by = 1): void {
      let key = '';
      for (const k of Object.keys(labels)) key += `${key ? ',' : ''}${k}="${escapeLabel(labels[k]!)}"`;
      let series = counters.get(name);
      if (!series) {
        series = new Map();
        counters.set(name, series);
      }
      series.set(key, (series.get(key) ?? 0) + by);
    },

    /** A counter that another part keeps: read when /metrics is scraped. */
    readAtScrape(name: Counter, read: () => number): void {
      readers.set(name, read);
    },

    set(name: Gauge, value: number): void {
      gauges.set(name, value);
    },

    observeInternalApp(seconds: number): void {
      LATENCY_BUCKETS.forEach((le, i) => {
        if (seconds <= le) buckets[i]!++;
      });
      latencySum += seconds;
      latencyCount++;
    },

    render(): string {
      const lines: string[] = [];
      for (const name of Object.keys(HELP) as Array<keyof typeof HELP>) {
        if (name === 'internal_app_request_duration_seconds') {
          lines.push(`# HELP ${name} ${HELP[name]}`, `# TYPE ${name} histogram`);
          for (const [i, le] of LATENCY_BUCKETS.entries()) lines.push(`${name}_bucket{le="${le}"} ${buckets[i]}`);
          lines.push(`${name}_bucket{le="+Inf"} ${latencyCount}`, `${name}_sum ${latencySum}`, `${name}_count ${latencyCount}`);
          continue;
        }
        if (GAUGES.has(name as Gauge)) {
          // A gauge nobody set is not reported: /metrics of an HTTP-only server has no socket.
          if (gauges.has(name as Gauge)) lines.push(`# HELP ${name} ${HELP[name]}`, `# TYPE ${name} gauge`, `${name} ${gauges.get(name as Gauge)}`);
          continue;
        }
        lines.push(`# HELP ${name} ${HELP[name]}`, `# TYPE ${name} counter`);
        const read = readers.get(name as Counter);
        if (read) {
          lines.push(`${name} ${read()}`);
          continue;
        }
        const series = counters.get(name as Counter);
        if (!series?.size) lines.push(`${name} 0`);
        for (const [labels, value] of series ?? []) lines.push(labels ? `${name}{${labels}} ${value}` : `${name} ${value}`);
      }
      lines.push(...memoryLines());
      return `${lines.join('\n')}\n`;
    },
  };
}

/**
 * This process's memory, read at each scrape, under the names Prometheus's own clients use: the
 * resident set and the parts of it that V8 accounts for. (A container's memory limit counts more:
 * also the page cache of its files, the database's among them.)
 */
function memoryLines(): string[] {
  const m = process.memoryUsage();
  const gauge = (name: string, help: string, value: number) => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`];
  return [
    ...gauge('process_resident_memory_bytes', 'Resident memory of this process (its own and the code pages it maps), in bytes.', m.rss),
    ...gauge('nodejs_heap_size_total_bytes', "V8's heap, as committed, in bytes.", m.heapTotal),
    ...gauge('nodejs_heap_size_used_bytes', "V8's heap in use, in bytes.", m.heapUsed),
    ...gauge('nodejs_external_memory_bytes', 'Memory outside the heap held by JavaScript objects (buffers, typed arrays), in bytes.', m.external),
  ];
}
