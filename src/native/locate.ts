import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../util/packageRoot.js';

const require = createRequire(import.meta.url);

/** The package's native/ folder: sources, prebuilds, and a source build when there is one. */
export const nativeDir = (): string => path.join(packageRoot(), 'native');

/** How to get a working addon, for the platform at hand: what a user runs, never a developer-only command. */
export function buildAdvice(platform: NodeJS.Platform = process.platform): string {
  const tools =
    platform === 'darwin'
      ? "Xcode's command line tools (xcode-select --install)"
      : 'python3, make and a C compiler (Debian/Ubuntu: apt-get install python3 make gcc; Fedora: dnf install python3 make gcc)';
  return `install ${tools}, then build it: npm rebuild -g cloudbridge (or reinstall without --ignore-scripts)`;
}

/**
 * The addon file node-gyp-build picks: a source build (native/build/Release)
 * first, else the prebuild for this platform, architecture and libc
 * (native/prebuilds/PLATFORM-ARCH/cloudbridge_tun.napi[.glibc].node).
 */
export function locateAddon(dir: string = nativeDir()): string {
  const gypBuild = require('node-gyp-build') as { path(dir: string): string };
  try {
    return gypBuild.path(dir);
  } catch {
    const libc = process.platform === 'linux' ? (isGlibc() ? ' (glibc)' : ' (not glibc)') : '';
    throw new Error(
      `cloudbridge's native addon has no build for ${process.platform}-${process.arch}${libc}: no prebuilt one ships for it and none was built at install; ${buildAdvice()}`,
    );
  }
}

function isGlibc(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return Boolean(report?.header?.glibcVersionRuntime);
}

/** True when `file` is a prebuilt addon rather than one built on this machine. */
export const isPrebuild = (file: string): boolean => file.split(path.sep).includes('prebuilds');

/**
 * Loads a prebuild in a throw-away process first. The macOS prebuilds are
 * cross-compiled on Linux and have never run on a Mac here: one that does not
 * fit must fail with a message, not take the controller down with it.
 * Returns undefined when it loads, else the first line of why not.
 */
export function probeLoad(file: string): string | undefined {
  const r = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', file], { encoding: 'utf8', timeout: 10_000 });
  if (r.status === 0) return undefined;
  const why = (r.stderr || '').split('\n').find((l) => /Error|error:|dlopen/.test(l));
  return why?.trim() ?? `exit ${r.status ?? r.signal}`;
}
