import type { EnvironmentConfig } from '../config/types.js';
import { defaultCiphers, type Cipher } from '../config/ciphers.js';
import { ReadRing } from '../datapath/ssh/readRing.js';
import { plain } from '../util/plain.js';
import type { InvokingUser } from '../util/user.js';
import { findAgent } from './agent.js';
import { runJumps } from './jumpProcess.js';
import { runProxyCommand, type ProxyRun } from './proxyCommand.js';
import type { SshHop, SshRoute } from './route.js';

export interface SshOptions {
  readonly user: InvokingUser;
  /** ssh-agent socket; defaults to $SSH_AUTH_SOCK, then the invoking user's newest agent. */
  readonly agent?: string | undefined;
  /** Passphrases for encrypted key files, by path (asked on a terminal). */
  readonly passphrases?: ReadonlyMap<string, string>;
  /** Where a ProxyCommand's stderr goes, a line at a time (default: this process's stderr, the controller log). */
  readonly log?: (line: string) => void;
  /** What the user should see at connect (an ssh_config line not honoured in full): a `warning:` line; the log's when not given. */
  readonly warn?: ((line: string) => void) | undefined;
  /** -vv: ssh2's account of each hop's handshake (until it is ready: after, it would be a line a packet) and every remote command. */
  readonly debug?: ((line: string) => void) | undefined;
}

export const logToStderr = (line: string): void => void process.stderr.write(`${plain(line)}\n`);

export interface HopLimits {
  readonly connectTimeout: number;
  readonly deadAfter: number;
  readonly ciphers: readonly Cipher[];
}

export const hopLimits = (env: EnvironmentConfig): HopLimits => ({
  connectTimeout: env.connectTimeout,
  deadAfter: env.deadAfter,
  ciphers: env.ciphers.length ? env.ciphers : defaultCiphers(),
});

/**
 * What carries the SSH connection to the target (the transport): a TCP connection, the
 * target's ProxyCommand, or the jump process (its ProxyJump chain). None of
 * it needs ssh2, so the controller starts it as soon as it knows the route
 * (cli/lifecycle.ts): sshd's fork and re-exec before its banner (~30 ms
 * here), a ProxyCommand's start, or the jump process's Node start and its
 * hops (~100 ms and more) then go on while ssh2 and the controller's code
 * load (~50 and ~100 ms here). connectSsh (session.ts) starts one itself
 * when it is given none: a reconnect.
 */
export type Transport =
  | { readonly kind: 'tcp'; readonly ring: ReadRing }
  | { readonly kind: 'proxy'; readonly proxy: ProxyRun }
  | { readonly kind: 'jumps'; readonly jumps: ProxyRun & { readonly ready: Promise<void> } };

export function startTransport(route: SshRoute, limits: HopLimits, opts: SshOptions): Transport {
  const log = opts.log ?? logToStderr;
  if (route.jumps.length > 0) {
    const agent = findAgent(opts.user, opts.agent);
    return { kind: 'jumps', jumps: runJumps(route, limits, { user: opts.user, agent, passphrases: opts.passphrases, log, debug: opts.debug }) };
  }
  const { target } = route;
  const ring = directRing(target);
  return ring ? { kind: 'tcp', ring } : { kind: 'proxy', proxy: runProxyCommand(target, opts.user, findAgent(opts.user, opts.agent), log) };
}

/** A hop reached straight over TCP: its connection, read through a ring; none for a hop behind a ProxyCommand. */
export const directRing = (hop: SshHop): ReadRing | undefined => (hop.proxyCommand ? undefined : new ReadRing({ host: hop.host, port: hop.port }));

/** A transport whose session never began (a refused connect): its socket closed, its process ended. */
export function stopTransport(c: Transport): void {
  if (c.kind === 'tcp') c.ring.socket.destroy();
  else (c.kind === 'proxy' ? c.proxy : c.jumps).child.kill();
}
