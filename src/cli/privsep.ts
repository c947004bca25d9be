import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cliEntry } from './common.js';
import { HelperClient } from '../helper/client.js';
import { UserError } from '../util/errors.js';
import { envRunDir, HELPER_SOCKET, ROOT_RUN_DIR } from '../util/paths.js';
import { claimRunFolder } from '../helper/host.js';
import { HelperError } from '../helper/requests.js';
import { invokingUser, lookupUser, takeGroupsOf, type InvokingUser } from '../util/user.js';

/**
 * `connect --privsep` (docs/privsep.md): root starts the privileged helper,
 * gives the environment's run folder to the user who ran sudo, and drops to
 * that user for good, as OpenVPN's --user does after opening tun. From here
 * on the config, ssh_config, keys, the SSH session, the jump process and
 * everything they start run as the user with no capabilities; the helper
 * alone stays root.
 */
export function startHelperAndDrop(envName: string, spawned?: HelperClient): HelperClient {
  if (process.geteuid?.() !== 0) throw new UserError('--privsep: run it with sudo (root starts the helper, then the rest runs as you)');
  const user = invokingUser();
  if (user.uid === 0) throw new UserError('--privsep: no user to run as: run it with sudo from your own account (SUDO_USER is root or unset)');
  // the environment's folder made the user's, as the installed helper does: another user's is refused, never taken
  try {
    claimRunFolder(ROOT_RUN_DIR, envName, user);
  } catch (err) {
    if (err instanceof HelperError) throw new UserError(err.message);
    throw err;
  }
  const helper = (spawned ?? HelperClient.spawn()).greet(envName);
  dropTo(user);
  return helper;
}

/**
 * Becomes `user` for good: groups, gid, then uid (setuid from root sets the
 * real, effective and saved uid, and clears the capability sets). Then
 * checks that root cannot be had back, as OpenSSH's permanently_set_uid
 * does; a process that could is stopped.
 */
export function dropTo(user: InvokingUser): void {
  takeGroupsOf(user);
  process.setgid!(user.gid);
  process.setuid!(user.uid);
  let regained = false;
  try {
    process.setuid!(0);
    regained = true;
  } catch {
    // EPERM: as it must be
  }
  if (regained || process.getuid!() !== user.uid || process.geteuid!() !== user.uid || process.getegid!() !== user.gid) {
    process.stderr.write('cloudbridge: could not drop root for good; stopping\n');
    process.exit(70);
  }
}

/** The installed helper (install-helper), for a user in its group: EACCES says they are not. */
export async function connectInstalled(envName: string): Promise<HelperClient> {
  try {
    const helper = await HelperClient.connect(HELPER_SOCKET, envName);
    await helper.hello;
    return helper;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new UserError(`the cloudbridge helper (${HELPER_SOCKET}) is for its group's members only: ask to be added, or use sudo`);
    if (code === 'ECONNREFUSED' || code === 'ENOENT')
      throw new UserError(`the cloudbridge helper does not answer at ${HELPER_SOCKET}: is its service running? (or use sudo)`);
    throw new UserError(`the cloudbridge helper: ${(err as Error).message}`);
  }
}

/** The uid that owns an environment's run folder: a --privsep controller's user, or root; undefined when there is none. */
export function runFolderOwner(envName: string): number | undefined {
  try {
    const st = fs.lstatSync(envRunDir(envName));
    return st.isDirectory() ? st.uid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Who may take down an environment whose run folder `owner` has: they
 * themselves, or root acting for no one (no sudo). Anyone else is told
 * whose it is.
 */
export function checkFolderOwner(envName: string, owner: number, caller: InvokingUser): void {
  if (caller.uid === owner || caller.uid === 0) return;
  throw new UserError(`${envName} was connected by uid ${owner} (--privsep); only they, or root itself, may take it down`);
}

/** Whose a --privsep run folder is, as a user to act for: the caller, or (root acting for no one) its owner. */
export function folderUser(envName: string, owner: number): InvokingUser {
  const caller = invokingUser();
  checkFolderOwner(envName, owner, caller);
  const user = caller.uid === owner ? caller : lookupUser(String(owner));
  if (!user) throw new UserError(`${envName} was connected by uid ${owner}, whom the user database does not know (getent passwd ${owner})`);
  return user;
}

/**
 * Root's half of `cleanup` after a --privsep controller died, as privilege
 * separation has it: root undoes its own journal of this host's changes
 * (the helper's), then the same command runs again as the owner of the run
 * folder (`--as-owner`: it becomes them at once) for the rest: their
 * config, their journal of remote steps, their SSH identity. Root then
 * removes the folder they emptied.
 */
export async function cleanupAsOwner(envName: string, args: { readonly config?: string | undefined; readonly agent?: string | undefined }): Promise<number> {
  const [{ undoHelperJournal }, { removeHelperFolders }] = await Promise.all([import('../daemon/cleanup.js'), import('../helper/host.js')]);
  const errors = await undoHelperJournal(envName);
  if (errors.length) throw new UserError(`cleanup ${envName}: could not undo on this host: ${errors.join('; ')}`);
  const code = await runAsOwner('cleanup', envName, args);
  removeHelperFolders(envName);
  return code;
}

/**
 * `cloudbridge COMMAND ENV --as-owner` in a process of its own, which
 * becomes the owner of the run folder at once (dropTo): what it reads and
 * says goes straight to this command's stdout and stderr, never through
 * root's hands; its exit is this one's.
 */
export async function runAsOwner(
  command: 'cleanup' | 'disconnect',
  envName: string,
  args: { readonly config?: string | undefined; readonly agent?: string | undefined },
): Promise<number> {
  const flags = [...(args.config ? ['--config', path.resolve(args.config)] : []), ...(args.agent ? ['--agent', args.agent] : [])];
  const child = spawn(process.execPath, [cliEntry(), command, envName, '--as-owner', ...flags], { stdio: ['ignore', 'inherit', 'inherit'] });
  return new Promise<number>((resolve) => {
    child.on('error', () => resolve(1));
    child.on('exit', (c) => resolve(c ?? 1));
  });
}
