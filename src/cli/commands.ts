// The operator's commands, one entry each: how it is called, what it does, and the code that does
// it. src/admin.ts parses the arguments and runs the one named; `help` prints this table.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, DEFAULT_DATABASE_PATH, describeDatabase, loadConfig, type Env } from '../config/index.ts';
import { checkEmailHeader, effectiveSettings, runChecks } from '../doctor.ts';
import { ENV_FILE_VARIABLE } from '../config/env-file.ts';
import { bindingJson, type RevokeScope } from '../model.ts';
import type { SqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import { cliActor, cliDomain, databaseUrlOf, UsageError, whichDatabase } from './context.ts';
import { migrate } from './migrate.ts';
import { restore } from './restore.ts';
import { auditJson, printAudit, printBindings, type Io } from './print.ts';

/** The options every command may read (src/admin.ts declares them to parseArgs). */
export interface Options {
  db?: string | undefined;
  'database-url'?: string | undefined;
  to?: string | undefined;
  workspace?: string | undefined;
  'slack-user'?: string | undefined;
  'internal-user'?: string | undefined;
  json?: boolean | undefined;
  since?: string | undefined;
  format?: string | undefined;
}

export interface Run {
  o: Options;
  /** Positional arguments after the command's name. */
  rest: string[];
  env: Env;
  io: Io;
  /** The database, opened on first use and closed after the command. */
  store(): Promise<Store>;
}

export interface Command {
  usage: string;
  help: string;
  run(r: Run): Promise<number>;
}

const noMore = (r: Run): void => {
  if (r.rest.length) throw new UsageError(`unexpected argument "${r.rest[0]}"`);
};

/** --workspace and --slack-user: one Slack identity. */
const identity = (r: Run, command: string) => {
  if (!r.o.workspace || !r.o['slack-user']) {
    throw new UsageError(
      command === 'unlink'
        ? 'unlink takes --workspace T --slack-user U (one binding), or --internal-user NAME (every binding of a person)'
        : `${command} needs --workspace T and --slack-user U (workspace: the team id, or the enterprise id on Enterprise Grid)`,
    );
  }
  return { org: r.o.workspace, userId: r.o['slack-user'] };
};

export const COMMANDS: Record<string, Command> = {
  list: {
    usage: 'list [--workspace T] [--slack-user U] [--internal-user NAME] [--json]',
    help: 'bindings, filtered; a table, or JSON lines with --json',
    async run(r) {
      noMore(r);
      const rows = await (await r.store()).listBindings({ workspace: r.o.workspace ?? null, slackUser: r.o['slack-user'] ?? null, internalUser: r.o['internal-user'] ?? null });
      if (r.o.json) for (const b of rows) r.io.out(JSON.stringify(bindingJson(b)));
      else printBindings(r.io, rows);
      return 0;
    },
  },
  show: {
    usage: 'show --workspace T --slack-user U [--json]',
    help: 'one binding (workspace: team id, or enterprise id on Enterprise Grid)',
    async run(r) {
      noMore(r);
      const binding = await (await r.store()).getBinding(identity(r, 'show'));
      if (!binding) {
        r.io.err(`no binding for ${r.o['slack-user']} in ${r.o.workspace}`);
        return 1;
      }
      if (r.o.json) r.io.out(JSON.stringify(bindingJson(binding)));
      else for (const [k, v] of Object.entries(bindingJson(binding))) r.io.out(`${k.padEnd(20)} ${v ?? ''}`);
      return 0;
    },
  },
  unlink: {
    usage: 'unlink --workspace T --slack-user U  |  unlink --internal-user NAME',
    help: 'remove one binding, or (offboarding) every binding, open link and pending confirmation of a person; audited as admin_cli, the Home tab republished',
    async run(r) {
      noMore(r);
      if (r.o['internal-user'] && (r.o.workspace || r.o['slack-user'])) throw new UsageError('unlink takes --internal-user, or --workspace with --slack-user, not both');
      const scope: RevokeScope = r.o['internal-user'] ? { internalUser: r.o['internal-user'] } : { identity: identity(r, 'unlink') };
      const domain = cliDomain(await r.store(), r.env, r.io);
      const { bindings } = await domain.revocation.revoke(scope, 'admin_cli', cliActor());
      await domain.finish();
      for (const b of bindings) r.io.out(`unlinked ${b.userId} (${b.userName}) in ${b.org} from ${b.internalUser}`);
      if (bindings.length) return 0;
      r.io.err('no matching binding');
      return 1;
    },
  },
  audit: {
    usage: 'audit [--since DATE] [--internal-user NAME] [--slack-user U] [--format jsonl|table]',
    help: 'the audit trail: who linked what, when and how (DATE: 2026-01-31 or an ISO time; default format: table)',
    async run(r) {
      noMore(r);
      const format = r.o.format ?? 'table';
      if (format !== 'jsonl' && format !== 'table') throw new UsageError(`--format is jsonl or table (got "${format}")`);
      let since: number | null = null;
      if (r.o.since !== undefined) {
        since = Date.parse(r.o.since);
        if (!/^\d{4}-\d{2}-\d{2}/.test(r.o.since) || Number.isNaN(since)) throw new UsageError(`--since takes a date like 2026-01-31 or an ISO time (got "${r.o.since}")`);
      }
      const rows = await (await r.store()).listAudit({ since, internalUser: r.o['internal-user'] ?? null, slackUser: r.o['slack-user'] ?? null });
      if (format === 'jsonl') for (const a of rows) r.io.out(JSON.stringify(auditJson(a)));
      else printAudit(r.io, rows);
      return 0;
    },
  },
  'purge-expired': {
    usage: 'purge-expired',
    help: 'now, what the server purges every minute: expired links and pending confirmations, audit rows past AUDIT_RETENTION_DAYS, bindings idle past BINDING_MAX_IDLE_DAYS',
    async run(r) {
      noMore(r);
      const domain = cliDomain(await r.store(), r.env, r.io);
      const purged = await domain.revocation.purge(Date.now());
      await domain.finish();
      r.io.out(`purged ${purged.links} expired links and pending confirmations${purged.idle.length ? `, revoked ${purged.idle.length} idle bindings` : ''}`);
      return 0;
    },
  },
  backup: {
    usage: 'backup [FILE]',
    help: 'SQLite: online, consistent copy of the file (safe while the server runs); without FILE, into backups/ beside the database (in the image: /data/backups)',
    async run(r) {
      const [given, ...extra] = r.rest;
      if (extra.length) throw new UsageError('backup takes at most one FILE');
      const where = whichDatabase(r.o, r.env, r.io);
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
      await ((await r.store()) as SqliteStore).backup(file);
      r.io.out(`backed up to ${file}`);
      return 0;
    },
  },
  restore: {
    usage: 'restore FILE',
    help: 'SQLite, with the server stopped: FILE (a backup) becomes the database, after its integrity and schema version are checked; the file it replaces is kept in backups/',
    async run(r) {
      const [given, ...extra] = r.rest;
      if (!given || extra.length) throw new UsageError('restore takes one FILE: the backup to put in place of the database');
      const where = whichDatabase(r.o, r.env, r.io);
      if ('url' in where) {
        throw new UsageError(
          `restore replaces the SQLite file; this database is PostgreSQL (${describeDatabase({ databaseUrl: where.url, databasePath: '' })}): restore it with PostgreSQL's own tools (pg_restore)`,
        );
      }
      return restore(given, where.path, r.io);
    },
  },
  doctor: {
    usage: 'doctor',
    help: "check the configuration in the environment as the server would at start: Slack's answer to the bot token, the database folder, the internal app",
    async run(r) {
      noMore(r);
      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig(r.env);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        r.io.err(`doctor: ${err.message}`);
        if (!r.env[ENV_FILE_VARIABLE]) {
          r.io.err(
            `doctor: the server's settings were not found here. Give them as the server gets them: ${ENV_FILE_VARIABLE}=account-binding.env npm run admin -- doctor ` +
              '(the same file the server reads), or node --env-file=account-binding.env src/admin.ts doctor; in a container, docker exec (or docker run --rm … with the same --env-file).',
          );
        }
        return 2;
      }
      for (const [key, value] of Object.entries(effectiveSettings(config))) r.io.out(`  ${key.padEnd(28)} ${value}`);
      // The email header is seen only by a running server: asked here, never at the server's own start.
      const emailHeader = await checkEmailHeader(config);
      const findings = [...(await runChecks(config)), ...(emailHeader ? [emailHeader] : [])];
      for (const f of findings) r.io.out(`${f.level === 'ok' ? 'ok  ' : f.level === 'warn' ? 'WARN' : 'FAIL'}  ${f.check}: ${f.message}`);
      const failed = findings.filter((f) => f.level === 'fail').length;
      r.io.out(failed ? `${failed} problem${failed === 1 ? '' : 's'} to fix before the server can start` : 'ready to start');
      return failed ? 1 : 0;
    },
  },
  stats: {
    usage: 'stats [--json]',
    help: 'bindings, open links and pending confirmations, per workspace',
    async run(r) {
      noMore(r);
      const rows = await (await r.store()).statsByWorkspace(Date.now());
      const sum = (k: 'bindings' | 'open_links' | 'pending') => rows.reduce((t, row) => t + row[k], 0);
      const total = { bindings: sum('bindings'), open_links: sum('open_links'), pending: sum('pending') };
      if (r.o.json) {
        r.io.out(JSON.stringify({ ...total, workspaces: rows }));
        return 0;
      }
      r.io.out(`${'workspace'.padEnd(14)} ${'bindings'.padStart(9)} ${'open links'.padStart(11)} ${'pending'.padStart(8)}`);
      for (const row of [...rows, { workspace: 'total', ...total }]) {
        r.io.out(`${row.workspace.padEnd(14)} ${String(row.bindings).padStart(9)} ${String(row.open_links).padStart(11)} ${String(row.pending).padStart(8)}`);
      }
      return 0;
    },
  },
  migrate: {
    usage: 'migrate [--to URL]',
    help: 'copy the bindings and the audit trail of the SQLite file (--db, or DATABASE_PATH) into PostgreSQL (URL, default DATABASE_URL); run it again and it copies only what is new',
    async run(r) {
      noMore(r);
      const to = r.o.to ?? databaseUrlOf(r.env);
      if (!to) throw new UsageError('migrate needs --to URL (or DATABASE_URL): the PostgreSQL database to copy into');
      return migrate(r.o.db ?? r.env.DATABASE_PATH ?? DEFAULT_DATABASE_PATH, to, r.io);
    },
  },
};

