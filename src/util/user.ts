import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { UserError } from './errors.js';

/**
 * Who cloudbridge acts for, and acting with their rights.
 *
 * cloudbridge runs as root for a user who ran sudo. The rule (README,
 * "Security notes"): what lives in that user's home or comes from their
 * config is read, created and written with the user's rights, never root's.
 * `asUser` is how: it switches the process's effective uid, gid and groups
 * to the user's for a synchronous piece of work, as OpenSSH's
 * temporarily_use_uid does, so the kernel checks every path (symlinks
 * included) as it would for the user, and what is created is theirs.
 */

/** The user who ran the command, looking through sudo. */
export interface InvokingUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** Their login shell, as the user database has it (or $SHELL for this process's own user), when known. */
  readonly shell?: string | undefined;
}

interface Passwd {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell?: string | undefined;
}

/**
 * A user as the system's user database knows them (getpwnam: files, LDAP,
 * SSSD, Directory Services), by name or uid; undefined when it does not.
 */
export function lookupUser(nameOrUid: string, platform: NodeJS.Platform = process.platform): Passwd | undefined {
  try {
    if (platform === 'darwin') {
      const key = /^\d+$/.test(nameOrUid) ? 'uid' : 'name';
      const out = execFileSync('dscacheutil', ['-q', 'user', '-a', key, nameOrUid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const field = (k: string): string | undefined => new RegExp(`^${k}: (.*)$`, 'm').exec(out)?.[1];
      const [name, uid, gid, home] = [field('name'), field('uid'), field('gid'), field('dir')];
      return name && uid && gid && home ? { name, uid: Number(uid), gid: Number(gid), home, shell: field('shell') || undefined } : undefined;
    }
    const line = execFileSync('getent', ['passwd', nameOrUid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!;
    const f = line.split(':');
    if (f.length < 7 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) return undefined;
    return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6] || undefined };
  } catch {
    return undefined; // not found (getent exits 2), or no such tool
  }
}

let cached: { key: string; user: InvokingUser } | undefined;

/**
 * The invoking user: under sudo, SUDO_USER (or SUDO_UID) as the user
 * database has them, and a clear error when it has not (never root in
 * their place); otherwise whoever runs this.
 */
export function invokingUser(env: NodeJS.ProcessEnv = process.env): InvokingUser {
  const sudoUid = env['SUDO_UID'];
  const sudoUser = env['SUDO_USER'];
  const key = `${sudoUser ?? ''}:${sudoUid ?? ''}:${env['HOME'] ?? ''}`;
  if (cached?.key === key) return cached.user;
  let user: InvokingUser | undefined;
  if (sudoUid !== undefined || sudoUser !== undefined) {
    const who = sudoUser ?? sudoUid!;
    const found = lookupUser(who);
    const euid = process.geteuid?.() ?? 0;
    // SUDO_* speak for root's caller; a process that is not root acts for itself (a --privsep
    // controller that became that user, with its passwd entry; anyone else's variables are not its)
    if (euid !== 0 && found?.uid !== euid) user = undefined;
    else {
      if (!found) throw new UserError(`cannot find ${who}, who ran sudo, in the user database (getent passwd ${who}); refusing to act for them as root`);
      if (sudoUid !== undefined && /^\d+$/.test(sudoUid) && Number(sudoUid) !== found.uid) {
        throw new UserError(`SUDO_USER ${found.name} has uid ${found.uid}, but SUDO_UID says ${sudoUid}; refusing to guess who ran sudo`);
      }
      user = found;
    }
  }
  if (!user) {
    const info = os.userInfo();
    // no sudo in between: this process's own $SHELL, as ssh takes it
    user = { name: info.username, uid: info.uid, gid: info.gid, home: env['HOME'] ?? info.homedir, shell: env['SHELL'] || info.shell || undefined };
  }
  cached = { key, user };
  return user;
}

/** Variables that move one of cloudbridge's own folders. */
export type FolderVariable = 'CLOUDBRIDGE_RUN_DIR' | 'CLOUDBRIDGE_LOG_DIR' | 'CLOUDBRIDGE_SERVICE_DIR' | 'CLOUDBRIDGE_STATE_DIR';

/** Folders moved for this process by its own code (moveFolderHere), never by a variable. */
const testFolders = new Map<FolderVariable, string>();

/**
 * Where `variable` moves a folder of cloudbridge's, when it may: only in a
 * process with no root in it, neither its real nor its effective uid 0.
 * Root never takes it, whoever it acts for: SUDO_UID is sudo's word alone,
 * and doas, `su` and a sudoers SETENV rule hand root the caller's
 * environment without saying so. Root's journal, log and units stay where
 * only root writes.
 */
export function movedFolder(
  variable: FolderVariable,
  env: NodeJS.ProcessEnv = process.env,
  ids: { readonly uid: number | undefined; readonly euid: number | undefined } = { uid: process.getuid?.(), euid: process.geteuid?.() },
): string | undefined {
  const inTest = testFolders.get(variable);
  if (inTest !== undefined) return inTest;
  const moved = env[variable];
  return moved && ids.uid !== 0 && ids.euid !== 0 ? moved : undefined;
}

/**
 * Moves a folder for this process, by its own code (no variable a caller
 * sets reaches this): the unit tests' folders, and the log of a controller
 * that runs as its user with the installed helper (their state folder).
 */
export function moveFolderHere(variable: FolderVariable, dir: string | undefined): void {
  if (dir === undefined) testFolders.delete(variable);
  else testFolders.set(variable, dir);
}

/** The process's supplementary groups become `user`'s (initgroups), or their primary group alone when the group database has none. */
export function takeGroupsOf(user: { readonly name: string; readonly gid: number }): void {
  try {
    // in Node since 0.9, missing from @types/node 20
    (process as NodeJS.Process & { initgroups(user: string, extraGroup: number): void }).initgroups(user.name, user.gid);
  } catch {
    process.setgroups!([user.gid]); // not in the group database: the primary group only
  }
}

/**
 * Runs `fn` with `user`'s effective uid, gid and supplementary groups, and
 * switches back. Only synchronous work belongs here: the switch is
 * process-wide, so nothing may wait in between. Not root, or acting for
 * root: just runs `fn`.
 */
export function asUser<T>(
  user: { readonly name: string; readonly uid: number; readonly gid: number },
  fn: () => T extends PromiseLike<unknown> ? never : T,
): T {
  if (process.geteuid?.() !== 0 || user.uid === 0) return fn();
  const groups = process.getgroups!();
  const egid = process.getegid!();
  takeGroupsOf(user);
  process.setegid!(user.gid);
  process.seteuid!(user.uid);
  try {
    return fn();
  } finally {
    process.seteuid!(0);
    process.setegid!(egid);
    process.setgroups!(groups);
  }
}
