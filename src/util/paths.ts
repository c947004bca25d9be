import fs from 'node:fs';
import path from 'node:path';
import { checkEnvName, ENV_NAME } from './envName.js';
import { movedFolder } from './user.js';

/**
 * Runtime files live under one directory per environment, removed on
 * disconnect. $CLOUDBRIDGE_RUN_DIR moves it for a process without root
 * (user.ts, movedFolder): the journal there is replayed as root, so root's
 * stays where only root can write.
 */
export function runDir(): string {
  return movedFolder('CLOUDBRIDGE_RUN_DIR') ?? ROOT_RUN_DIR;
}

/** Root's run folder on a platform (macOS has no /run): `--dry-run --platform` shows the other one's. */
export const rootRunDirOf = (platform: string): string => (platform === 'darwin' ? '/var/run/cloudbridge' : '/run/cloudbridge');

/** Root's run folder, never moved: the helper's journals and the installed helper's socket live here. */
export const ROOT_RUN_DIR = rootRunDirOf(process.platform);

/** Where the installed helper listens (helper/daemon.ts): root:GROUP 0660. */
export const HELPER_SOCKET = path.join(ROOT_RUN_DIR, 'helper.sock');

export function envRunDir(env: string): string {
  return path.join(runDir(), checkEnvName(env));
}

/** Root's state that outlives a reboot (the run folder does not): macOS keeps daemons' in /var/db. */
export const rootStateDirOf = (platform: string): string => (platform === 'darwin' ? '/var/db/cloudbridge' : '/var/lib/cloudbridge');

/**
 * The boot record of an environment (plan/apply.ts): the changes a reboot
 * of this host does not undo (DNS settings, files in /etc, the steps on the
 * server), kept where a reboot leaves them so that the next run undoes them.
 */
export function bootRecordFile(env: string): string {
  return path.join(movedFolder('CLOUDBRIDGE_STATE_DIR') ?? rootStateDirOf(process.platform), 'boot', `${checkEnvName(env)}.json`);
}

/**
 * A user's own boot record: a controller of theirs that root's helper
 * serves (--privsep, install-helper) journals its steps on the server here,
 * in their state folder, written and read with their rights; root's record
 * holds this host's side (the helper's).
 */
export function userBootRecordFile(env: string, user: { readonly uid: number; readonly home: string }): string {
  return path.join(userStateDir(user), 'boot', `${checkEnvName(env)}.json`);
}

/**
 * A user's own cloudbridge state folder: $XDG_STATE_HOME/cloudbridge when
 * this process is theirs and sets it, else ~/.local/state/cloudbridge in
 * the home the system gives them.
 */
export function userStateDir(user: { readonly uid: number; readonly home: string }): string {
  const xdg = process.getuid?.() === user.uid ? process.env['XDG_STATE_HOME'] : undefined;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(user.home, '.local', 'state'), 'cloudbridge');
}

/** The environments' folders in the run folder: the installed helper's socket and root's journal folder live there too. */
export function envFolderNames(): string[] {
  try {
    return fs
      .readdirSync(runDir())
      .filter((n) => ENV_NAME.test(n))
      .sort();
  } catch {
    return []; // nothing is up
  }
}

/**
 * The user's boot record where their state folder can take one; undefined
 * when the folder, or the nearest one there is above it, is not theirs to
 * write (a system account's home, /nonexistent): the session goes on
 * without it rather than not at all.
 */
export function userBootRecordIfWritable(env: string, user: { readonly uid: number; readonly home: string }): string | undefined {
  const file = userBootRecordFile(env, user);
  let dir = path.dirname(file);
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return file;
  } catch {
    return undefined;
  }
}

export const controlSocket = (env: string): string => path.join(envRunDir(env), 'control.sock');
export const dockerSocket = (env: string): string => path.join(envRunDir(env), 'docker.sock');
export const journalFile = (env: string): string => path.join(envRunDir(env), 'journal.json');

/**
 * Removes an environment's runtime files: all but the journal while remote
 * steps wait in it for `cleanup`, otherwise the directory, and the top one
 * once no other environment is up.
 */
export function removeRunFiles(env: string, keepJournal: boolean): void {
  const dir = envRunDir(env);
  if (keepJournal) {
    for (const f of fs.readdirSync(dir)) {
      if (f !== path.basename(journalFile(env))) fs.rmSync(path.join(dir, f), { force: true });
    }
    return;
  }
  removeRunFolder(env);
}

/**
 * An environment's run folder removed: its files, then the folder and the
 * top one where this process may. A --privsep controller's user empties
 * theirs; it sits in root's folder, so root's helper removes it.
 */
export function removeRunFolder(env: string): void {
  const dir = envRunDir(env);
  let files: string[];
  try {
    // another user's folder (a --privsep controller's, seen by root): theirs to empty, never root's to walk
    files = fs.lstatSync(dir).uid === (process.geteuid?.() ?? 0) ? fs.readdirSync(dir) : [];
  } catch {
    return; // none
  }
  for (const f of files) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  for (const d of [dir, runDir()]) {
    try {
      fs.rmdirSync(d);
    } catch {
      // root's to remove (EACCES), or others are connected (ENOTEMPTY)
    }
  }
}
