import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';
import { HELPER_SOCKET } from '../util/paths.js';
import { invokingUser, moveFolderHere } from '../util/user.js';

/**
 * The CLI's own file, which the background controller and service units run:
 * main.js beside this one when run from dist/src, the bundle's entry when
 * installed (main sets it, since a bundle chunk's URL says nothing of it).
 */
let entry = fileURLToPath(new URL('./main.js', import.meta.url));
export const cliEntry = (): string => entry;
export function setCliEntry(file: string): void {
  entry = file;
}

/** Options every command that reads the config takes. */
export interface CommonArgs {
  config: string | undefined;
}

export function requireRoot(what: string, env?: string): void {
  if (process.geteuid?.() !== 0) {
    throw new UserError(`cloudbridge ${what} needs root (try: sudo cloudbridge ${what}${env ? ` ${env}` : ''})`);
  }
}

/** What a command re-run under sudo takes with it as options (sudo resets the environment). */
export interface Carry {
  /** $SSH_AUTH_SOCK as --agent */
  readonly agent?: boolean;
  /** $CLOUDBRIDGE_CONFIG as --config */
  readonly config?: boolean;
}

/**
 * Runs `work` as root: here when we are root, else this same command again
 * under sudo, which asks for the password as usual, with the absolute paths
 * of this Node and this CLI. A Node from nvm, fnm or volta is not on sudo's
 * secure_path, so `sudo cloudbridge …` would not find it; asking sudo
 * ourselves is what sshuttle does for its firewall half. Returns the exit
 * code of the command run under sudo.
 */
export async function asRoot(what: string, carry: Carry, work: () => Promise<number>, opts: { helper?: boolean } = {}): Promise<number> {
  if (process.geteuid?.() === 0) return work();
  // the installed helper (cloudbridge install-helper) does root's part: no sudo, the rest as this user
  if (opts.helper && installedHelper()) return work();
  const sudo = onPath('sudo');
  if (!sudo) throw new UserError(`cloudbridge ${what} needs root, and there is no sudo here: run it as root`);
  const args = process.argv.slice(2);
  const sock = process.env['SSH_AUTH_SOCK'];
  const config = process.env['CLOUDBRIDGE_CONFIG'];
  if (carry.agent && sock && !args.includes('--agent')) args.push('--agent', sock);
  if (carry.config && config && !args.includes('--config')) args.push('--config', path.resolve(config));
  const child = spawn(sudo, ['--', process.execPath, cliEntry(), ...args], { stdio: 'inherit' });
  // Ctrl-C reaches sudo and its command from the terminal; this process only waits for them
  const ignore = (): void => undefined;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, ignore);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
  });
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    const file = path.join(dir || '.', name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Whether the installed helper listens here for a process that is not root
 * (docs/privsep.md): then this user's controllers use it, and their logs
 * live in the user's state folder ($XDG_STATE_HOME/cloudbridge, or
 * ~/.local/state/cloudbridge), where `logs` finds them.
 */
export function installedHelper(): boolean {
  if (process.geteuid?.() === 0 || !fs.existsSync(HELPER_SOCKET)) return false;
  const state = process.env['XDG_STATE_HOME'] || path.join(os.homedir(), '.local', 'state');
  moveFolderHere('CLOUDBRIDGE_LOG_DIR', path.join(state, 'cloudbridge'));
  return true;
}

/**
 * Whether a controller runs as the user with a root helper (--privsep): as
 * asked, else when root was reached through sudo by a user other than root.
 */
export function privsepWanted(asked: boolean | undefined): boolean {
  return asked ?? (process.geteuid?.() === 0 && (process.env['SUDO_UID'] !== undefined || process.env['SUDO_USER'] !== undefined) && invokingUser().uid !== 0);
}
