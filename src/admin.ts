// The operator's CLI: `npm run admin -- <command>`, or in the image
// `docker exec <container> node --import tsx src/admin.ts <command>`. Works on the same database as
// running servers: the SQLite file (WAL), or PostgreSQL with DATABASE_URL. Never prints a nonce or a
// code (the database holds none to print), nor a database password.
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openSqliteStore, type SqliteStore } from './store/sqlite.ts';
import { openStore } from './store/open.ts';
import { ConfigError, DEFAULT_DATABASE_PATH, databasePathIgnored, describeDatabase, loadConfig, type Config } from './config.ts';
import { effectiveSettings, runChecks } from './doctor.ts';
import { bindingJson, type Actor, type AuditEvent, type Binding } from './model.ts';
import type { Store } from './store/store.ts';
import type { PostgresStore } from './store/postgres.ts';
import { userInfo } from 'node:os';

const USAGE = `usage: npm run admin -- <command> [options]

commands:
  list [--workspace T] [--slack-user U] [--internal-user NAME] [--json]
                           bindings, filtered; a table, or JSON lines with --json
  show --workspace T --slack-user U [--json]
                           one binding (workspace: team id, or enterprise id on Enterprise Grid)
  unlink --workspace T --slack-user U
                           remove one binding
  unlink --internal-user NAME
                           offboarding: remove every binding, open link and pending confirmation of
                           a person (audited as admin_cli; no Slack message is sent)
  audit [--since DATE] [--internal-user NAME] [--slack-user U] [--format jsonl|table]
                           the audit trail: who linked what, when and how (DATE: 2026-01-31 or an
                           ISO time; default format: table)
  purge-expired            delete expired links and pending confirmations now
  backup [FILE]            SQLite: online, consistent copy of the file (safe while the server runs);
                           without FILE, into backups/ beside the database (in the image: /data/backups)
  doctor                   check the configuration in the environment as the server would at start:
                           Slack's answer to the bot token, the database folder, the internal app
  stats [--json]           bindings, open links and pending confirmations, per workspace
  migrate [--to URL]       copy the bindings and the audit trail of the SQLite file (--db, or
                           DATABASE_PATH) into PostgreSQL (URL, default DATABASE_URL); run it
                           again and it copies only what is new

options:
  --db PATH                the SQLite file (default: DATABASE_PATH, else ./data/account-binding.db)
  --database-url URL       PostgreSQL instead (default: DATABASE_URL or DATABASE_URL_FILE, if set);
                           a URL in the environment or a file stays out of the process list

  help                     this text

exit codes: 0 done, 1 nothing found or the operation failed, 2 usage error`;

class UsageError extends Error {}

interface Io {
  out(line: string): void;
  err(line: string): void;
}

const parseOptions = (args: string[]) =>
  parseArgs({
    args,
    allowPositionals: true,
    options: {
      db: { type: 'string' },
      'database-url': { type: 'string' },
      to: { type: 'string' },
      workspace: { type: 'string' },
      'slack-user': { type: 'string' },
      'internal-user': { type: 'string' },
      json: { type: 'boolean', default: false },
      since: { type: 'string' },
      format: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });

async function admin(argv: string[], env: Record<string, string | undefined>, io: Io): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    io.err(`admin: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values: o, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (o.help || command === 'help' || !command) {
    (o.help || command === 'help' ? io.out : io.err)(USAGE);
    return o.help || command === 'help' ? 0 : 2;
  }

  let store: Store | undefined;
  try {
    // Chosen when a command opens it: migrate names its two databases itself.
    const database = () => whichDatabase(o, env, io.err);
    const open = async (): Promise<Store> => {
      const where = database();
      if ('path' in where) {
        try {
          store = openSqliteStore(where.path, { mustExist: true });
          return store;
        } catch (err) {
          throw new Error(`cannot open the database ${where.path}: ${(err as Error).message}`);
        }
      }
      // The store's error names the database without its password.
      store = await openStore({ databaseUrl: where.url, databasePath: '', poolMax: 2 });
      return store;
    };
    const identity = () => {
      if (!o.workspace || !o['slack-user']) {
        throw new UsageError(
          command === 'unlink'
            ? 'unlink takes --workspace T --slack-user U (one binding), or --internal-user NAME (every binding of a person)'
            : `${command} needs --workspace T and --slack-user U (workspace: the team id, or the enterprise id on Enterprise Grid)`,
        );
      }
      return { org: o.workspace, userId: o['slack-user'] };
    };
    const noMore = () => {
      if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
    };

    switch (command) {
      case 'list': {
        noMore();
        const rows = await (await open()).listBindings({ workspace: o.workspace ?? null, slackUser: o['slack-user'] ?? null, internalUser: o['internal-user'] ?? null });
        if (o.json) for (const b of rows) io.out(JSON.stringify(bindingJson(b)));
        else printTable(io, rows);
        return 0;
      }
      case 'show': {
        noMore();
        const binding = await (await open()).getBinding(identity());
        if (!binding) {
          io.err(`no binding for ${o['slack-user']} in ${o.workspace}`);
          return 1;
        }
        if (o.json) io.out(JSON.stringify(bindingJson(binding)));
        else for (const [k, v] of Object.entries(bindingJson(binding))) io.out(`${k.padEnd(20)} ${v ?? ''}`);
        return 0;
      }
      case 'unlink': {
        noMore();
        if (o['internal-user'] && (o.workspace || o['slack-user'])) throw new UsageError('unlink takes --internal-user, or --workspace with --slack-user, not both');
        const scope = o['internal-user'] ? { internalUser: o['internal-user'] } : { identity: identity() };
        const { bindings: removed } = await (await open()).revoke(scope, 'admin_cli', cliActor());
        for (const b of removed) io.out(`unlinked ${b.userId} (${b.userName}) in ${b.org} from ${b.internalUser}`);
        if (!removed.length) {
          io.err('no matching binding');
          return 1;
        }
        return 0;
      }
      case 'purge-expired': {
        noMore();
        io.out(`purged ${(await (await open()).purgeExpired(Date.now())).links} expired links and pending confirmations`);
        return 0;
      }
      case 'doctor': {
        noMore();
        return await doctor(env, io);
      }
      case 'backup': {
        const [given, ...extra] = rest;
        if (extra.length) throw new UsageError('backup takes at most one FILE');
        const where = database();
        if ('url' in where) {
          throw new UsageError(
            `backup copies the SQLite file; this database is PostgreSQL (${describeDatabase({ databaseUrl: where.url, databasePath: '' })}): ` +
              "back it up with PostgreSQL's own tools (pg_dump --format=custom, or your provider's snapshots and point-in-time recovery)",
          );
        }
        // By default beside the database, in the data folder: in the image that is the /data volume,
        // where a copy outlives the container (a FILE under /tmp would not).
        const file = resolve(given ?? join(dirname(where.path), 'backups', `account-binding-${new Date().toISOString().replace(/[:.]/g, '-')}.db`));
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        await ((await open()) as SqliteStore).backup(file);
        io.out(`backed up to ${file}`);
        return 0;
      }
      case 'migrate': {
        noMore();
        const to = o.to ?? databaseUrlOf(env);
        if (!to) throw new UsageError('migrate needs --to URL (or DATABASE_URL): the PostgreSQL database to copy into');
        return await migrate(o.db ?? env.DATABASE_PATH ?? DEFAULT_DATABASE_PATH, to, io);
      }
      case 'audit': {
        noMore();
        const format = o.format ?? 'table';
        if (format !== 'jsonl' && format !== 'table') throw new UsageError(`--format is jsonl or table (got "${format}")`);
        let since: number | null = null;
        if (o.since !== undefined) {
          since = Date.parse(o.since);
          if (!/^\d{4}-\d{2}-\d{2}/.test(o.since) || Number.isNaN(since)) throw new UsageError(`--since takes a date like 2026-01-31 or an ISO time (got "${o.since}")`);
        }
        const rows = await (await open()).listAudit({ since, internalUser: o['internal-user'] ?? null, slackUser: o['slack-user'] ?? null });
        if (format === 'jsonl') for (const a of rows) io.out(JSON.stringify(auditJson(a)));
        else printAudit(io, rows);
        return 0;
      }
      case 'stats': {
        noMore();
        const rows = await (await open()).statsByWorkspace(Date.now());
        const total = rows.reduce((t, r) => ({ bindings: t.bindings + r.bindings, open_links: t.open_links + r.open_links, pending: t.pending + r.pending }), {
          bindings: 0,
          open_links: 0,
          pending: 0,
        });
        if (o.json) io.out(JSON.stringify({ ...total, workspaces: rows }));
        else {
          io.out(`${'workspace'.padEnd(14)} ${'bindings'.padStart(9)} ${'open links'.padStart(11)} ${'pending'.padStart(8)}`);
          for (const r of [...rows, { workspace: 'total', ...total }]) {
            io.out(`${r.workspace.padEnd(14)} ${String(r.bindings).padStart(9)} ${String(r.open_links).padStart(11)} ${String(r.pending).padStart(8)}`);
          }
        }
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`admin: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    io.err(`admin: ${(err as Error).message}`);
    return 1;
  } finally {
    await store?.close();
  }
}

/**
 * Which database: --database-url, else --db, else the environment as the server reads it
 * (DATABASE_URL or DATABASE_URL_FILE, else DATABASE_PATH, else the default file). With both kinds
 * in the environment the URL wins, with a warning, as it does for the server: the image sets
 * DATABASE_PATH, so `docker exec … admin` in a container given DATABASE_URL has both.
 */
function whichDatabase(
  o: { db?: string | undefined; 'database-url'?: string | undefined },
  env: Record<string, string | undefined>,
  warn: (line: string) => void,
): { path: string } | { url: string } {
  if (o.db !== undefined && o['database-url'] !== undefined) throw new UsageError('--db and --database-url name two databases; give one');
  if (o['database-url'] !== undefined) return { url: o['database-url'] };
  if (o.db !== undefined) return { path: o.db };
  const url = databaseUrlOf(env);
  if (url && env.DATABASE_PATH) warn(`admin: ${databasePathIgnored(env.DATABASE_PATH)}`);
  return url ? { url } : { path: env.DATABASE_PATH ?? DEFAULT_DATABASE_PATH };
}

/** DATABASE_URL, or the contents of DATABASE_URL_FILE (the Docker-secrets convention), or undefined. */
function databaseUrlOf(env: Record<string, string | undefined>): string | undefined {
  if (env.DATABASE_URL && env.DATABASE_URL_FILE) throw new UsageError('DATABASE_URL and DATABASE_URL_FILE are both set; set only one');
  if (!env.DATABASE_URL_FILE) return env.DATABASE_URL || undefined;
  try {
    return readFileSync(env.DATABASE_URL_FILE, 'utf8').trim() || undefined;
  } catch (err) {
    throw new Error(`DATABASE_URL_FILE (${env.DATABASE_URL_FILE}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/**
 * SQLite → PostgreSQL: bindings and audit rows, each copy one transaction, idempotent (bindings by
 * their Slack identity, audit rows by their id). Open links and pending confirmations are not
 * copied: they live minutes, and a user whose link was open makes a new one. Exit 1 when a binding
 * differs between the two (PostgreSQL's is kept, as a binding is never replaced).
 */
async function migrate(from: string, to: string, io: Io): Promise<number> {
  if (!/^postgres(ql)?:\/\/[^/]/i.test(to)) throw new UsageError('migrate --to takes a postgres:// or postgresql:// URL');
  let source: SqliteStore | undefined;
  let target: PostgresStore | undefined;
  try {
    try {
      source = openSqliteStore(from, { mustExist: true });
    } catch (err) {
      throw new Error(`cannot open the database ${from}: ${(err as Error).message}`);
    }
    // Loaded only here: the CLI on SQLite never loads pg. Its errors never hold the password.
    const { openPostgresStore } = await import('./store/postgres.ts');
    target = await openPostgresStore(to, { poolMax: 1 });
    io.out(`migrating ${from} → ${describeDatabase({ databaseUrl: to, databasePath: '' })}`);
    const rows = await source.listBindings();
    const bindings = await target.importBindings(rows);
    io.out(`bindings:   ${bindings.copied} copied, ${bindings.already + bindings.differing.length} already there`);
    const audit = await target.importAudit(await source.exportAudit());
    io.out(`audit rows: ${audit.copied} copied, ${audit.already} already there`);
    io.out('keys:       nothing to copy: they are derived from SLACK_SIGNING_SECRET (give the PostgreSQL replicas the same one)');
    io.out('not copied: open links and pending confirmations (they expire within minutes; a user whose link was open makes a new one)');
    const key = (b: Binding) => `${b.org}\0${b.userId}`;
    const inSource = new Set(rows.map(key));
    const onlyThere = (await target.listBindings()).filter((b) => !inSource.has(key(b))).length;
    if (onlyThere) io.err(`note: ${onlyThere} binding(s) in PostgreSQL are not in ${from} (made there, or unlinked here after an earlier run): kept`);
    for (const b of bindings.differing) {
      io.err(`differs: ${b.userId} in ${b.org} is bound to ${b.internalUser} in ${from}, to someone else in PostgreSQL: PostgreSQL's kept`);
    }
    return bindings.differing.length ? 1 : 0;
  } finally {
    await source?.close();
    await target?.close();
  }
}

/** The operator, as the audit trail names them: the OS user who ran the CLI. */
const cliActor = (): Actor => {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid): the uid alone below
  }
  return { actor: `admin_cli:${name}`, requestId: null, clientAddress: null };
};

/** An audit row as a JSON line: never a nonce, a code, a token or a secret (none is stored). */
const auditJson = (a: AuditEvent) => ({
  time: new Date(a.time).toISOString(),
  action: a.action,
  reason: a.reason,
  org: a.org,
  team_id: a.teamId,
  slack_user: a.slackUser,
  internal_user: a.internalUser,
  actor: a.actor,
  request_id: a.requestId,
  client_address: a.clientAddress,
});

function printAudit(io: Io, rows: AuditEvent[]): void {
  const cells = rows.map((a) => [
    new Date(a.time).toISOString().slice(0, 19).replace('T', ' '),
    a.action,
    a.reason ?? '',
    a.org ?? '',
    a.slackUser ?? '',
    a.internalUser ?? '',
    a.actor,
  ]);
  const header = ['TIME (UTC)', 'ACTION', 'REASON', 'WORKSPACE', 'SLACK USER', 'INTERNAL USER', 'ACTOR'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  for (const row of [header, ...cells]) io.out(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  io.out(`${rows.length} event${rows.length === 1 ? '' : 's'}`);
}


function printTable(io: Io, rows: Binding[]): void {
  const utc = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));
  const cells = rows.map((b) => [b.org, b.userId, b.userName, b.internalUser, utc(b.createdAt), b.verifiedBy ?? '-', utc(b.lastUsedAt)]);
  const header = ['WORKSPACE', 'SLACK USER', 'NAME', 'INTERNAL USER', 'LINKED (UTC)', 'VERIFIED BY', 'LAST USED (UTC)'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  for (const row of [header, ...cells]) io.out(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  io.out(`${rows.length} binding${rows.length === 1 ? '' : 's'}`);
}

process.exitCode = await admin(process.argv.slice(2), process.env, {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});

/** `admin doctor`: the server's startup self-check, on demand, with the settings in force. */
async function doctor(env: Record<string, string | undefined>, io: Io): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`doctor: ${err.message}`);
    return 2;
  }
  for (const [key, value] of Object.entries(effectiveSettings(config))) io.out(`  ${key.padEnd(28)} ${value}`);
  const findings = await runChecks(config);
  for (const f of findings) io.out(`${f.level === 'ok' ? 'ok  ' : f.level === 'warn' ? 'WARN' : 'FAIL'}  ${f.check}: ${f.message}`);
  const failed = findings.filter((f) => f.level === 'fail').length;
  io.out(failed ? `${failed} problem${failed === 1 ? '' : 's'} to fix before the server can start` : 'ready to start');
  return failed ? 1 : 0;
}
