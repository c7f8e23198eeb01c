// `node --import tsx test/support/as-user.ts USER server|admin [args…]`: the server (or the admin
// CLI) run as another user, as the image runs it as uid 1000, from a checkout that user may not be
// able to read (a 0700 home, a `mktemp -d` clone). Its modules are loaded first, by the user who
// can read them; then the process becomes USER and runs main() (or admin()). Root only.
import { execFileSync } from 'node:child_process';

const [user, which, ...args] = process.argv.slice(2);
const id = (flag: string) => Number(execFileSync('id', [flag, user!], { encoding: 'utf8' }).trim());
const uid = id('-u');
const gid = id('-g');
const server = which === 'server' ? await import('../../src/main.ts') : undefined;
const cli = which === 'admin' ? await import('../../src/admin.ts') : undefined;
if (!server && !cli) throw new Error('usage: as-user.ts USER server|admin [args…]');
process.setgroups?.([gid]);
process.setgid?.(gid);
process.setuid?.(uid);
if (server) await server.main(process.env);
else process.exitCode = await cli!.admin(args, process.env, { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) });
