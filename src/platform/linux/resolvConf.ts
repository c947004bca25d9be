import fs from 'node:fs';
import { RESOLV_CONF } from './commands.js';

/**
 * Writes /etc/resolv.conf in place (it may be a bind mount, as `ip netns
 * exec` makes it, which a rename would not replace), or makes it the
 * symlink it was (systemd-resolved's stub file, say).
 */
export function writeResolvConf(content: string, symlink: string | undefined): void {
  if (symlink !== undefined) {
    fs.rmSync(RESOLV_CONF, { force: true });
    fs.symlinkSync(symlink, RESOLV_CONF);
    return;
  }
  if (isSymlink()) fs.rmSync(RESOLV_CONF);
  fs.writeFileSync(RESOLV_CONF, content, { mode: 0o644 });
}

/** What /etc/resolv.conf is now: its text, and its target when it is a symlink. */
export function readResolvConf(): { content: string; symlink: string | undefined } {
  let content = '';
  try {
    content = fs.readFileSync(RESOLV_CONF, 'utf8');
  } catch {
    // none: the forwarder then has no upstream for other names
  }
  return { content, symlink: isSymlink() ? fs.readlinkSync(RESOLV_CONF) : undefined };
}

function isSymlink(): boolean {
  return fs.lstatSync(RESOLV_CONF, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
}
