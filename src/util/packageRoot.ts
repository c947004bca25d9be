import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The installed package's own folder: above dist/src/… in a checkout, above
 * dist/bundle/… when installed from the tarball, so it is found by walking
 * up rather than by a fixed relative path.
 */
export function packageRoot(): string {
  if (root) return root;
  const from = fileURLToPath(import.meta.url);
  for (let dir = path.dirname(from); path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'cloudbridge') return (root = dir);
    } catch {
      // not here
    }
  }
  throw new Error(`cloudbridge's package.json is not above ${from}: the package is incomplete; reinstall it`);
}

export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * A process entry of the package's (the jump process, the helper) beside
 * the module at `moduleUrl`: tsc's layout in a checkout (dist/src/…), the
 * bundle's folder from a chunk or an entry when installed. `candidates` are
 * relative to that module's folder, tried in order.
 */
export function entryBeside(moduleUrl: string, candidates: readonly string[], what: string): string {
  const here = path.dirname(fileURLToPath(moduleUrl));
  const found = candidates.map((c) => path.join(here, c)).find((f) => fs.existsSync(f));
  if (!found) throw new Error(`cloudbridge's ${what} is not beside ${here}: the package is incomplete; reinstall it`);
  return found;
}
