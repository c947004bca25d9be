import fs from 'node:fs';
import { requestControl } from './control.js';
import type { Status } from './status.js';
import { controlSocket, runDir } from '../util/paths.js';

/** The status of every other environment whose controller answers. */
export async function otherEnvironments(self: string): Promise<Status[]> {
  const dir = runDir();
  const names = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((n) => n !== self)
        .sort()
    : [];
  const out: Status[] = [];
  for (const name of names) {
    try {
      out.push(await requestControl<Status>(controlSocket(name), { cmd: 'status' }, 3000));
    } catch {
      // not running (a stale one is cleaned up by its own connect)
    }
  }
  return out;
}
