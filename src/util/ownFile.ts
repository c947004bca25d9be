import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';

/**
 * cloudbridge's own files (the step journal, the controller's log, service
 * units) are opened here: never through a symbolic link (O_NOFOLLOW), and
 * only when the file and its folder belong to this process's effective
 * user (root, or root for whom a test stands in) and nobody else may write
 * them. A name that strays, a link planted in a folder, a file someone else
 * made: each is refused in one line instead of being read or written with
 * root's rights. OpenSSH's secure_permissions is the model.
 */

const { O_NOFOLLOW, O_RDONLY, O_WRONLY, O_APPEND, O_CREAT, O_TRUNC } = fs.constants;

const me = (): number => process.geteuid?.() ?? 0;

/** Why `st` (of `what`) is not ours to trust, or undefined when it is. */
function untrusted(st: fs.Stats, what: string): string | undefined {
  if (st.uid !== me()) return `${what} is owned by uid ${st.uid}, not ${me()}`;
  if (st.mode & 0o022) return `${what} is writable by others (mode 0${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/** Refuses a folder that is not a real directory of ours, writable by us alone. */
export function checkOwnFolder(dir: string): void {
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new UserError(`${dir} is not a directory; refusing to use it`);
  const why = untrusted(st, dir);
  if (why) throw new UserError(`${why}; refusing to use it`);
}

/** Opens one of our files with `flags` (never following a link), after checking it and its folder. */
export function openOwn(file: string, flags: number, mode = 0o600): number {
  checkOwnFolder(path.dirname(file));
  let fd: number;
  try {
    fd = fs.openSync(file, flags | O_NOFOLLOW, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new UserError(`${file} is a symbolic link; refusing to follow it`, 1);
    throw err;
  }
  const st = fs.fstatSync(fd);
  const why = st.isFile() ? untrusted(st, file) : `${file} is not a regular file`;
  if (why) {
    fs.closeSync(fd);
    throw new UserError(`${why}; refusing to use it`);
  }
  return fd;
}

/** An own file's text; undefined when there is none. */
export function readOwn(file: string): string | undefined {
  let fd: number;
  try {
    fd = openOwn(file, O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes an own file whole: a temporary file beside it, then a rename, so a
 * reader never sees half. When the write fails (a full disk) the file stays
 * as it was and the temporary one goes.
 */
export function writeOwn(file: string, text: string, mode = 0o600): void {
  const tmp = `${file}.tmp`;
  fs.rmSync(tmp, { force: true });
  const fd = openOwn(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
  try {
    try {
      fs.writeFileSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Opens an own file to append to, making it when it is not there. */
export const appendOwn = (file: string, mode = 0o640): number => openOwn(file, O_WRONLY | O_APPEND | O_CREAT, mode);
