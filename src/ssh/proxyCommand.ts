import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import readline from 'node:readline';
import fs from 'node:fs';
import { loadAddon } from '../native/addon.js';
import { percentExpand } from './tokens.js';
import type { InvokingUser } from '../util/user.js';
import type { SshHop } from './route.js';
import { userCommandOptions, userShell } from './userCommand.js';

/**
 * ssh_config's ProxyCommand: a program whose stdin and stdout carry the SSH
 * connection (aws ssm start-session, cloudflared access ssh, tsh proxy ssh,
 * nc -X 5 -x proxy:1080 %h %p). Run as ssh runs it, `exec`'d by a shell,
 * and as the invoking user, never as root (userCommand.ts): it comes from
 * their config and holds their credentials.
 */

/** ssh_config(5): ProxyCommand takes %%, %h, %n, %p and %r (sshconnect.c's ssh_proxy_connect), no ${VAR}. */
export const expandProxyCommand = (command: string, hop: SshHop): string =>
  percentExpand(command, { '%': '%', h: hop.host, n: hop.name, p: String(hop.port), r: hop.user }, `ProxyCommand for ${hop.name}`);

export interface ProxyRun {
  /**
   * The connection: our end of a socket pair whose other end is the
   * command's stdin and stdout, a real fd, so that the tunnel's packets go
   * through the C path as on a direct connection (ssh opens its
   * ProxyCommand on two pipes; one socket reads and writes both ways).
   */
  readonly fd: number;
  readonly child: ChildProcess;
  /** Why it ended, when it has: its exit and the last thing it said. */
  ended(): string | undefined;
  /** Called when the command has gone: set by the owner of `fd`, which closes it (the session is lost). */
  onEnd: () => void;
}

/**
 * Starts `file` with one end of a new unix socket pair as its stdin and
 * stdout (pipes for stderr and `extraPipes` more fds after them); our end
 * is `fd`, the connection a ProxyRun carries.
 */
export function spawnOnSocketPair(file: string, args: readonly string[], options: SpawnOptions, extraPipes = 0): { fd: number; child: ChildProcess } {
  const [here, there] = loadAddon().socketPair();
  try {
    const pipes = Array.from({ length: 1 + extraPipes }, () => 'pipe' as const);
    return { fd: here, child: spawn(file, args, { ...options, stdio: [there, there, ...pipes] }) };
  } finally {
    fs.closeSync(there);
  }
}

/**
 * Starts the command for `hop`; its stderr goes to `log` a line at a time.
 */
export function runProxyCommand(hop: SshHop, user: InvokingUser, agent: string | undefined, log: (line: string) => void): ProxyRun {
  const command = expandProxyCommand(hop.proxyCommand!, hop);
  const { fd, child } = spawnOnSocketPair(userShell(user), ['-c', `exec ${command}`], userCommandOptions(user, agent));
  let last = '';
  let exit: string | undefined;
  readline.createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', (raw: string) => {
    const line = raw.trimEnd();
    if (line) log(`ProxyCommand for ${hop.name}: ${(last = line)}`);
  });
  // a command that goes away (or cannot start) ends the connection: the session is lost, as any other loss
  const run = {
    fd,
    child,
    ended: () => exit && `ProxyCommand for ${hop.name} (${command}) ${exit}`,
    onEnd: (): void => undefined,
  };
  child.on('error', (err) => {
    exit = `could not start (${err.message})`;
    run.onEnd();
  });
  // 'close': its stderr read to the end; a child of its own may still hold the socket, so it is closed here
  child.on('close', (code, signal) => {
    exit = `exited with ${code ?? signal}${last ? `: ${last}` : ''}`;
    run.onEnd();
  });
  return run;
}
