import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { socketAnswers } from '../util/socketAnswers.js';
import { asUser, type InvokingUser } from '../util/user.js';

/**
 * A unix socket at a path the user chose (a forward's `listen`), made
 * without root ever acting on what the user controls:
 * - in a directory of the user's (writable by no one else) it is made with
 *   the user's rights, so the kernel checks every step as for them and the
 *   socket is theirs;
 * - anywhere else it is refused, whatever is there: a system folder
 *   (/dev/log, /run/dbus, /var/run/docker.sock would hand root's own
 *   clients to the user's remote target), /tmp, another user's directory;
 * - root acting for itself (no sudo) may use a directory that is root's
 *   all the way up, where nobody can swap a step.
 * What is there already is never removed unless it is a socket nobody
 * answers on (left by a dead process).
 */
export type UnixBinder = 'user' | 'root';

/** Who makes the socket, and where: root binds the resolved path, in which nothing is the user's to swap. */
export interface UnixPlan {
  readonly binder: UnixBinder;
  readonly path: string;
}

/** Who may make the socket at `p`, or an Error naming the path and why not. */
export function unixPlan(p: string, user: InvokingUser): UnixPlan {
  const dir = path.dirname(path.resolve(p));
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch (err) {
    throw new Error(`${p}: its directory ${dir} cannot be used (${(err as NodeJS.ErrnoException).code})`, { cause: err });
  }
  const st = fs.statSync(real);
  if (user.uid !== 0) {
    if (st.uid === user.uid && !(st.mode & 0o022)) return { binder: 'user', path: p };
    throw new Error(`${p}: refusing to make a socket in ${dir}: it must be a directory of ${user.name}'s, writable by no one else`);
  }
  const refuse = (): Error => new Error(`${p}: refusing to make a socket in ${dir}: it must be root's and writable by no one else`);
  // writable by root only (a group write is root's group's, gid 0, whose members are root already)
  const othersMayWrite = (s: fs.Stats): boolean => (s.mode & 0o002) !== 0 || ((s.mode & 0o020) !== 0 && s.gid !== 0);
  if (st.uid !== 0 || othersMayWrite(st)) throw refuse();
  // up to /, nobody but root may swap a step: a shared sticky directory (/tmp) only above a root-owned one
  for (let child = real, d = path.dirname(real); child !== d; child = d, d = path.dirname(d)) {
    const s = fs.statSync(d);
    if (s.uid !== 0 || (othersMayWrite(s) && !(s.mode & 0o1000 && fs.statSync(child).uid === 0))) throw refuse();
  }
  return { binder: 'root', path: path.join(real, path.basename(p)) };
}

/** Runs `fn` (synchronous) with the rights of whoever makes the socket: the user's, or root's as they are. */
export function asBinder<T>(binder: UnixBinder, user: InvokingUser, fn: () => T extends PromiseLike<unknown> ? never : T): T {
  return binder === 'user' ? asUser(user, fn) : fn();
}

/** Clears the way for `plan` (asked for as `asked`): nothing there, or a dead socket removed; else an Error naming the path. */
export async function clearUnixPath(asked: string, plan: UnixPlan, user: InvokingUser): Promise<void> {
  const { binder, path: p } = plan;
  const st = asBinder(binder, user, () => fs.lstatSync(p, { throwIfNoEntry: false }));
  if (!st) return;
  if (!st.isSocket()) throw new Error(`${asked} exists and is not a socket; refusing to replace it`);
  if (await socketAnswers(() => asBinder(binder, user, () => net.connect(p)))) throw new Error(`${asked}: something answers on that socket already`);
  asBinder(binder, user, () => fs.rmSync(p));
}

/** After listening: the socket is the user's (made by root: handed over without following links). */
export function ownUnix(plan: UnixPlan, user: InvokingUser): void {
  if (plan.binder === 'root') fs.lchownSync(plan.path, user.uid, user.gid);
}

/** Removes the socket on close, as whoever made it. */
export function removeUnix(plan: UnixPlan, user: InvokingUser): void {
  asBinder(plan.binder, user, () => fs.rmSync(plan.path, { force: true }));
}
