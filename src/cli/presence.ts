import fs from 'node:fs';
import { requestControl } from '../daemon/control.js';
import type { Status } from '../daemon/status.js';
import { UserError } from '../util/errors.js';
import { controlSocket, envRunDir, runDir } from '../util/paths.js';
import { formatStatus } from './format.js';

/**
 * Whether a controller runs for an environment, and `status`: small on
 * purpose (no SSH, YAML or controller code), so that `status` answers fast.
 */

type ControllerPresence = 'running' | 'stale' | 'none';

/**
 * running: a controller answers (with its status, when we may ask); stale:
 * one left files and died; none: nothing there.
 */
export async function presence(env: string): Promise<{ state: ControllerPresence; status?: Status }> {
  try {
    return { state: 'running', status: await requestControl<Status>(controlSocket(env), { cmd: 'status' }, 3000) };
  } catch (err) {
    // a user who is not root cannot ask, but a socket they cannot open is a live one's
    if ((err as NodeJS.ErrnoException).code === 'EACCES') return { state: 'running' };
  }
  return { state: fs.existsSync(envRunDir(env)) ? 'stale' : 'none' };
}

/** `status ENV`'s exit when ENV is not up (systemctl status's). */
export const STATUS_DOWN = 3;

export async function status(envName: string | undefined, json: boolean): Promise<number> {
  const dir = runDir();
  const names = envName ? [envName] : fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  const out: Status[] = [];
  for (const name of names) {
    const p = await presence(name);
    if (p.state === 'stale') process.stderr.write(`${name}: its controller died and left state behind: sudo cloudbridge cleanup ${name}\n`);
    if (p.state !== 'running') {
      // systemctl's convention: 3 for "not running", so that scripts can tell it from a failure
      if (envName && json) {
        process.stdout.write(`${JSON.stringify([{ env: envName, state: p.state === 'stale' ? 'stale' : 'down' }], null, 2)}\n`);
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
