import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAddon } from '../native/addon.js';
import { runGrouped, type Executor } from '../plan/apply.js';
import { isContextAction, type LocalAction, type RemoteAction } from '../plan/steps.js';
import type { PlatformName } from '../platform/index.js';
import { localNet } from '../platform/index.js';
import { checkEnvName } from '../util/envName.js';
import { bootRecordFile, ROOT_RUN_DIR } from '../util/paths.js';
import type { HostPath, KernelView } from './policy.js';
import { HelperError } from './requests.js';
import type { HelperDeps } from './session.js';

/**
 * Root's journals of the helper: one per environment, in a folder only root
 * may write (never moved by the caller's environment). Its name is none an
 * environment can have (they start with a letter or digit): as `helper` it
 * was also environment "helper"'s run folder, and `status` as a user took it
 * for a root controller's.
 */
export const HELPER_DIR = path.join(ROOT_RUN_DIR, '_helper');

/**
 * Root's folders, once nothing is left in them: the environment's run folder
 * (its user empties it; only root may remove it from root's folder), the
 * helper's, and the top one. rmdir: never a link followed, never a file removed.
 */
export function removeHelperFolders(env?: string): void {
  const top = path.dirname(HELPER_DIR);
  for (const dir of [...(env ? [path.join(top, checkEnvName(env))] : []), HELPER_DIR, top]) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // not empty: another environment's, or a journal kept for cleanup
    }
  }
}

/**
 * An environment's run folder, made the caller's: absent, it is made (in
 * root's folder, so no one can plant a link there); the caller's, it is
 * taken as it is; anyone else's, it is refused.
 */
export function claimRunFolder(top: string, env: string, caller: { readonly uid: number; readonly gid: number }): void {
  const dir = path.join(top, checkEnvName(env));
  fs.mkdirSync(top, { recursive: true, mode: 0o755 });
  try {
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chownSync(dir, caller.uid, caller.gid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = fs.lstatSync(dir);
    if (st.isDirectory() && st.uid === caller.uid) return;
    // root's: a controller run as root (a service unit, --no-privsep), or what it left behind
    if (st.isDirectory() && st.uid === 0)
      throw new HelperError(`${env} is root's (a controller run as root, or what one left): sudo cloudbridge cleanup ${env}`);
    throw new HelperError(`${env} is another user's environment (uid ${st.uid})`);
  }
}

export const helperJournal = (env: string): string => `${HELPER_DIR}/${checkEnvName(env)}.json`;

/**
 * The helper's deps on this host: the kernel read through the platform's
 * network code (netlink on Linux), the platform's actions run one at a
 * time, the tun device opened by the addon.
 */
export async function hostDeps(platform: PlatformName, log: (line: string) => void): Promise<HelperDeps & { close(): void }> {
  const net = await localNet(platform);
  const kernel: KernelView = {
    outsidePath: async (addr, ourDevs): Promise<HostPath> => net.outsidePath(addr, ourDevs[0] ?? ''),
    resolvConf: async () => {
      const file = '/etc/resolv.conf';
      const attempt = <T>(read: () => T, otherwise: T): T => {
        try {
          return read();
        } catch {
          return otherwise;
        }
      };
      return { content: attempt(() => fs.readFileSync(file, 'utf8'), ''), symlink: attempt<string | undefined>(() => fs.readlinkSync(file), undefined) };
    },
    serviceDns: async () => (platform === 'darwin' ? net.dnsServices() : []),
    addressesOn: (name) => net.addressesOn(name),
    hasDevice: async (name) => (platform === 'darwin' ? name in os.networkInterfaces() : fs.existsSync(`/sys/class/net/${name}`)),
    localAddresses: () => net.addresses(),
  };
  // the platform's actions one at a time, as the controller runs them; nothing remote is the helper's
  const executor: Executor = {
    run: (actions, keepGoing) =>
      runGrouped<LocalAction, RemoteAction>(
        actions,
        keepGoing,
        (a) => (isContextAction(a) ? Promise.reject(new Error('not a network action')) : net.apply(a)),
        () => Promise.reject(new Error('not a network action')),
      ),
  };
  return {
    kernel,
    platform,
    executor,
    openTun: (name) => {
      const [fd, actual] = loadAddon().open(name);
      return { fd, name: actual };
    },
    bind: async (addr, proto) => {
      const fd = loadAddon().bindInet(addr, 53, proto === 'tcp');
      if (fd < 0) throw new Error(`bind ${addr}:53/${proto}: ${errnoName(-fd)}`);
      return fd;
    },
    journalFile: (env) => {
      fs.mkdirSync(HELPER_DIR, { recursive: true, mode: 0o700 });
      return helperJournal(env);
    },
    bootRecord: bootRecordFile,
    afterEnd: removeHelperFolders,
    live: new Set(),
    log,
    close: () => net.close(),
  };
}

/** EADDRINUSE for 98 (on Linux): what a refusal says. */
function errnoName(n: number): string {
  return Object.entries(os.constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
}
