// Whether a module is the script node was asked to run (`node src/main.ts`), so that importing it
// (a test, another entry point) does not also start it. Through real paths: a checkout reached by a
// symbolic link gives node a path that differs from the module's resolved URL.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function isEntry(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
