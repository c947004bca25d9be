import fs from 'node:fs';
import { UserError } from '../util/errors.js';
import type { InvokingUser } from '../util/user.js';
import type { EnvironmentConfig } from '../config/types.js';
import { currentPlatform, localNet, type PlatformName } from '../platform/index.js';
import { checkJournalOwner, readJournal } from '../plan/apply.js';
import type { Step } from '../plan/steps.js';
import { writeOwn } from '../util/ownFile.js';
import { sshRouteFor, userAtHost } from '../ssh/route.js';
import { connectSsh } from '../ssh/session.js';
import { stepExecutor } from './executor.js';
import { envRunDir, journalFile } from '../util/paths.js';

export interface CleanupResult {
  readonly found: boolean;
  readonly undone: number;
  readonly errors: readonly string[];
}

/** A local step whose device went with the dead controller: nothing left to undo. */
const gone = (message: string): boolean =>
  // Linux's words, and macOS's: ifconfig's "interface utunN does not exist", route's "bad address: utunN" and "not in table"
  /no such interface|No such device|Cannot find device|does not exist|bad address|not in table/i.test(message);

/**
 * Undoes what a dead controller journaled, on both hosts, and removes its
 * runtime files. The caller has made sure no controller is running.
 * Steps that were pending when it died are undone too: each undo is
 * harmless where its step never happened.
 */
export async function cleanupStale(
  env: EnvironmentConfig,
  opts: { user: InvokingUser; agent?: string | undefined; progress: (line: string) => void; platform?: PlatformName },
): Promise<CleanupResult> {
  const dir = envRunDir(env.name);
  const record = readJournal(journalFile(env.name));
  if (!record) {
    const found = fs.existsSync(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    return { found, undone: 0, errors: [] };
  }
  const steps = [...record.applied, ...record.pending];
  const errors: string[] = [];
  const undone = steps.filter((s) => s.undo).reverse();
  checkJournalOwner(record, env.name, opts.user);
  const route = sshRouteFor(env, opts.user);
  const sudo = route.target.user !== 'root';
  // This host's side first: a full tunnel's resolv.conf must be back before the server's name is looked up.
  const local = undone.filter((s) => s.undo!.side === 'local').map((s) => s.undo!);
  const remote = undone.filter((s) => s.undo!.side === 'remote');
  /** What stays for the next cleanup: these remote steps (undo order kept, newest first), and why. */
  const keep = (left: readonly Step[], why: string): never => {
    writeOwn(journalFile(env.name), `${JSON.stringify({ ...record, applied: [...left].reverse(), pending: [] }, null, 1)}\n`);
    throw new UserError(`cleanup ${env.name}: ${why}; the remote steps in ${journalFile(env.name)} stay until then`);
  };
  const net = await localNet(opts.platform ?? currentPlatform());
  let client;
  try {
    const result = await stepExecutor(net, undefined, sudo).run(local, true);
    for (const f of result.failures) if (!gone(f.message)) errors.push(f.message);
    if (remote.length) {
      // remote undos run only where their steps ran: a config that now names another host gets none of them
      const target = userAtHost(route.target);
      if (record.target !== undefined && record.target !== target) {
        keep(remote, `its remote steps were made on ${record.target}, and the config now names ${target}: name ${record.target} again to undo them`);
      }
      try {
        client = await connectSsh(env, route, { user: opts.user, agent: opts.agent });
      } catch (err) {
        keep(remote, `${(err as Error).message}: it must reach ${env.host}`);
      }
      const r = await stepExecutor(net, client, sudo).run(
        remote.map((s) => s.undo!),
        true,
      );
      // an undo that did not run is never forgotten
      if (r.failures.length) {
        keep(
          r.failures.map((f) => remote[f.index]!),
          `could not undo on ${env.host}: ${r.failures.map((f) => f.message).join('; ')}`,
        );
      }
    }
    opts.progress(`cleanup: undid what controller ${record.pid} left (${undone.length} steps)`);
    fs.rmSync(dir, { recursive: true, force: true });
    return { found: true, undone: undone.length, errors };
  } finally {
    net.close();
    client?.end();
  }
}
