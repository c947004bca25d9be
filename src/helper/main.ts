#!/usr/bin/env node
/**
 * The privileged helper's entry (docs/privsep.md). Started by a controller
 * (under sudo): serves it on fd 3 (requests and replies, one JSON line each)
 * and passes fds on fd 4 (SCM_RIGHTS), then exits once everything it did is
 * undone: when the controller says `down`, and when its end closes without
 * one. Installed (`--listen SOCKET --group GROUP`, daemon.ts): the same
 * sessions for a group's members, each over a connection of its own.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { currentPlatform } from '../platform/index.js';
import { listen } from './daemon.js';
import { claimRunFolder, hostDeps } from './host.js';
import { ROOT_RUN_DIR } from '../util/paths.js';
import { checkEnvName } from '../util/envName.js';
import { passFd, serve } from './session.js';
import { HelperError } from './requests.js';

const CONTROL_FD = 3;
const FD_CHANNEL = 4;

const log = (line: string): void => void process.stderr.write(`${line}\n`);
if (process.getuid?.() !== 0) {
  log('cloudbridge helper: runs as root only');
  process.exit(2);
}
const deps = await hostDeps(currentPlatform(), log);
const [flag, socketPath, groupFlag, group] = process.argv.slice(2);
if (flag === '--listen') {
  // installed (cloudbridge install-helper): the host's one helper, for a group's members
  const gid = groupFlag === '--group' && group ? groupId(group) : undefined;
  if (!socketPath || gid === undefined) {
    log(`cloudbridge helper: usage: helper.js --listen SOCKET --group GROUP (${group ?? 'no group'}: not a group here)`);
    process.exit(2);
  }
  const server = await listen(socketPath, gid, deps, log);
  log(`cloudbridge helper: listening on ${socketPath} for group ${group}`);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => server.close(() => process.exit(0)));
} else {
  await serveOne();
}

/** The helper a controller started: one session on fds 3 and 4, then exit. */
async function serveOne(): Promise<never> {
  const conn = new net.Socket({ fd: CONTROL_FD, readable: true, writable: true });
  const errors = await serve(conn, { ...deps, claim: ownersClaim() }, (reply, fd) => conn.write(`${JSON.stringify(passFd(reply, fd, FD_CHANNEL))}\n`));
  deps.close();
  process.exit(errors.length ? 1 : 0);
}

/**
 * The run folder root gave the user before starting this helper
 * (cli/privsep.ts) says whose the session is: read at hello, and the folder
 * made again for them if it goes (a 'claim'). Root's or none: nobody's to
 * make again.
 */
function ownersClaim(): (env: string) => number | void {
  let owner: { uid: number; gid: number } | undefined;
  let asked = false;
  return (env) => {
    if (!asked) {
      asked = true;
      const st = fs.lstatSync(path.join(ROOT_RUN_DIR, checkEnvName(env)), { throwIfNoEntry: false });
      if (st?.isDirectory() && st.uid !== 0) owner = { uid: st.uid, gid: st.gid };
      return owner?.uid;
    }
    if (!owner) throw new HelperError("the run folder was not a user's when this session began");
    claimRunFolder(ROOT_RUN_DIR, env, owner);
  };
}

/** A group's id, by name or number, as the system's group database has it. */
function groupId(nameOrGid: string): number | undefined {
  if (/^\d+$/.test(nameOrGid)) return Number(nameOrGid);
  try {
    const line = execFileSync('getent', ['group', nameOrGid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const gid = line.split(':')[2];
    return gid && /^\d+$/.test(gid) ? Number(gid) : undefined;
  } catch {
    return undefined;
  }
}
