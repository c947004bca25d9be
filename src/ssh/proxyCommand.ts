import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { Duplex } from 'node:stream';
import { UserError } from '../util/errors.js';
import type { InvokingUser } from '../util/user.js';
import type { SshHop } from './route.js';
import { userCommandOptions } from './userCommand.js';

/**
 * ssh_config's ProxyCommand: a program whose stdin and stdout carry the SSH
 * connection (aws ssm start-session, cloudflared access ssh, tsh proxy ssh,
 * nc -X 5 -x proxy:1080 %h %p). Run as ssh runs it, `exec`'d by a shell,
 * and as the invoking user, never as root (userCommand.ts): it comes from
 * their config and holds their credentials.
 */

/** ssh_config(5): ProxyCommand takes %%, %h, %n, %p and %r. */
export function expandProxyCommand(command: string, hop: SshHop): string {
  return command.replace(/%(.)/g, (_, c: string) => {
    switch (c) {
      case '%':
        return '%';
      case 'h':
        return hop.host;
      case 'n':
        return hop.name;
      case 'p':
        return String(hop.port);
      case 'r':
        return hop.user;
      default:
        throw new UserError(`ProxyCommand for ${hop.name}: %${c} is not one of its tokens (%h %p %r %n %%)`);
    }
  });
}

export interface ProxyRun {
  /** The connection: the command's stdout and stdin. */
  readonly stream: Duplex;
  readonly child: ChildProcess;
  /** Why it ended, when it has: its exit and the last thing it said. */
  ended(): string | undefined;
}

/**
 * Starts the command for `hop`; its stderr goes to `log` a line at a time.
 */
export function runProxyCommand(hop: SshHop, user: InvokingUser, agent: string | undefined, log: (line: string) => void): ProxyRun {
  const command = expandProxyCommand(hop.proxyCommand!, hop);
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], { ...userCommandOptions(user, agent), stdio: ['pipe', 'pipe', 'pipe'] });
  let last = '';
  let exit: string | undefined;
  readline.createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', (raw: string) => {
    const line = raw.trimEnd();
    if (line) log(`ProxyCommand for ${hop.name}: ${(last = line)}`);
  });
  const stream = Duplex.from({ readable: child.stdout!, writable: child.stdin! });
  // a command that goes away (or cannot start) ends the connection: the session is lost, as any other loss
  child.on('error', (err) => {
    exit = `could not start (${err.message})`;
    stream.destroy(err);
  });
  // 'close': its output read to the end; then the connection closes (ssh2 hears 'close', not 'end')
  child.on('close', (code, signal) => {
    exit = `exited with ${code ?? signal}${last ? `: ${last}` : ''}`;
    stream.destroy();
  });
  stream.on('error', () => undefined);
  return { stream, child, ended: () => exit && `ProxyCommand for ${hop.name} (${command}) ${exit}` };
}
