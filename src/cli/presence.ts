import fs from 'node:fs';
import { requestControl } from '../daemon/control.js';
import type { Status } from '../daemon/status.js';
import { UserError } from '../util/errors.js';
import { controlSocket, envRunDir, journalFile, runDir } from '../util/paths.js';
import { plain } from '../util/plain.js';
import { readJournal, type JournalRecord } from '../plan/apply.js';
import { isRemote } from '../plan/steps.js';
import { formatStatus } from './format.js';

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
export async function presence(env: string): Promise<{ state: ControllerPresence; status?: Status }> {
  try {
    return { state: 'up', status: await requestControl<Status>(controlSocket(env), { cmd: 'status' }, 3000) };
  } catch (err) {
    // a user who is not root cannot ask, but a socket they cannot open is a live one's
    if ((err as NodeJS.ErrnoException).code === 'EACCES') return { state: 'up' };
  }
  return { state: fs.existsSync(envRunDir(env)) ? 'stale' : 'down' };
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
  const dir = runDir();
  const names = envName ? [envName] : fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  const out: Status[] = [];
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
    // running but not ours to ask: the socket is root's
    if (!p.status) throw new UserError('status needs root: the control socket is root-only (try: sudo cloudbridge status)');
    out.push(p.status);
  }
  process.stdout.write(json ? `${JSON.stringify(out, null, 2)}\n` : formatStatus(out));
  return 0;
}
