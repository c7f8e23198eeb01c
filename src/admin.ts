// The operator's CLI: `npm run admin -- <command>`, or in the image
// `docker exec <container> node src/admin.ts <command>`. Works on the same database as running
// servers: the SQLite file (WAL), or PostgreSQL with DATABASE_URL. The commands are a table
// (src/cli/commands.ts); this file parses the arguments, runs one, and sets the exit code.
import { parseArgs } from 'node:util';
import { isEntry } from './lib/entry.ts';
import { COMMANDS, type Run } from './cli/commands.ts';
import { openDatabase, UsageError } from './cli/context.ts';
import type { Io } from './cli/print.ts';
import type { Env } from './config/index.ts';
import { withEnvFile } from './config/env-file.ts';
import type { Store } from './store/store.ts';

const USAGE = `usage: npm run admin -- <command> [options]

commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage}\n      ${c.help}`)
  .join('\n')}
  help
      this text

options:
  --db PATH                the SQLite file (default: DATABASE_PATH, else ./data/account-binding.db)
  --database-url URL       PostgreSQL instead (default: DATABASE_URL or DATABASE_URL_FILE, if set);
                           a URL in the environment or a file stays out of the process list

settings: the environment, over the file ACCOUNT_BINDING_ENV names (the server reads the same), e.g.
  ACCOUNT_BINDING_ENV=account-binding.env npm run admin -- doctor

exit codes: 0 done, 1 nothing found or the operation failed, 2 usage error`;

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

/** Runs one command; its exit code. */
export async function admin(argv: string[], env: Env, io: Io): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    io.err(`admin: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values: o, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (o.help || name === 'help') {
    io.out(USAGE);
    return 0;
  }
  const command = name && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.err(`${name ? `admin: unknown command "${name}"\n\n` : ''}${USAGE}`);
    return 2;
  }
  let store: Store | undefined;
  let settings: Env;
  try {
    settings = withEnvFile(env);
  } catch (err) {
    io.err(`admin: ${(err as Error).message}`);
    return 2;
  }
  const run: Run = { o, rest, env: settings, io, store: async () => (store ??= await openDatabase(o, settings, io)) };
  try {
    return await command.run(run);
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

if (isEntry(import.meta.url)) {
  process.exitCode = await admin(process.argv.slice(2), process.env, {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
}
