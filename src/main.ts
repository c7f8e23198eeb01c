// The server: config → self-check → store → app → listen (and connect, with Socket Mode); signals
// and shutdown. `node src/main.ts`
// runs main() on the process's environment; a test may import it and call main() itself.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ConfigError, describeDatabase, loadConfig, type Config, type Env } from './config/index.ts';
import { withEnvFile } from './config/env-file.ts';
import { openStore } from './store/open.ts';
import { batchedStdout, createLogger, describe, type Logger } from './lib/log.ts';
import { isEntry } from './lib/entry.ts';
import { createSlackApi } from './slack/api.ts';
import { reportRateLimits } from './slack/rate-limit.ts';
import { createBackground } from './lib/background.ts';
import { createApp } from './app.ts';
import { createMetrics } from './lib/metrics.ts';
import { createInternalApp } from './runners/internal-app.ts';
import { builtinApp } from './runners/builtin.ts';
import { serverKeys } from './domain/secrets.ts';
import { checkSlackToken, effectiveSettings, runChecks, slackTransport } from './doctor.ts';
import type { Store } from './store/store.ts';
import type { SlackWorkspace } from './model.ts';

const PURGE_INTERVAL_MS = 60_000;
/** In-flight requests and pending Slack deliveries get this long after SIGTERM. */
const SHUTDOWN_GRACE_MS = 8_000;
/** How long requests already on their way when a signal arrives get to be accepted and read. */
const ACCEPT_DRAIN_MS = 250;

/** Stops the process with `code` after saying why on stderr (the container's log shows it). */
function fatal(code: number, message: string): never {
  process.stderr.write(`slack-account-binding: ${message}\n`);
  process.exit(code);
}

function configFrom(env: Env): Config {
  try {
    return loadConfig(withEnvFile(env));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return fatal(2, err.message);
  }
}

/**
 * The settings in force, once, secrets reduced to whether they are set; then the self-check
 * (README: npm run admin -- doctor): a wrong bot token or an unwritable data folder stops here, with
 * the fix, instead of surfacing when the first user links.
 */
async function selfCheck(config: Config, log: Logger): Promise<SlackWorkspace | null> {
  log.info('settings', effectiveSettings(config));
  const findings = await runChecks(config);
  for (const f of findings) log[f.level === 'ok' ? 'info' : f.level === 'warn' ? 'warn' : 'error']('startup_check', { check: f.check, message: f.message });
  const failed = findings.filter((f) => f.level === 'fail');
  if (failed.length) fatal(1, failed.map((f) => f.message).join('\nslack-account-binding: '));
  return findings.find((f) => f.workspace)?.workspace ?? null;
}

async function storeFor(config: Config, log: Logger): Promise<Store> {
  try {
    return await openStore({
      databaseUrl: config.databaseUrl,
      databasePath: config.databasePath,
      poolMax: config.databasePoolMax,
      onPreparedStatementsOff: (sqlstate) =>
        log.warn('database_prepared_statements_off', {
          sqlstate,
          fix: 'a pooler in transaction mode lost a prepared statement: PgBouncer 1.21 or newer keeps them with max_prepared_statements above 0; until a restart, plain queries (more CPU for PostgreSQL)',
        }),
    });
  } catch (err) {
    return fatal(1, `cannot open database ${describeDatabase(config)}: ${describe(err)}`);
  }
}

export async function main(env: Env): Promise<void> {
  const stdout = batchedStdout();
  const log = createLogger(stdout);
  const config = configFrom(env);
  let served = await selfCheck(config, log);
  // Slack may not have answered at startup (a warning, not a stop): asked again when needed, then kept.
  const workspace = async (): Promise<SlackWorkspace | null> => (served ??= (await checkSlackToken(config)).workspace ?? null);
  const store = await storeFor(config, log);
  const background = createBackground(log);
  const metrics = createMetrics();
  stdout.onDropped = (count) => metrics.inc('log_lines_dropped_total', {}, count);
  const { server, socket, domain } = createApp({
    config,
    store,
    keys: serverKeys(config),
    log,
    slack: createSlackApi({ ...config, onRateLimited: reportRateLimits(log, metrics) }),
    background,
    runner: config.internalApp ? createInternalApp(config.internalApp) : builtinApp,
    metrics,
    workspace,
  });

  const purge = async () => {
    try {
      const { links } = await domain.revocation.purge(Date.now());
      if (links) log.info('links_expired', { count: links });
      metrics.inc('links_expired_total', {}, links);
    } catch (err) {
      log.error('purge_failed', { error: describe(err) });
    }
  };
  await purge();
  const purgeTimer = setInterval(() => void purge(), PURGE_INTERVAL_MS).unref();

  server.on('error', (err) => {
    log.error('server_error', { error: describe(err) });
    process.exit(1);
  });
  server.listen(config.port, config.host);
  await once(server, 'listening');
  const { address, port } = server.address() as AddressInfo;
  // What is trusted, printed once: an operator reading the log sees who may act as the sign-in proxy.
  log.info('listening', {
    address,
    port,
    database: describeDatabase(config),
    link_verification: config.linkVerification,
    trusted_proxies: config.trustedProxies.text,
    proxy_header_required: config.trustedProxySecret !== null, // X-Proxy-Secret (TRUSTED_PROXY_SECRET)
    trusted_jwt_header: config.trustedJwt?.header ?? null,
    metrics_allow: config.metricsAllow.text,
    slack_transport: slackTransport(config),
  });
  socket?.start();

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      log.warn('shutdown_forced', { signal });
      process.exit(1);
    }
    stopping = true;
    log.info('shutdown_started', { signal });
    clearInterval(purgeTimer);
    const deadline = Date.now() + SHUTDOWN_GRACE_MS;
    // The socket takes no new envelope from now on (Slack sends them again elsewhere or later),
    // acknowledges those it took as their work ends, and closes.
    const socketClosed = socket?.stop(SHUTDOWN_GRACE_MS);
    // Connections a client opened just before the signal may still wait in the kernel's accept queue,
    // or be accepted with their request not yet read: closing the listener now would reset them, and
    // close() also drops every connection that looks idle. A moment first lets them in and be read.
    await new Promise((resolve) => setTimeout(resolve, ACCEPT_DRAIN_MS));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // Requests still running at the deadline are cut; the database is closed cleanly either way.
    const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
    await Promise.all([closed, socketClosed]);
    clearTimeout(cut);
    const drained = await background.drain(Math.max(0, deadline - Date.now()));
    await store.close();
    log.info('shutdown_complete', { background_drained: drained });
    process.exit(0);
  };
  process.on('SIGTERM', (s) => void shutdown(s));
  process.on('SIGINT', (s) => void shutdown(s));
}

if (isEntry(import.meta.url)) await main(process.env);
