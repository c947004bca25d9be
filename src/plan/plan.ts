import type { EnvironmentConfig, TunnelConfig } from '../config/types.js';
import { MAX_UPSTREAM_MTU } from '../config/validate.js';
import { ruleTag, type ContextOwner, type Step } from './steps.js';
import { shellJoin, shellQuote } from '../util/quote.js';

/**
 * Local side: address, link, routes on our tun device; on macOS also one
 * /etc/resolver file per split-DNS domain.
 */
export function planLocal(
  env: EnvironmentConfig,
  dev: string,
  platform: 'linux' | 'darwin' = 'linux',
  /** When set: a docker context named after the environment, in this user's docker config. */
  context?: { readonly host: string; readonly owner: ContextOwner },
): Step[] {
  const t = env.tunnel;
  /** One family's point-to-point pair on the device, when the tunnel has it. */
  const pair = (local: string | undefined, peer: string | undefined): Step[] =>
    local && peer
      ? [
          {
            title: `address ${local} peer ${peer} on ${dev}`,
            apply: { side: 'local', op: 'addr-add', dev, local, peer },
            undo: { side: 'local', op: 'addr-del', dev, local, peer },
          },
        ]
      : [];
  const steps: Step[] = t
    ? [
        ...pair(t.local, t.remote),
        { title: `link ${dev} mtu ${t.mtu} up`, apply: { side: 'local', op: 'link-up', dev, mtu: t.mtu, ...ipv6Of(t) }, undo: null },
        // IPv6's peer route is made when the address is added to a device that is up (added before, Linux routed the local address instead)
        ...pair(t.local6, t.remote6),
      ]
    : [];
  for (const cidr of [...env.routes, ...env.routes6]) {
    steps.push({
      title: `route ${cidr} via ${dev}`,
      apply: { side: 'local', op: 'route-add', dev, cidr },
      undo: { side: 'local', op: 'route-del', dev, cidr },
    });
  }
  const masquerade = masqueradeWanted(env, platform);
  // Local containers (any bridge, present or future) leave with the tunnel address, so replies find their way back.
  if (masquerade.v4) steps.push(masqueradeStep(env, dev, false));
  // The same on IPv6 networks, with the IPv6 tunnel address.
  if (masquerade.v6) steps.push(masqueradeStep(env, dev, true));
  if (context) {
    steps.push({
      title: `docker context ${env.name} -> ${context.host}`,
      apply: { side: 'local', op: 'context-create', name: env.name, host: context.host, owner: context.owner },
      undo: { side: 'local', op: 'context-remove', name: env.name, owner: context.owner },
    });
  }
  if (platform === 'darwin') {
    for (const domain of env.dns.domains) {
      steps.push({
        title: `resolver for ${domain} via ${env.dns.servers.join(', ')}`,
        apply: { side: 'local', op: 'resolver-add', domain, servers: env.dns.servers },
        undo: { side: 'local', op: 'resolver-del', domain },
      });
    }
  }
  return steps;
}

/** Whether planLocal masquerades local containers into the tunnel, per family: only then is iptables asked anything at connect. */
export function masqueradeWanted(env: EnvironmentConfig, platform: 'linux' | 'darwin'): { v4: boolean; v6: boolean } {
  const t = env.tunnel;
  const on = platform === 'linux' && t !== undefined && env.localMasquerade;
  return { v4: on && (env.routes.length > 0 || env.fullTunnel), v6: on && t.local6 !== undefined && (env.routes6.length > 0 || env.fullTunnel6) };
}

/** MASQUERADE for what leaves through our device, iptables' or (ip6) ip6tables', tagged as this environment's. */
function masqueradeStep(env: EnvironmentConfig, dev: string, ip6: boolean): Step {
  const rule = ['POSTROUTING', '-o', dev, '-m', 'comment', '--comment', ruleTag(env.name), '-j', 'MASQUERADE'];
  const family = ip6 ? { ip6: true } : {};
  return {
    title: `masquerade ${ip6 ? 'IPv6 that leaves' : 'what leaves'} through ${dev} (local containers)`,
    apply: { side: 'local', op: 'iptables', table: 'nat', argv: ['-A', ...rule], ...family },
    undo: { side: 'local', op: 'iptables', table: 'nat', argv: ['-D', ...rule], ...family },
  };
}

/** link-up's flag that keeps IPv6 on the device. */
const ipv6Of = (t: TunnelConfig): { ipv6?: true } => (t.local6 ? { ipv6: true } : {});

/** What the remote host looked like before we touched it. */
export interface RemoteFacts {
  /** Contents of /proc/sys/net/ipv4/ip_forward. */
  readonly ipForward: string;
  /** Contents of /proc/sys/net/ipv6/conf/all/forwarding (read when the tunnel carries IPv6). */
  readonly ip6Forward?: string;
}

/**
 * A remote rule's removal that is done when the rule is gone already (the
 * host rebooted, someone removed it): `-C` first, then `-D`. A journal keeps
 * every undo that failed (apply.ts), so an undo must fail only when it could
 * not do its work, never because the work was done. Only `-C`'s 1 means "no
 * such rule" (iptables(8): 2 is a bad command line, and a broken table says
 * 3, a missing command 127): anything else fails the undo with its first
 * line, so a rule that may still be there is never forgotten.
 */
function deleteRule(cmd: string, table: string, chain: string, rule: readonly string[]): string[] {
  const check = shellJoin([cmd, '-w', '-t', table, '-C', chain, ...rule]);
  const del = shellJoin([cmd, '-w', '-t', table, '-D', chain, ...rule]);
  return ['sh', '-c', `e=$(${check} 2>&1 >/dev/null); c=$?; [ $c = 1 ] && exit 0; [ $c = 0 ] || { echo "$e" >&2; exit $c; }; exec ${del}`];
}

/** Remote side: address and link on the remote tun device, then forwarding and NAT when asked for. */
export function planRemote(
  env: EnvironmentConfig,
  tunnel: TunnelConfig,
  dev: string,
  facts: RemoteFacts,
  /** mtu: auto: this end's MTU the probe is expected to find; past the ceiling, its MSS goes in with the device (peerRoutes). */
  expectedUp = 0,
): Step[] {
  const { local, remote, mtu, local6, remote6 } = tunnel;
  const steps: Step[] = [
    ...(local && remote
      ? [
          {
            title: `remote address ${remote} peer ${local} on ${dev}`,
            apply: { side: 'remote', argv: ['ip', 'addr', 'add', remote, 'peer', local, 'dev', dev] },
            undo: null,
          } satisfies Step,
        ]
      : []),
    {
      title: `remote link ${dev} mtu ${mtu} up`,
      apply: { side: 'remote', argv: ['ip', 'link', 'set', 'dev', dev, 'mtu', String(mtu), 'up'] },
      undo: null,
    },
    ...(local6 && remote6
      ? [
          {
            title: `remote address ${remote6} peer ${local6} on ${dev}`,
            // nodad: a point-to-point pair has nobody to ask, and DAD would hold the address back a second
            apply: { side: 'remote', argv: ['ip', '-6', 'addr', 'add', remote6, 'peer', local6, 'dev', dev, 'nodad'] },
            undo: null,
          } satisfies Step,
        ]
      : []),
    ...(expectedUp > mtu ? peerRoutes(tunnel, dev, expectedUp) : []),
  ];
  if (!env.nat) return steps;
  if (local && facts.ipForward.trim() !== '1') {
    steps.push({
      title: 'remote IPv4 forwarding on',
      apply: { side: 'remote', argv: ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'] },
      undo: { side: 'remote', argv: ['sysctl', '-q', '-w', `net.ipv4.ip_forward=${facts.ipForward.trim() || '0'}`] },
    });
  }
  const tag = ['-m', 'comment', '--comment', ruleTag(env.name)];
  /** Masquerade of our tunnel address, and forwarding both ways on the device: the same three rules for each family. */
  const natRules = (cmd: 'iptables' | 'ip6tables', source: string, family: string): void => {
    const rules: [string, string, string[]][] = [
      [`remote ${family}masquerade for ${source.split('/')[0]}`, 'nat', ['POSTROUTING', '-s', source, ...tag, '-j', 'MASQUERADE']],
      [`remote ${family}forward from ${dev}`, 'filter', ['FORWARD', '-i', dev, ...tag, '-j', 'ACCEPT']],
      [
        `remote ${family}forward replies to ${dev}`,
        'filter',
        ['FORWARD', '-o', dev, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'],
      ],
    ];
    for (const [title, table, spec] of rules) {
      const [chain, ...rest] = spec;
      steps.push({
        title,
        // Insert, not append: a docker host's FORWARD chain ends in DROP.
        apply: { side: 'remote', argv: [cmd, '-w', '-t', table, '-I', chain!, ...rest] },
        undo: { side: 'remote', argv: deleteRule(cmd, table, chain!, rest) },
      });
    }
  };
  if (local) natRules('iptables', `${local}/32`, '');
  if (!local6) return steps;
  // NAT66, as the IPv4 rules: the VPC answers the remote host, which needs no route back to us
  const was6 = facts.ip6Forward?.trim() ?? '0';
  if (was6 !== '1') {
    steps.push({
      title: 'remote IPv6 forwarding on',
      apply: { side: 'remote', argv: ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1'] },
      undo: { side: 'remote', argv: ['sysctl', '-q', '-w', `net.ipv6.conf.all.forwarding=${was6 || '0'}`] },
    });
  }
  natRules('ip6tables', `${local6}/128`, 'IPv6 ');
  return steps;
}

/**
 * mtu: auto, what the probe found (daemon/mtu.ts), in its two halves: first
 * the remote device takes the round-trip size `down` (before the probe the
 * other way, whose replies come back in fragments of it); then this end the
 * larger `up` that crosses towards the remote host, and the remote route
 * back advertises the MSS of `up`. Nothing to undo: an MTU and a device
 * route go with their device.
 */
export function planRemoteMtu(remoteDev: string, down: number): Step[] {
  return [
    {
      title: `remote link ${remoteDev} mtu ${down} (probed)`,
      apply: { side: 'remote', argv: ['ip', 'link', 'set', 'dev', remoteDev, 'mtu', String(down)] },
      undo: null,
    },
  ];
}

/**
 * The largest packet tried towards the remote host (daemon/mtu.ts): what
 * sshd's channel takes, its maximum packet less the frame's 4 bytes.
 */
export function upCeiling(platform: 'linux' | 'darwin', maxPacket: number, down: number): number {
  // macOS utun devices are not known to take MTUs past 16 KiB: one size both ways there
  return platform === 'linux' ? Math.min(MAX_UPSTREAM_MTU, maxPacket - 4) : down;
}

/**
 * What the probe towards the remote host finds unless something in the path
 * is odd: the ceiling, when it is past the remote device's. Its MSS is
 * advertised from the start (planRemote), and corrected after the probe
 * when it found less; 0: nothing to advertise. `maxPacket` Infinity: the
 * channel not known yet (--dry-run), the most that is tried.
 */
export function expectedUp(tunnel: TunnelConfig, platform: 'linux' | 'darwin', maxPacket: number): number {
  const up = upCeiling(platform, maxPacket, tunnel.mtu);
  return tunnel.mtuAuto && up > tunnel.mtu ? up : 0;
}

/**
 * After the probe: this end's device at `up`. The remote routes back to us
 * advertise `up`'s MSS when it is larger than the remote MTU (mtu.ts); they
 * went in with the device at the size the probe was expected to find
 * (`advertised`, planRemote), so a remote command only when it found
 * otherwise: ~15 ms of connect on a local link.
 */
export function planLocalMtu(tunnel: TunnelConfig, dev: string, remoteDev: string, up: number, down: number, advertised = 0): Step[] {
  const steps: Step[] = [{ title: `link ${dev} mtu ${up} (probed)`, apply: { side: 'local', op: 'link-up', dev, mtu: up, ...ipv6Of(tunnel) }, undo: null }];
  const mss = up > down ? up : 0;
  return mss === advertised ? steps : [...steps, ...peerRoutes(tunnel, remoteDev, mss)];
}

/** The remote routes to our tunnel addresses, advertising the MSS of this end's MTU `up` (none: 0, the kernel's own route). */
function peerRoutes(tunnel: TunnelConfig, remoteDev: string, up: number): Step[] {
  const { local, remote, local6 } = tunnel;
  const advmss = (header: number): string[] => (up > 0 ? ['advmss', String(up - header)] : []);
  const says = (header: number): string => (up > 0 ? `advertises MSS ${up - header}` : 'advertises no MSS of its own');
  const steps: Step[] = [];
  if (local && remote) {
    steps.push({
      title: `remote route to ${local} ${says(40)}`,
      apply: { side: 'remote', argv: ['ip', 'route', 'replace', local, 'dev', remoteDev, 'proto', 'kernel', 'scope', 'link', 'src', remote, ...advmss(40)] },
      undo: null,
    });
  }
  if (local6) {
    steps.push({
      title: `remote route to ${local6} ${says(60)}`,
      apply: { side: 'remote', argv: ['ip', '-6', 'route', 'replace', local6, 'dev', remoteDev, 'proto', 'kernel', 'metric', '256', ...advmss(60)] },
      undo: null,
    });
  }
  return steps;
}

/**
 * A lost session's sshd may outlive it on the remote host (its client went
 * away without a word: a network change, a blocked path) and keep its tun
 * device with our addresses, whose routes then win over the new device's
 * until that sshd gives up. The new session takes them off it, if they are
 * still there; nothing to undo, the device goes with that sshd.
 */
export function planStaleDevice(tunnel: TunnelConfig, stale: string): Step {
  const script = `ip -o addr show dev ${shellQuote(stale)} 2>/dev/null | grep -q ${shellQuote(` ${tunnel.remote ?? tunnel.remote6!} peer `)} && ip addr flush dev ${shellQuote(stale)} || true`;
  return { title: `remote ${stale}, the lost session's device: our addresses taken off it`, apply: { side: 'remote', argv: ['sh', '-c', script] }, undo: null };
}

/**
 * A shell probe printing ok, missing, or "broken: " and the first line the
 * command printed: can iptables' (or ip6tables') nat table be used here?
 */
export const iptablesState = (cmd: 'iptables' | 'ip6tables'): string =>
  `if command -v ${cmd} >/dev/null; then e=$(${cmd} -w -t nat -n -L POSTROUTING 2>&1 >/dev/null) && echo ok || echo "broken: $(echo "$e" | head -n 1)"; else echo missing; fi`;
export const IPTABLES_STATE = iptablesState('iptables');

/**
 * The lowest tun unit whose device does not exist yet, given the host's
 * interface names (what the server says: one pass over a bounded set, however
 * long the list).
 */
export function lowestFreeTun(names: readonly string[], limit = 0x7ffffffe): number {
  const taken = new Set<number>();
  for (const n of names.slice(0, MAX_INTERFACES)) {
    const m = /^tun(\d{1,10})$/.exec(n);
    if (m) taken.add(Number(m[1]));
  }
  let unit = 0;
  while (taken.has(unit) && unit < limit) unit++;
  return unit;
}

/** More interfaces than any host has; a longer list from the server is cut here. */
const MAX_INTERFACES = 65_536;
