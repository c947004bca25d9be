import { spawnSync } from 'node:child_process';
import type { EnvironmentConfig } from '../config/types.js';
import { userAtHost, type SshHop, type SshRoute } from '../ssh/route.js';
import { userCommandOptions } from '../ssh/userCommand.js';
import type { InvokingUser } from '../util/user.js';

/** One thing doctor checked. */
export interface Finding {
  readonly ok: boolean;
  readonly what: string;
  /** What to change, when not ok. */
  readonly fix?: string;
}

/**
 * `doctor`'s referee: what OpenSSH's own client makes of each hop (`ssh
 * -G`, run as the user, with the same ssh_config files) beside what
 * cloudbridge resolved, field by field, for the fields connect uses. A
 * difference is a finding; no ssh client is no finding.
 */
export function sshGFindings(env: EnvironmentConfig, route: SshRoute, user: InvokingUser): Finding[] {
  const findings: Finding[] = [];
  const custom = env.sshConfigFiles.length === 1 ? ['-F', env.sshConfigFiles[0]!] : [];
  for (const hop of [...route.jumps, route.target]) {
    // what came from ssh_config, ssh -G finds itself (forced, a wrong reading of ours would hide); the rest is given it
    const given = [...(hop.fromSshConfig?.port ? [] : ['-p', String(hop.port)]), ...(hop.fromSshConfig?.user ? [] : ['-l', hop.user])];
    const g = sshG([...custom, ...given, hop.name], user);
    if (!(g instanceof Map)) {
      if (g !== undefined) findings.push({ ok: false, what: `ssh -G ${hop.name}: ${g}`, fix: 'ssh itself cannot read this configuration' });
      continue;
    }
    const differ = compare(hop, g);
    findings.push(
      differ.length === 0
        ? { ok: true, what: `ssh -G ${hop.name} agrees: ${userAtHost(hop)}${hop.proxyCommand ? ' through its ProxyCommand' : ''}` }
        : {
            ok: false,
            what: `ssh -G ${hop.name} differs: ${differ.join('; ')}`,
            fix: "a bug in cloudbridge's ssh_config reading: please report it with the lines involved",
          },
    );
  }
  return findings;
}

/**
 * What `ssh -G ARGS` prints, run as the user: each keyword's values, in order;
 * ssh's one-line complaint when it refuses; undefined without an ssh client.
 */
export function sshG(args: readonly string[], user: InvokingUser): Map<string, string[]> | string | undefined {
  const r = spawnSync('ssh', ['-G', ...args], { ...userCommandOptions(user, undefined), encoding: 'utf8', timeout: 10_000 });
  if (r.error) return undefined;
  if (r.status !== 0) return r.stderr.trim().split('\n')[0] ?? `exit ${r.status}`;
  const g = new Map<string, string[]>();
  for (const line of r.stdout.split('\n')) {
    const [k, ...v] = line.split(' ');
    if (k) g.set(k, [...(g.get(k) ?? []), v.join(' ')]);
  }
  return g;
}

/** Field by field: ssh's value, then cloudbridge's, where they differ. */
function compare(hop: SshHop, g: Map<string, string[]>): string[] {
  const ours: Record<string, string> = {
    hostname: hop.host,
    port: String(hop.port),
    user: hop.user,
    proxycommand: hop.proxyCommand ?? '',
    identitiesonly: hop.identitiesOnly ? 'yes' : 'no',
    certificatefile: hop.certificateFiles.join(', '),
    connecttimeout: hop.connectTimeout === undefined ? 'none' : String(hop.connectTimeout),
  };
  // IdentityAgent: ssh -G prints a path expanded, but SSH_AUTH_SOCK and $VAR as written (it reads the environment later)
  const agent = g.get('identityagent')?.[0];
  if (agent === undefined || agent === 'none' || agent.startsWith('/')) ours['identityagent'] = hop.identityAgent === null ? 'none' : (hop.identityAgent ?? '');
  const theirs: Record<string, string> = {
    hostname: g.get('hostname')?.[0] ?? '',
    port: g.get('port')?.[0] ?? '',
    user: g.get('user')?.[0] ?? '',
    proxycommand: g.get('proxycommand')?.[0] ?? '',
    identitiesonly: g.get('identitiesonly')?.[0] ?? '',
    certificatefile: (g.get('certificatefile') ?? []).join(', '),
    connecttimeout: g.get('connecttimeout')?.[0] ?? 'none',
    identityagent: agent ?? '',
  };
  return Object.keys(ours)
    .filter((k) => ours[k] !== theirs[k])
    .map((k) => `${k} ssh "${theirs[k]}", cloudbridge "${ours[k]}"`);
}
