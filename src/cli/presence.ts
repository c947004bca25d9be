import fs from 'node:fs';
import net from 'node:net';
import { requestControl } from '../daemon/control.js';
import type { Status } from '../daemon/status.js';
import { UserError } from '../util/errors.js';
import { controlSocket, envFolderNames, envRunDir, journalFile } from '../util/paths.js';
import { plain } from '../util/plain.js';
import { readJournal, type JournalRecord } from '../plan/apply.js';
import { isRemote } from '../plan/steps.js';
import { formatStatus } from './format.js';
import { lookupUser } from '../util/user.js';
import { socketAnswers } from '../util/socketAnswers.js';

/**
 * Whether a controller runs for an environment, and `status`: small on
 * purpose (no SSH, YAML or controller code), so that `status` answers fast.
 */

/** The one spelling of an environment's state in every command and its --json: up, stale or down. */
type ControllerPresence = 'up' | 'stale' | 'down';

/**
 * up: a controller answers (with its status, when we may ask); stale: one
 * left files and died (or remote steps it could not undo); down: nothing there.
 */
export async function presence(env: string): Promise<{ state: ControllerPresence; status?: Status; owner?: number }> {
  const sock = controlSocket(env);
  const owner = socketOwner(sock);
  // root never reads what a user's controller says (a --privsep one's socket is its user's): that one answers is all it asks
  if (process.geteuid?.() === 0 && owner !== undefined && owner !== 0) {
    if (await socketAnswers(() => net.connect(sock), 3000)) return { state: 'up', owner };
  } else {
    try {
      return { state: 'up', status: await requestControl<Status>(sock, { cmd: 'status' }, 3000) };
    } catch (err) {
      // a user who is not root cannot ask, but a socket they cannot open is a live one's
      if ((err as NodeJS.ErrnoException).code === 'EACCES') return { state: 'up' };
    }
  }
  return { state: fs.existsSync(envRunDir(env)) ? 'stale' : 'down' };
}

/** The uid that owns the control socket, when there is one (never through a link). */
function socketOwner(sock: string): number | undefined {
  try {
    const st = fs.lstatSync(sock);
    return st.isSocket() ? st.uid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a stale environment left: remote steps its last disconnect could not
 * undo (the host was out of reach), or a dead controller's state. The
 * journal is root's: a user who cannot read it gets the general line.
 */
function leftBehind(env: string): string {
  let record: JournalRecord | undefined;
  try {
    record = readJournal(journalFile(env)); // as root's own file: no link followed, owner and mode checked
  } catch {
    record = undefined;
  }
  const steps = record?.applied.filter(isRemote).length ?? 0;
  const onlyRemote = record !== undefined && steps > 0 && steps === record.applied.length;
  return onlyRemote
    ? `${steps} remote step${steps === 1 ? '' : 's'} on ${plain(record!.target ?? 'the remote host')} could not be undone (it was out of reach)`
    : 'its controller died and left state behind';
}

/** `status ENV`'s exit when ENV is not up (systemctl status's). */
export const STATUS_DOWN = 3;

export async function status(envName: string | undefined, json: boolean): Promise<number> {
  const names = envName ? [envName] : envFolderNames();
  const out: Status[] = [];
  const theirs: { env: string; state: 'up'; owner: string }[] = [];
  for (const name of names) {
    const p = await presence(name);
    if (p.state === 'stale') process.stderr.write(`${name}: ${leftBehind(name)}: sudo cloudbridge cleanup ${name}\n`);
    if (p.state !== 'up') {
      // systemctl's convention: 3 for "not running", so that scripts can tell it from a failure
      if (envName && json) {
        process.stdout.write(`${JSON.stringify([{ env: envName, state: p.state }], null, 2)}\n`);
        return STATUS_DOWN;
      }
      if (envName) throw new UserError(`${envName} is not connected`, STATUS_DOWN);
      continue;
    }
    if (!p.status && p.owner !== undefined) {
      // a --privsep controller's: its status is its user's to ask for, root reads nothing it says
      const who = lookupUser(String(p.owner))?.name ?? `uid ${p.owner}`;
      process.stderr.write(`${name}: up, connected by ${who} (--privsep); its status is theirs: cloudbridge status ${name}, as ${who}\n`);
      theirs.push({ env: name, state: 'up', owner: who });
      continue;
    }
    // running but not ours to ask: the socket is root's
    if (!p.status) throw new UserError('status needs root: the control socket is root-only (try: sudo cloudbridge status)');
    out.push(p.status);
  }
  process.stdout.write(json ? `${JSON.stringify([...out, ...theirs], null, 2)}\n` : formatStatus(out));
  return 0;
}
