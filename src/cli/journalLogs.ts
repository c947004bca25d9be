import { spawn } from 'node:child_process';
import os from 'node:os';
import readline from 'node:readline';
import { PRIORITY } from '../native/journald.js';
import { UserError } from '../util/errors.js';
import { invokingUser } from '../util/user.js';
import { IDENTIFIER, type Level, type LogEntry } from '../util/log.js';

/**
 * `cloudbridge logs` where the controller logs to the journal
 * (native/journal.ts): journalctl reads it, and its JSON entries come out
 * as the file's lines would. A controller's stderr (a crash) reaches the
 * journal as a stream with our identifier but without CLOUDBRIDGE_ENV; it is
 * claimed by the process id of a controller that logged for ENV.
 */

interface JournalEntry {
  readonly __REALTIME_TIMESTAMP: string;
  readonly MESSAGE?: string | number[];
  readonly PRIORITY?: string;
  readonly CLOUDBRIDGE_ENV?: string;
  readonly _PID?: string;
}

const LEVELS = Object.entries(PRIORITY) as [Level, number][];
const levelFor = (priority: number): Level => LEVELS.find(([, p]) => priority <= p)?.[0] ?? 'debug';

/** The entries of ENV that journalctl prints (its -o json lines), as log entries; pids: the controllers seen so far. */
export function entryOf(line: string, env: string, pids: Set<string>): LogEntry | undefined {
  let e: JournalEntry;
  try {
    e = JSON.parse(line) as JournalEntry;
  } catch {
    return undefined;
  }
  if (e.CLOUDBRIDGE_ENV === env && e._PID) pids.add(e._PID);
  else if (e.CLOUDBRIDGE_ENV !== undefined || !e._PID || !pids.has(e._PID)) return undefined;
  const message = Array.isArray(e.MESSAGE) ? Buffer.from(e.MESSAGE).toString('utf8') : (e.MESSAGE ?? '');
  return { time: new Date(Number(BigInt(e.__REALTIME_TIMESTAMP) / 1000n)).toISOString(), env, level: levelFor(Number(e.PRIORITY ?? 6)), message };
}

/**
 * journalctl's arguments for our entries: root's, and those of `user` (who
 * asks: under sudo the user who ran it), from `since`, of one pid, followed.
 * A --privsep controller logs as its user once it has dropped root, and
 * journald stamps each line with the sender's uid as it is sent; any other
 * user's lines, forged or not, are never shown.
 */
export function journalArgs(opts: { since?: number | undefined; follow?: boolean; pid?: number; user?: number }): string[] {
  // the same field twice: journalctl takes either
  const args = ['--no-pager', '-o', 'json', `SYSLOG_IDENTIFIER=${IDENTIFIER}`, '_UID=0', ...(opts.user ? [`_UID=${opts.user}`] : [])];
  if (opts.since !== undefined) args.push(`--since=@${Math.floor(opts.since / 1000)}`);
  if (opts.pid !== undefined) args.push(`_PID=${opts.pid}`);
  if (opts.follow) args.push('--follow', '--lines=all');
  return args;
}

/** Reads ENV's entries with journalctl (since: ms since the epoch; pid: one controller's only), each to `out`; resolves with how many. */
export function readJournal(env: string, opts: { since?: number | undefined; follow?: boolean; pid?: number }, out: (e: LogEntry) => void): Promise<number> {
  // _UID is journald's own word on who wrote an entry: anyone may log as SYSLOG_IDENTIFIER=cloudbridge, only root as uid 0
  const args = journalArgs({ ...opts, user: invokingUser().uid });
  const child = spawn('journalctl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (opts.follow) {
    // journalctl -f would outlive a `logs -f` stopped by a signal to it alone (not its process group)
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        child.kill();
        process.exit(128 + os.constants.signals[sig]);
      });
    }
  }
  const pids = new Set<string>(opts.pid !== undefined ? [String(opts.pid)] : []);
  let count = 0;
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const e = entryOf(line, env, pids);
    if (e && (opts.since === undefined || Date.parse(e.time) >= opts.since)) {
      count++;
      out(e);
    }
  });
  return new Promise((resolve, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(new UserError(e.code === 'ENOENT' ? 'the log is in the journal, and journalctl is not installed' : `journalctl: ${e.message}`)),
    );
    child.once('close', (code) =>
      code === 0 || count > 0 ? resolve(count) : reject(new UserError(`journalctl: ${err.trim().split('\n')[0] || `exit ${code}`}`)),
    );
  });
}
