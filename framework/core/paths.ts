import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** zo's name on npm (`zo` itself is an unrelated package there); the command stays `zo`. */
export const PACKAGE_NAME = 'zo-finetune';

let cachedRoot: string | undefined;

/**
 * The folder holding zo's own package.json. Found by walking up from this file, because the code runs
 * from both the sources and dist/, and the package may be installed anywhere (cwd says nothing).
 */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === PACKAGE_NAME) return (cachedRoot = dir);
      } catch {
        // An unreadable package.json further down is not ours; keep walking up.
      }
    }
    if (dirname(dir) === dir) throw new Error(`packageRoot: no package.json named "${PACKAGE_NAME}" above ${start}`);
  }
}

/** zo's version, from its package.json. */
export function packageVersion(): string {
  return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version;
}
