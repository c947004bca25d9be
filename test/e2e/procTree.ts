import fs from 'node:fs';
import type { ExecutionContext } from 'ava';
import { crashHelper, MODE } from './actor.js';

// The processes of a session as the kernel sees them (/proc): whose they are, with what capabilities.

/** One process as /proc/PID/status has it: real, effective, saved and fs ids, and its capability sets. */
export interface ProcessIds {
  readonly pid: number;
  readonly cmd: string;
  readonly uids: readonly number[];
  readonly gids: readonly number[];
  readonly capEff: string;
  readonly capPrm: string;
}

/** `pid` and every process under it, as the kernel says (/proc). */
export function processTree(pid: number): ProcessIds[] {
  const parentOf = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // the command may hold spaces and parentheses: the ppid follows the last ")"
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      parentOf.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  return tree.flatMap((p) => {
    try {
      const status = fs.readFileSync(`/proc/${p}/status`, 'utf8');
      const field = (k: string): string => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim();
      return [
        {
          pid: p,
          cmd,
          uids: field('Uid').split(/\s+/).map(Number),
          gids: field('Gid').split(/\s+/).map(Number),
          capEff: field('CapEff'),
          capPrm: field('CapPrm'),
        },
      ];
    } catch {
      return [];
    }
  });
}

const isHelper = (p: ProcessIds): boolean => /helper(\/main)?\.js$/.test(p.cmd);

/**
 * What a power cut or a reboot takes mid-session: the controller at `pid`,
 * and in the user modes the root helper serving it at the same instant (kill
 * -9 of the controller alone has its helper undo this host's side within a
 * second, which a reboot does not wait for). The installed helper comes back
 * as its unit would at boot.
 */
export async function crash(pid: number): Promise<void> {
  const helpers = processTree(pid).filter(isHelper);
  for (const p of helpers) process.kill(p.pid, 'SIGKILL');
  process.kill(pid, 'SIGKILL');
  if (MODE === 'helper') await crashHelper();
}

/** The controller and everything under it run as `user` with no capabilities, but for one root helper. Returns the tree. */
export function userOnly(t: ExecutionContext, pid: number, who: { uid: number; gid: number }): ProcessIds[] {
  const tree = processTree(pid);
  const helpers = tree.filter(isHelper);
  t.is(helpers.length, 1, 'one helper');
  t.deepEqual(helpers[0]!.uids, [0, 0, 0, 0], 'the helper is root');
  for (const p of tree.filter((q) => !isHelper(q))) {
    t.deepEqual(p.uids, [who.uid, who.uid, who.uid, who.uid], `${p.cmd}: uids`);
    t.deepEqual(p.gids, [who.gid, who.gid, who.gid, who.gid], `${p.cmd}: gids`);
    t.is(p.capEff, '0000000000000000', `${p.cmd}: no effective capabilities`);
    t.is(p.capPrm, '0000000000000000', `${p.cmd}: no permitted capabilities`);
  }
  return tree;
}
