import { spawnSync } from 'node:child_process';
import type { EnvironmentConfig } from '../config/types.js';
import { ALGORITHM_LINES, assemble, type AlgorithmLines } from '../ssh/algorithms.js';
import { userAtHost, type SshHop, type SshRoute } from '../ssh/route.js';
import { expandPath, parseProxyJump, type ExpandContext } from '../ssh/sshConfig.js';
import { userCommandOptions } from '../ssh/userCommand.js';
import type { InvokingUser } from '../util/user.js';

/** One thing doctor checked. */
export interface Finding {
  readonly ok: boolean;
  readonly what: string;
  /** What to change, when not ok. */
  readonly fix?: string;
}

/** This ssh's own lists: what it prints for a host no config touches (its defaults), and what it speaks (ssh -Q). */
interface SshLists {
  readonly defaults: Map<string, string[]>;
  readonly speaks: Partial<Record<keyof AlgorithmLines, string[]>>;
}

/**
 * `doctor`'s referee: what OpenSSH's own client makes of each hop (`ssh
 * -G`, run as the user, with the same ssh_config files; a jump host as ssh
 * -J reaches it, `-J` the hops before it) beside what cloudbridge resolved,
 * field by field, for every field connect uses. A difference is a finding;
 * no ssh client is no finding. Fields the cloudbridge config sets for the
 * target itself (identityFile, knownHostsFile, strictHostKeyChecking,
 * deadAfter, ciphers) win by design and are not compared there.
 */
export function sshGFindings(env: EnvironmentConfig, route: SshRoute, user: InvokingUser, readings = hopReadings(env, route, user)): Finding[] {
  const lists = sshLists(user);
  return readings.flatMap(({ hop, isTarget, g }): Finding[] => {
    if (!(g instanceof Map)) return g === undefined ? [] : [{ ok: false, what: `ssh -G ${hop.name}: ${g}`, fix: 'ssh itself cannot read this configuration' }];
    const differ = compare(hop, g, { env, isTarget, route, user, lists });
    return [
      differ.length === 0
        ? { ok: true, what: `ssh -G ${hop.name} agrees: ${userAtHost(hop)}${hop.proxyCommand ? ' through its ProxyCommand' : ''}` }
        : {
            ok: false,
            what: `ssh -G ${hop.name} differs: ${differ.join('; ')}`,
            fix: "a bug in cloudbridge's ssh_config reading: please report it with the lines involved",
          },
    ];
  });
}

/**
 * Each hop as ssh -G reads it, first hop first: a jump host as ssh -J
 * reaches it (the hops before it as -J), the target by its own config.
 */
export function hopReadings(env: EnvironmentConfig, route: SshRoute, user: InvokingUser): { hop: SshHop; isTarget: boolean; g: ReturnType<typeof sshG> }[] {
  const custom = env.sshConfigFiles.length === 1 ? ['-F', env.sshConfigFiles[0]!] : [];
  const hops = [...route.jumps, route.target];
  return hops.map((hop, k) => {
    const isTarget = k === hops.length - 1;
    // what came from ssh_config, ssh -G finds itself (forced, a wrong reading of ours would hide); the rest is given it
    const given = [...(hop.fromSshConfig?.port ? [] : ['-p', String(hop.port)]), ...(hop.fromSshConfig?.user ? [] : ['-l', hop.user])];
    const through =
      !isTarget && k > 0
        ? [
            '-J',
            route.jumps
              .slice(0, k)
              .map((j) => j.name)
              .join(','),
          ]
        : [];
    return { hop, isTarget, g: sshG([...custom, ...through, ...given, hop.name], user) };
  });
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

/** Per user: one ssh, one set of lists (the corpus asks for them host after host). */
const listsOf = new Map<number, SshLists | undefined>();

function sshLists(user: InvokingUser): SshLists | undefined {
  if (!listsOf.has(user.uid)) listsOf.set(user.uid, readSshLists(user));
  return listsOf.get(user.uid);
}

function readSshLists(user: InvokingUser): SshLists | undefined {
  const defaults = sshG(['-F', 'none', 'referee.invalid'], user);
  if (!(defaults instanceof Map)) return undefined;
  const speaks: SshLists['speaks'] = {};
  for (const what of ALGORITHM_LINES) {
    const r = spawnSync('ssh', ['-Q', what], { ...userCommandOptions(user, undefined), encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0) speaks[what] = r.stdout.split('\n').filter(Boolean);
  }
  return { defaults, speaks };
}

const STRICT: Record<string, string> = { true: 'yes', yes: 'yes', ask: 'yes', false: 'no', no: 'no', 'accept-new': 'accept-new' };

/** Field by field: ssh's value, then cloudbridge's, where they differ. */
function compare(
  hop: SshHop,
  g: Map<string, string[]>,
  c: { env: EnvironmentConfig; isTarget: boolean; route: SshRoute; user: InvokingUser; lists: SshLists | undefined },
): string[] {
  const one = (k: string): string => g.get(k)?.[0] ?? '';
  // ssh -G prints IdentityFile and CertificateFile as written: expanded here as ssh expands them when it loads them
  const ctx: ExpandContext = { home: c.user.home, localUser: c.user.name, uid: c.user.uid };
  const values = { host: one('hostname'), originalHost: hop.name, user: one('user'), port: Number(one('port')), keyAlias: one('hostkeyalias') || hop.name };
  const files = (k: string, what: string): string[] => (g.get(k) ?? []).filter((f) => f !== 'none').map((f) => expandPath(f, what, values, ctx));
  const sameAsDefault = (k: string): boolean => c.lists !== undefined && (g.get(k) ?? []).join('\n') === (c.lists.defaults.get(k) ?? []).join('\n');
  const fields: [string, string, string][] = [
    ['hostname', one('hostname'), hop.host],
    ['port', one('port'), String(hop.port)],
    ['user', one('user'), hop.user],
    ['proxycommand', one('proxycommand'), hop.proxyCommand ?? ''],
    ['identitiesonly', one('identitiesonly'), hop.identitiesOnly ? 'yes' : 'no'],
    ['certificatefile', files('certificatefile', 'CertificateFile').join(', '), hop.certificateFiles.join(', ')],
    ['connecttimeout', one('connecttimeout') || 'none', hop.connectTimeout === undefined ? 'none' : String(hop.connectTimeout)],
  ];
  const { explicit } = c.env;
  const ownTarget = (set: boolean): boolean => c.isTarget && set;
  if (!ownTarget(c.env.identityFiles.length > 0)) {
    // none named: each side's defaults (ssh's list of key types, cloudbridge's of those it reads)
    const theirs = sameAsDefault('identityfile') ? "ssh's defaults" : files('identityfile', 'IdentityFile').join(', ');
    fields.push(['identityfile', theirs, hop.identityFiles.length ? hop.identityFiles.join(', ') : "ssh's defaults"]);
  }
  if (!ownTarget(explicit.knownHostsFile)) {
    // the files read, the first written to; ssh's default second file (known_hosts2, a leftover of SSH protocol 1 days) is not read here
    const users = sameAsDefault('userknownhostsfile')
      ? (g.get('userknownhostsfile')?.[0] ?? '').split(' ').slice(0, 1)
      : (g.get('userknownhostsfile')?.[0] ?? '').split(' ');
    const theirs = [...users, ...(g.get('globalknownhostsfile')?.[0] ?? '').split(' ')].filter(Boolean);
    fields.push(['knownhostsfiles', theirs.join(' '), [hop.knownHostsFile, ...hop.globalKnownHostsFiles].join(' ')]);
  }
  // the cloudbridge config's strictHostKeyChecking is the jump hosts' default too
  if (!explicit.strictHostKeyChecking) {
    // unset, ssh asks on a terminal; cloudbridge has none to ask on and refuses, as ssh does without one
    fields.push(['stricthostkeychecking', STRICT[one('stricthostkeychecking')] ?? one('stricthostkeychecking'), hop.strictHostKeyChecking]);
  }
  if (!ownTarget(explicit.deadAfter)) {
    const interval = one('serveraliveinterval');
    fields.push([
      'serveralive',
      interval === '0' ? 'off' : `${interval} s x ${one('serveralivecountmax')}`,
      hop.keepalive ? `${hop.keepalive.intervalSeconds} s x ${hop.keepalive.countMax}` : 'off',
    ]);
  }
  fields.push(['hashknownhosts', one('hashknownhosts') || 'no', hop.hashKnownHosts ? 'yes' : 'no']);
  if (c.isTarget) {
    // the chain as the target's own ProxyJump names it: the last hops of ours (a jump host's own ProxyJump may come before them)
    const named = parseProxyJump(one('proxyjump') || 'none').map((h) => h.host);
    fields.push([
      'proxyjump',
      named.join(','),
      c.route.jumps
        .slice(Math.max(0, c.route.jumps.length - named.length))
        .map((j) => j.name)
        .join(','),
    ]);
  }
  for (const what of ALGORITHM_LINES) {
    const speaks = c.lists?.speaks[what];
    const defaults = c.lists?.defaults.get(what.toLowerCase())?.[0]?.split(',');
    if (!speaks || !defaults || (what === 'Ciphers' && ownTarget(c.env.ciphers.length > 0))) continue;
    // our reading of the line, assembled against this ssh's own lists, is what ssh prints
    const line = hop.algorithms[what];
    fields.push([what.toLowerCase(), one(what.toLowerCase()), line === undefined ? defaults.join(',') : assembleOr(what, line, defaults, speaks)]);
  }
  // IdentityAgent: ssh -G prints a path expanded, but SSH_AUTH_SOCK and $VAR as written (it reads the environment later)
  const agent = g.get('identityagent')?.[0];
  if (agent === undefined || agent === 'none' || agent.startsWith('/')) {
    fields.push(['identityagent', agent ?? '', hop.identityAgent === null ? 'none' : (hop.identityAgent ?? '')]);
  }
  return fields.filter(([, theirs, ours]) => theirs !== ours).map(([k, theirs, ours]) => `${k} ssh "${theirs}", cloudbridge "${ours}"`);
}

function assembleOr(what: keyof AlgorithmLines, line: string, defaults: readonly string[], speaks: readonly string[]): string {
  try {
    return assemble(what, line, defaults, speaks).list.join(',');
  } catch (err) {
    return (err as Error).message;
  }
}
