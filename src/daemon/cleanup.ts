import fs from 'node:fs';
import { UserError } from '../util/errors.js';
import type { InvokingUser } from '../util/user.js';
import type { EnvironmentConfig } from '../config/types.js';
import { currentPlatform, localNet, type PlatformName } from '../platform/index.js';
import { readJournal } from '../plan/apply.js';
import { sshRouteFor } from '../ssh/route.js';
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
  const undos = steps
    .filter((s) => s.undo)
    .map((s) => s.undo!)
    .reverse();
  const route = sshRouteFor(env, opts.user);
  const sudo = route.target.user !== 'root';
  // This host's side first: a full tunnel's resolv.conf must be back before the server's name is looked up.
  const local = undos.filter((a) => a.side === 'local');
  const remote = undos.filter((a) => a.side === 'remote');
  const net = await localNet(opts.platform ?? currentPlatform());
  let client;
  try {
    const result = await stepExecutor(net, undefined, sudo).run(local, true);
    for (const f of result.failures) if (!gone(f.message)) errors.push(f.message);
    if (remote.length) {
      try {
        client = await connectSsh(env, route, { user: opts.user, agent: opts.agent });
      } catch (err) {
        // what is left for next time: the remote steps alone
        const left = steps.filter((s) => s.apply.side === 'remote');
        fs.writeFileSync(journalFile(env.name), `${JSON.stringify({ ...record, applied: left, pending: [] }, null, 1)}\n`, { mode: 0o600 });
        throw new UserError(`cleanup ${env.name}: ${(err as Error).message}; the remote steps in ${journalFile(env.name)} stay until it can reach ${env.host}`);
      }
      const r = await stepExecutor(net, client, sudo).run(remote, true);
      for (const f of r.failures) errors.push(f.message);
    }
    opts.progress(`cleanup: undid what controller ${record.pid} left (${undos.length} steps)`);
    fs.rmSync(dir, { recursive: true, force: true });
    return { found: true, undone: undos.length, errors };
  } finally {
    net.close();
    client?.end();
  }
}
