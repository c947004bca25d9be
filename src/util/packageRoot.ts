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
