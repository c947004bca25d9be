import type { Client, ClientChannel } from 'ssh2';
import { shellJoin } from '../util/quote.js';
import { MAX_OUTPUT, remoteLine, RemoteShell, type RemoteResult } from './remoteShell.js';

export type { RemoteResult } from './remoteShell.js';

export class RemoteCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RemoteResult,
  ) {
    const why = result.stderr.trim().split('\n')[0] || result.stdout.trim().split('\n')[0] || `exit ${result.code}`;
    super(`remote command "${shellJoin(argv)}" failed: ${why}`);
    this.name = 'RemoteCommandError';
  }
}

/** -vv: where a connection's remote commands are told (connectSsh sets it for the target). */
const tracers = new WeakMap<Client, (line: string) => void>();

export function traceCommands(client: Client, log: (line: string) => void): void {
  tracers.set(client, log);
}

/** A command as a -vv line shows it: on one line (a batch script's lines joined), 500 characters at most. */
function shownCommand(argv: readonly string[]): string {
  const s = shellJoin(argv).replace(/\n/g, '; ');
  return s.length > 500 ? `${s.slice(0, 500)}…` : s;
}

/**
 * Each connection's remote shell (remoteShell.ts), one per sudo or not:
 * undefined once a shell could not be had there (sudo allowing only some
 * commands, a restricted shell), and every command is an exec of its own.
 */
const shells = new WeakMap<Client, Map<boolean, RemoteShell | undefined>>();

/** Runs a command on the remote host. Words are quoted; sbin is on PATH; non-root users go through `sudo -n`. */
export async function execRemote(client: Client, argv: readonly string[], opts: { sudo: boolean }): Promise<RemoteResult> {
  const trace = tracers.get(client);
  const started = performance.now();
  let result: RemoteResult;
  try {
    result = await viaShell(client, argv, opts.sudo);
  } catch (err) {
    trace?.(`remote: ${shownCommand(argv)}: ${(err as Error).message}`);
    throw err;
  }
  if (trace) {
    const said = (result.stderr.trim() || result.stdout.trim()).split('\n')[0];
    trace(`remote: ${shownCommand(argv)}: exit ${result.code}, ${Math.round(performance.now() - started)} ms${said ? `: ${said.slice(0, 200)}` : ''}`);
  }
  return result;
}

/** In the connection's shell when it is free (opened at the first command), else in an exec of its own. */
async function viaShell(client: Client, argv: readonly string[], sudo: boolean): Promise<RemoteResult> {
  let mine = shells.get(client);
  if (!mine) shells.set(client, (mine = new Map()));
  const once = (): Promise<RemoteResult> => execOnce(client, remoteLine(sudo, shellJoin(argv)));
  if (mine.has(sudo)) {
    const shell = mine.get(sudo);
    return shell?.free ? shell.run(argv) : once();
  }
  // in the map at once: a command that comes while it opens gets an exec of its own, not a second shell
  const shell = new RemoteShell(openExec(client, remoteLine(sudo, 'sh')));
  mine.set(sudo, shell);
  try {
    return await shell.run(argv);
  } catch {
    // the shell failed on its first command (sudo refused `sh`, no channel): exec from now on, this command too
    mine.set(sudo, undefined);
    return once();
  }
}

function openExec(client: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => client.exec(command, (err, stream) => (err ? reject(err) : resolve(stream))));
}

/** One command in an exec of its own: its output (up to a bound) and exit code. */
async function execOnce(client: Client, command: string): Promise<RemoteResult> {
  const stream = await openExec(client, command);
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let code: number | null = null;
    // what the remote host says is held up to a bound: our commands print a few kB
    let held = 0;
    const take = (into: Buffer[]) => (d: Buffer) => {
      held += d.length;
      if (held <= MAX_OUTPUT) into.push(d);
      else if (held - d.length <= MAX_OUTPUT) {
        stream.close();
        reject(new Error(`more than ${MAX_OUTPUT} bytes of output`));
      }
    };
    stream.on('data', take(out));
    stream.stderr.on('data', take(errOut));
    stream.on('exit', (c: number | null) => {
      code = c;
    });
    stream.on('close', () => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errOut).toString('utf8') }));
  });
}

export async function runRemote(client: Client, argv: readonly string[], opts: { sudo: boolean }): Promise<string> {
  const result = await execRemote(client, argv, opts);
  if (result.code !== 0) throw new RemoteCommandError(argv, result);
  return result.stdout;
}

export interface BatchResult {
  /** How many commands succeeded before the first failure (all of them when none failed). */
  readonly done: number;
  readonly failures: readonly { readonly index: number; readonly message: string }[];
}

/**
 * The shell script for `runRemoteBatch`: each command's outcome is printed as
 * `ok:I` or `fail:I:first line of its output`, so the caller knows exactly
 * which steps took effect.
 */
export function batchScript(commands: readonly (readonly string[])[], keepGoing: boolean): string {
  const one = (argv: readonly string[], i: number): string =>
    `if o=$(${shellJoin(argv)} 2>&1); then echo ok:${i}; else echo "fail:${i}:$(printf '%s' "$o" | head -n 1)"; ${keepGoing ? '' : 'exit 1; '}fi`;
  const lines: string[] = [];
  for (let i = 0; i < commands.length;) {
    let end = i;
    while (!keepGoing && end < commands.length && batchable(commands[end]!)) end++;
    if (end - i < 2) {
      lines.push(one(commands[i]!, i));
      i++;
      continue;
    }
    lines.push(ipBatch(commands.slice(i, end), i, one));
    i = end;
  }
  return lines.join('\n');
}

/** An `ip` command that `ip -batch` reads as the shell would: no global option (-6), and plain words. */
const batchable = (argv: readonly string[]): boolean =>
  argv[0] === 'ip' && argv.length > 1 && !argv[1]!.startsWith('-') && argv.slice(1).every((w) => /^[A-Za-z0-9._:/-]+$/.test(w));

/**
 * Consecutive `ip` commands in one `ip -batch` process instead of one each:
 * a process costs ~7 ms on a small VM, and connect's remote steps are three
 * of them. iproute2 stops at the first failure and says which line
 * ("Command failed -:N", ip/ip.c), so each step is still reported as done
 * or not; an `ip` without -batch (BusyBox's) refuses the option before
 * doing anything, and the commands then run one by one as before.
 */
function ipBatch(commands: readonly (readonly string[])[], first: number, one: (argv: readonly string[], i: number) => string): string {
  const oks = commands.map((_, k) => `echo ok:${first + k}`).join('; ');
  const failed = [
    'n=${o##*Command failed -:}; k=0; while [ $k -lt $((n - 1)) ]; do echo ok:$((' + first + ' + k)); k=$((k + 1)); done',
    'm=${o%Command failed -:*}; m=${m%"$nl"}; echo "fail:$((' + first + ' + n - 1)):${m##*"$nl"}"; exit 1',
  ].join('; ');
  return [
    `nl='`,
    `'`,
    `if o=$(ip -batch - 2>&1 <<'CB_IP'`,
    ...commands.map((argv) => argv.slice(1).join(' ')),
    'CB_IP',
    `); then ${oks}`,
    `else case $o in *'Command failed -:'*) ${failed};;`,
    `*) ${commands.map((argv, k) => one(argv, first + k)).join('\n')};;`,
    'esac; fi',
  ].join('\n');
}

export function parseBatchOutput(stdout: string, count: number): BatchResult {
  const ok = new Set<number>();
  const failures: { index: number; message: string }[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(ok|fail):(\d+)(?::(.*))?$/.exec(line);
    if (!m) continue;
    const index = Number(m[2]);
    if (m[1] === 'ok') ok.add(index);
    else failures.push({ index, message: m[3] || 'failed' });
  }
  let done = 0;
  while (done < count && ok.has(done)) done++;
  if (done < count && failures.length === 0) failures.push({ index: done, message: 'remote shell ended early' });
  return { done, failures };
}

/**
 * Runs commands in one remote shell: one exec round trip (and one login
 * shell start, which can cost most of a second) instead of one per step.
 */
export async function runRemoteBatch(
  client: Client,
  commands: readonly (readonly string[])[],
  opts: { sudo: boolean; keepGoing: boolean },
): Promise<BatchResult> {
  if (commands.length === 0) return { done: 0, failures: [] };
  const result = await execRemote(client, ['sh', '-c', batchScript(commands, opts.keepGoing)], opts);
  const parsed = parseBatchOutput(result.stdout, commands.length);
  if (parsed.done === 0 && parsed.failures.length === 1 && parsed.failures[0]!.message === 'remote shell ended early') {
    throw new RemoteCommandError(['sh', '-c', '…'], result);
  }
  return parsed;
}
