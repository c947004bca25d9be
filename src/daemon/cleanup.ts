import fs from 'node:fs';
import { UserError } from '../util/errors.js';
import type { InvokingUser } from '../util/user.js';
import type { EnvironmentConfig } from '../config/types.js';
import { currentPlatform, localNet, type PlatformName } from '../platform/index.js';
import type { LocalNet } from '../platform/types.js';
import { onDevice, reusedDevices } from '../plan/reused.js';
import { checkJournalOwner, readJournal, removeBootRecord, StepJournal, type Executor, type JournalRecord } from '../plan/apply.js';
import { isContextAction, isRemote, outlivesBoot } from '../plan/steps.js';
import { sshRouteFor, userAtHost } from '../ssh/route.js';
import { connectSsh } from '../ssh/session.js';
import { stepExecutor } from './executor.js';
import { helperJournal, removeHelperFolders } from '../helper/host.js';
import { bootRecordFile, envRunDir, journalFile, removeRunFolder, userBootRecordFile } from '../util/paths.js';

export interface CleanupResult {
  readonly found: boolean;
  readonly undone: number;
  readonly errors: readonly string[];
}

/** A local step whose device went with the dead controller: nothing left to undo. */
const gone = (message: string): boolean =>
  // Linux's words, and macOS's: ifconfig's "interface utunN does not exist", route's "bad address: utunN" (IPv4) and
  // "utunN: nodename nor servname provided, or not known" (IPv6: route.c's getaddr reads a missing device as an address) and "not in table"
  /no such interface|No such device|Cannot find device|does not exist|bad address|nodename nor servname provided|not in table/i.test(message);

/**
 * Undoes what a dead controller journaled, on both hosts, and removes its
 * runtime files. The caller has made sure no controller is running.
 * Steps that were pending when it died are undone too: each undo is
 * harmless where its step never happened.
 */
export async function cleanupStale(env: EnvironmentConfig, opts: CleanupOptions): Promise<CleanupResult> {
  const dir = envRunDir(env.name);
  const record = readJournal(journalFile(env.name));
  if (!record) {
    const found = fs.existsSync(dir);
    removeRunFolder(env.name);
    return { found, undone: 0, errors: [] };
  }
  const r = await undoRecord(env, record, journalFile(env.name), opts);
  // the boot record's steps are this journal's too: undone with it (a helper-served controller's is its user's own)
  removeBootRecord(record.localBy === 'helper' ? userBootRecordFile(env.name, opts.user) : bootRecordFile(env.name));
  removeRunFolder(env.name);
  return r;
}

export interface CleanupOptions {
  readonly user: InvokingUser;
  readonly agent?: string | undefined;
  readonly progress: (line: string) => void;
  readonly platform?: PlatformName;
}

/**
 * Undoes a dead controller's record (its journal, or its boot record), this
 * host's side first, then the remote steps over SSH, only on the host they
 * were made on. Throws a UserError when the remote steps must stay (the
 * host out of reach, another host named now): they stay in `file`.
 */
async function undoRecord(env: EnvironmentConfig, record: JournalRecord, file: string, opts: CleanupOptions): Promise<CleanupResult> {
  checkJournalOwner(record, env.name, opts.user);
  // the one journal code path: undos forget what they undid, keep what failed, and write the file whole
  const journal = StepJournal.takeOver(file, record);
  const count = journal.steps.filter((s) => s.undo).length;
  const route = sshRouteFor(env, opts.user);
  const sudo = route.target.user !== 'root';
  /** The remote steps left in the journal stay for the next cleanup, and why. */
  const stay = (why: string): never => {
    throw new UserError(`cleanup ${env.name}: ${why}; the remote steps in ${file} stay until then`);
  };
  const net = await localNet(opts.platform ?? currentPlatform());
  let link;
  try {
    // This host's side first: a full tunnel's resolv.conf must be back before the server's name is looked up.
    await forgetReusedDevices(journal, net, opts.progress);
    const errors = (await undoLocal(journal, record.localBy === 'helper', stepExecutor({ net }, undefined, sudo))).filter((m) => !gone(m));
    if (journal.steps.some(isRemote)) {
      // remote undos run only where their steps ran: a config that now names another host gets none of them
      const target = userAtHost(route.target);
      if (record.target !== undefined && record.target !== target) {
        stay(`its remote steps were made on ${record.target}, and the config now names ${target}: name ${record.target} again to undo them`);
      }
      try {
        link = await connectSsh(env, route, { user: opts.user, agent: opts.agent });
      } catch (err) {
        stay(`${(err as Error).message}: it must reach ${env.host}`);
      }
      const failed = await journal.undo(stepExecutor({ net }, link?.client, sudo), isRemote);
      if (failed.length) stay(`could not undo on ${env.host}: ${failed.join('; ')}`);
    }
    opts.progress(`cleanup: undid what controller ${record.pid} left (${count} steps)`);
    return { found: true, undone: count, errors };
  } finally {
    net.close();
    link?.end();
  }
}

/** Forgets what the journal made on a device another program has opened since under the same name (plan/reused.ts). */
async function forgetReusedDevices(journal: StepJournal, net: LocalNet, progress: (line: string) => void): Promise<void> {
  const reused = await reusedDevices(journal.steps, (dev) => net.addressesOn(dev));
  if (reused.size === 0) return;
  await journal.undo(ELSEWHERE, (s) => onDevice(s, reused));
  progress(`cleanup: ${[...reused].join(', ')} is another program's now (no address of ours on it): what was on ours went with it`);
}

/**
 * After a reboot: what a run cut short left that a boot does not undo,
 * from its boot record (no journal beside it: the run folder went with the
 * boot): DNS settings here, and the remote steps (NAT rules, forwarding)
 * on the server, over SSH. Root's record, or, given `userRecord`, a
 * helper-served controller's own (the server's steps, read as its user).
 * The record goes once all is undone; what could not be stays in it, said
 * in the returned lines.
 */
export async function restoreLeftByBoot(env: EnvironmentConfig, opts: CleanupOptions, userRecord?: string): Promise<string[]> {
  // a user's record (userBootRecordFile) holds the server's steps alone: the helper's own journal is not its business
  const file = userRecord ?? bootRecordFile(env.name);
  if (fs.existsSync(journalFile(env.name)) || (!userRecord && fs.existsSync(helperJournal(env.name)))) return [];
  const record = readJournal(file);
  if (!record) return [];
  opts.progress(`cleanup: ${env.name}: a run cut short by a reboot left settings here and on the server; undoing them`);
  try {
    const r = await undoRecord(env, record, file, opts);
    if (r.errors.length === 0) removeBootRecord(file);
    return [...r.errors];
  } catch (err) {
    if (err instanceof UserError) return [err.message];
    throw err;
  }
}

/** Runs nothing: the steps it is given are undone elsewhere. */
const ELSEWHERE: Executor = { run: async (actions) => ({ done: actions.length, failures: [] }) };

/**
 * This host's side of a dead controller's journal. Where the root helper
 * made the local steps (--privsep), root has undone them from the helper's
 * own journal before becoming the user (undoHelperJournal): this journal,
 * the user's to write, never says what root changes.
 */
async function undoLocal(journal: StepJournal, byHelper: boolean, exec: Executor): Promise<string[]> {
  if (byHelper) await journal.undo(ELSEWHERE, (s) => s.apply.side === 'local' && !isContextAction(s.apply));
  // docker contexts are the user's own, undone here either way
  return journal.undo(exec, (s) => !isRemote(s));
}

/**
 * Root's part of cleaning up after a --privsep controller: what its helper
 * journaled and did not undo (the helper was killed too), undone from that
 * journal, in a folder only root writes. A helper that outlived its
 * controller has undone it all already and left no journal.
 */
export async function undoHelperJournal(env: string, platform: PlatformName = currentPlatform()): Promise<string[]> {
  const file = helperJournal(env);
  const record = readJournal(file);
  if (!record) return [];
  const journal = StepJournal.takeOver(file, record);
  const net = await localNet(platform);
  try {
    await forgetReusedDevices(journal, net, () => undefined);
    const errors = (await journal.undo(stepExecutor({ net }, undefined, false))).filter((m) => !gone(m));
    if (errors.length === 0) journal.remove();
    if (!journal.steps.some((s) => outlivesBoot(s.apply))) removeBootRecord(bootRecordFile(env));
    removeHelperFolders();
    return errors;
  } finally {
    net.close();
  }
}
