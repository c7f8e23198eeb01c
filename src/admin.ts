// The operator's CLI: `npm run admin -- <command>`, or in the image
// `docker exec <container> node --import tsx src/admin.ts <command>`. Works on the same SQLite file
// as a running server (WAL). Never prints a nonce or a code: the database holds none to print.
import { parseArgs } from 'node:util';
import { openSqliteStore, type SqliteStore } from './store/sqlite.ts';
import { DEFAULT_DATABASE_PATH } from './config.ts';
import type { Actor, AuditEvent, Binding } from './store/store.ts';
import { bindingJson } from './routes/admin.ts';
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
  backup FILE              online, consistent copy of the database (safe while the server runs)
  stats [--json]           bindings, open links and pending confirmations, per workspace

options:
  --db PATH                the database (default: DATABASE_PATH, else ./data/account-binding.db)

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

  let store: SqliteStore | undefined;
  try {
    const path = o.db ?? env.DATABASE_PATH ?? DEFAULT_DATABASE_PATH;
    const open = (): SqliteStore => {
      try {
        store = openSqliteStore(path, { mustExist: true });
        return store;
      } catch (err) {
        throw new Error(`cannot open the database ${path}: ${(err as Error).message}`);
      }
    };
    const identity = () => {
      if (!o.workspace || !o['slack-user']) throw new UsageError(`${command} needs --workspace and --slack-user`);
      return { org: o.workspace, userId: o['slack-user'] };
    };
    const noMore = () => {
      if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
    };

    switch (command) {
      case 'list': {
        noMore();
        const rows = await open().listBindings({ workspace: o.workspace ?? null, slackUser: o['slack-user'] ?? null, internalUser: o['internal-user'] ?? null });
        if (o.json) for (const b of rows) io.out(JSON.stringify(bindingJson(b)));
        else printTable(io, rows);
        return 0;
      }
      case 'show': {
        noMore();
        const binding = await open().getBinding(identity());
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
        const { bindings: removed } = await open().revoke(scope, 'admin_cli', cliActor());
        for (const b of removed) io.out(`unlinked ${b.userId} (${b.userName}) in ${b.org} from ${b.internalUser}`);
        if (!removed.length) {
          io.err('no matching binding');
          return 1;
        }
        return 0;
      }
      case 'purge-expired': {
        noMore();
        io.out(`purged ${(await open().purgeExpired(Date.now())).links} expired links and pending confirmations`);
        return 0;
      }
      case 'backup': {
        const [file, ...extra] = rest;
        if (!file || extra.length) throw new UsageError('backup takes one FILE');
        await open().backup(file);
        io.out(`backed up to ${file}`);
        return 0;
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
        const rows = await open().listAudit({ since, internalUser: o['internal-user'] ?? null, slackUser: o['slack-user'] ?? null });
        if (format === 'jsonl') for (const a of rows) io.out(JSON.stringify(auditJson(a)));
        else printAudit(io, rows);
        return 0;
      }
      case 'stats': {
        noMore();
        const rows = await open().statsByWorkspace(Date.now());
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
