import path from 'node:path';
import { asUser, type InvokingUser } from '../util/user.js';
import type { EnvironmentConfig, StrictHostKeyChecking } from '../config/types.js';
import { parseProxyJump, readSshConfigFiles, resolveSshHost, type JumpSpec } from './sshConfig.js';
import type { AlgorithmLines } from './algorithms.js';
import { localAddresses, matchExec, nameResolves } from './userCommand.js';

/** One SSH hop, with everything needed to reach and trust it. */
export interface SshHop {
  /** The name it was asked for (ssh_config alias). */
  readonly name: string;
  /** Where to connect (HostName). */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly identityFiles: readonly string[];
  /** ProxyCommand (tokens unexpanded): its stdin and stdout carry the connection instead of a TCP socket. */
  readonly proxyCommand: string | undefined;
  /** ssh_config options in force here that cloudbridge does not do (sshConfig.ts says which and why). */
  readonly unsupported: readonly string[];
  /** ssh_config's CertificateFile (each KEY-cert.pub beside an identity is offered too). */
  readonly certificateFiles: readonly string[];
  readonly identitiesOnly: boolean;
  readonly knownHostsFile: string;
  /** The other files of a UserKnownHostsFile line, then GlobalKnownHostsFile (or OpenSSH's default): read after knownHostsFile, never written. */
  readonly globalKnownHostsFiles: readonly string[];
  readonly strictHostKeyChecking: StrictHostKeyChecking;
  /** ssh_config's IdentityAgent for this hop: its socket, or null for none; undefined: --agent, $SSH_AUTH_SOCK, the user's newest. */
  readonly identityAgent?: string | null;
  /** ssh_config's algorithm lines for this hop (the target's Ciphers give way to cloudbridge's `ciphers`). */
  readonly algorithms: AlgorithmLines;
  /** ssh_config's ServerAliveInterval/CountMax, when set: they decide when a hop counts as dead. */
  readonly keepalive: { readonly intervalSeconds: number; readonly countMax: number } | undefined;
  /** Whether user and port are what ssh_config says (not the cloudbridge config's, a ProxyJump spec's or a default): doctor lets ssh -G find those itself. */
  readonly fromSshConfig?: { readonly user: boolean; readonly port: boolean };
  /** ssh_config's ConnectTimeout (s): the TCP connection and the server's banner within it, as ssh has it. */
  readonly connectTimeout?: number | undefined;
  /** HashKnownHosts: a host key accepted here is written with its name hashed, as ssh writes it. */
  readonly hashKnownHosts?: boolean;
}

/** The target host and the jump hosts in front of it, first hop first. */
export interface SshRoute {
  readonly jumps: readonly SshHop[];
  readonly target: SshHop;
}

const MAX_JUMPS = 10;
/** OpenSSH's default GlobalKnownHostsFile. */
const GLOBAL_KNOWN_HOSTS = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

/**
 * Resolves an environment's host through ssh_config as ssh would, with the
 * cloudbridge config's own settings winning. Jump hosts get their own
 * ssh_config settings (and may have ProxyJump themselves); unset users
 * default to the invoking user as in ssh, except the target's, which
 * defaults to root (the tunnel needs it).
 */
export function sshRouteFor(env: EnvironmentConfig, user: InvokingUser): SshRoute {
  // ssh_config files and what they Include are read with the user's rights
  const files = asUser(user, () => readSshConfigFiles(env.sshConfigFiles, user.home));
  const ctx = { home: user.home, localUser: user.name, uid: user.uid, exec: matchExec(user), localAddresses: localAddresses(), resolves: nameResolves(user) };
  const defaultKnownHosts = path.join(user.home, '.ssh/known_hosts');

  /**
   * A chain as ssh -J walks it (ssh.c): the last jump host is reached
   * through the rest as its own -J, which overrides whatever ProxyJump or
   * ProxyCommand its config has; only the first is reached by its own.
   */
  const chain = (specs: readonly JumpSpec[], depth: number): SshHop[] =>
    specs.length === 0 ? [] : hop(specs[specs.length - 1]!.host, specs[specs.length - 1]!, depth + 1, false, specs.slice(0, -1));

  const hop = (
    name: string,
    given: { user?: string | undefined; port?: number | undefined },
    depth: number,
    isTarget: boolean,
    /** -J for this hop: the jumps before it in a chain (none: its own config says). */
    through?: readonly JumpSpec[],
  ): SshHop[] => {
    if (depth > MAX_JUMPS) throw new Error(`ProxyJump chain for ${env.host} is longer than ${MAX_JUMPS} hops (a loop?)`);
    const found = resolveSshHost(files, name, ctx, (isTarget && env.explicit.user ? env.user : undefined) ?? given.user, (through?.length ?? 0) > 0);
    const o = through?.length ? { ...found, proxyJump: undefined, proxyCommand: undefined } : found;
    const jumps = through?.length ? chain(through, depth) : o.proxyJump ? chain(parseProxyJump(o.proxyJump), depth) : [];
    const userGiven = (isTarget && env.explicit.user) || given.user !== undefined;
    const portGiven = (isTarget && env.explicit.port) || given.port !== undefined;
    const me: SshHop = {
      name,
      host: o.hostName ?? name.toLowerCase(),
      port: (isTarget && env.explicit.port ? env.port : undefined) ?? given.port ?? o.port ?? 22,
      user: (isTarget && env.explicit.user ? env.user : undefined) ?? given.user ?? o.user ?? (isTarget ? env.user : user.name),
      identityFiles: isTarget && env.identityFiles.length > 0 ? env.identityFiles : o.identityFiles,
      certificateFiles: o.certificateFiles,
      proxyCommand: o.proxyCommand,
      unsupported: o.unsupported,
      identitiesOnly: o.identitiesOnly ?? false,
      ...(o.identityAgent !== undefined ? { identityAgent: o.identityAgent } : {}),
      algorithms: isTarget && env.ciphers.length > 0 ? { ...o.algorithms, Ciphers: undefined } : o.algorithms,
      ...(o.connectTimeout !== undefined ? { connectTimeout: o.connectTimeout } : {}),
      ...(o.hashKnownHosts ? { hashKnownHosts: true } : {}),
      fromSshConfig: { user: !userGiven && o.user !== undefined, port: !portGiven && o.port !== undefined },
      knownHostsFile:
        (isTarget && env.explicit.knownHostsFile ? env.knownHostsFile : undefined) ??
        o.userKnownHostsFile ??
        (isTarget ? env.knownHostsFile : defaultKnownHosts),
      // the user's other files (a UserKnownHostsFile line of several), then the global ones: read, never written
      globalKnownHostsFiles: [
        ...(isTarget && env.explicit.knownHostsFile ? [] : (o.moreUserKnownHostsFiles ?? [])),
        ...(o.globalKnownHostsFiles ?? GLOBAL_KNOWN_HOSTS),
      ],
      strictHostKeyChecking:
        (isTarget && env.explicit.strictHostKeyChecking ? env.strictHostKeyChecking : undefined) ?? o.strictHostKeyChecking ?? env.strictHostKeyChecking,
      // cloudbridge's deadAfter, when set, wins for the target, as its other settings do
      keepalive:
        o.serverAliveInterval && !(isTarget && env.explicit.deadAfter)
          ? { intervalSeconds: o.serverAliveInterval, countMax: o.serverAliveCountMax ?? 3 }
          : undefined,
    };
    return [...jumps, me];
  };
  const all = hop(env.host, {}, 0, true);
  return { jumps: all.slice(0, -1), target: all[all.length - 1]! };
}

/** One line per hop that has ssh_config options cloudbridge does not do; empty when none. */
export function unsupportedLines(r: SshRoute): string[] {
  return [...r.jumps, r.target]
    .filter((h) => h.unsupported.length > 0)
    .map((h) => `ssh_config for ${h.name}: not done by cloudbridge: ${h.unsupported.join('; ')}`);
}

/** USER@HOST:PORT, an IPv6 host in brackets (as ssh's own messages write it). */
export function userAtHost(h: { readonly user: string; readonly host: string; readonly port: number }): string {
  return `${h.user}@${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`;
}

export function describeRoute(r: SshRoute): string {
  const t = r.target;
  const via = r.jumps.length ? ` via ${r.jumps.map(userAtHost).join(', ')}` : '';
  const first = r.jumps[0] ?? t;
  return `${userAtHost(t)}${via}${first.proxyCommand ? ` through ProxyCommand ${first.proxyCommand}` : ''}`;
}
