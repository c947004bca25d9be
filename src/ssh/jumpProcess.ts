import readline from 'node:readline';
import type { Writable } from 'node:stream';
import { UserError } from '../util/errors.js';
import type { InvokingUser } from '../util/user.js';
import { spawnOnSocketPair, type ProxyRun } from './proxyCommand.js';
import { userAtHost, type SshHop, type SshRoute } from './route.js';
import { entryBeside } from '../util/packageRoot.js';

/**
 * The jump hosts of a ProxyJump chain, in a process of their own, as
 * `ssh -J` runs `ssh -W`: the jump process (cli/hop.ts) makes the chain up
 * to the last jump host, opens the direct-tcpip channel to the target, and
 * relays it to its stdin and stdout, one end of a socket pair whose other
 * end the target's session here reads and writes.
 *
 * Why a process: the two layers of encryption then run on two cores, and
 * the target's session has a real socket, so the tunnel's packets take the
 * C path as on a direct connection. Measured at MTU 16000 through one jump
 * host against `ssh -J -w` (npm run bench, "via jump" rows): in one process,
 * both layers in JavaScript, 203 MB/s up and 136 down against 177/128; this
 * way (with relay.ts), 305/245 against 234/192, median of five rounds.
 */

/** What the jump process is told on its fd 3. */
export interface JumpJob {
  readonly jumps: readonly SshHop[];
  readonly target: SshHop;
  readonly limits: { readonly connectTimeout: number; readonly deadAfter: number; readonly ciphers: readonly string[] };
  readonly user: InvokingUser;
  readonly agent: string | undefined;
  readonly passphrases: Readonly<Record<string, string>>;
  readonly debug: boolean;
}

/** The jump process's stderr: its last word when it gives up, and -vv lines, marked so. */
export const FAILED = 'cloudbridge-jump-failed: ';
export const DEBUG = 'cloudbridge-jump-debug: ';
/** Said once the channel to the target is open. */
export const READY = 'cloudbridge-jump-ready';

/** The jump process's entry: tsc's dist/src/cli/hop.js from dist/src/ssh/, the bundle's hop.cjs from its folder or a chunk. */
const hopEntry = (): string => entryBeside(import.meta.url, ['../cli/hop.js', 'hop.cjs', '../hop.cjs'], 'jump process (hop.cjs)');

export interface JumpOptions {
  readonly user: InvokingUser;
  readonly agent: string | undefined;
  readonly passphrases?: ReadonlyMap<string, string>;
  readonly log: (line: string) => void;
  readonly debug?: ((line: string) => void) | undefined;
}

/**
 * Starts the jump process for `route`; the target's session goes over the
 * returned fd once `ready` resolves (it rejects with the jump process's
 * error, so a jump host's problem is told before the target's, as ssh -J).
 */
export function runJumps(route: SshRoute, limits: JumpJob['limits'], opts: JumpOptions): ProxyRun & { ready: Promise<void> } {
  const { fd, child } = spawnOnSocketPair(process.execPath, [hopEntry()], {}, 1);
  const job: JumpJob = {
    jumps: route.jumps,
    target: route.target,
    limits,
    user: opts.user,
    agent: opts.agent,
    passphrases: Object.fromEntries(opts.passphrases ?? []),
    debug: opts.debug !== undefined,
  };
  const jobPipe = child.stdio[3] as Writable;
  jobPipe.on('error', () => undefined); // a process that died at once: its exit says why
  jobPipe.end(JSON.stringify(job));
  let failure: string | undefined;
  let exit: string | undefined;
  let isReady: () => void = () => undefined;
  let notReady: (err: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    isReady = resolve;
    notReady = reject;
  });
  readline.createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', (line: string) => {
    if (line === READY) isReady();
    else if (line.startsWith(FAILED)) failure = line.slice(FAILED.length);
    else if (line.startsWith(DEBUG)) opts.debug?.(line.slice(DEBUG.length));
    else if (line.trim()) opts.log(`jump process: ${line.trimEnd()}`);
  });
  const via = route.jumps.map(userAtHost).join(', ');
  const run = {
    ready,
    fd,
    child,
    ended: () => failure ?? (exit && `the jump process (through ${via}) ${exit}`),
    onEnd: () => undefined,
  };
  const gone = (): void => {
    notReady(new UserError(run.ended()!));
    run.onEnd();
  };
  child.on('error', (err) => {
    exit = `could not start (${err.message})`;
    gone();
  });
  child.on('close', (code, signal) => {
    exit = `exited with ${code ?? signal}`;
    gone();
  });
  return run;
}
