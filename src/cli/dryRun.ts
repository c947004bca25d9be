import type { EnvironmentConfig } from '../config/types.js';
import { dockerSocket, rootRunDirOf, ROOT_RUN_DIR, runDir } from '../util/paths.js';
import { isIP } from 'node:net';
import { currentPlatform, localCommand, localNet, requestedDevice, type PlatformName } from '../platform/index.js';
import { shellJoin } from '../util/quote.js';
import { DNS_LISTEN, planResolvConf, planResolvedAll, planServiceDns } from '../plan/dns.js';
import { remoteAddresses } from '../config/tunnelPair.js';
import { expectedUp, planLocal, planLocalMtu, planRemote, planRemoteMtu } from '../plan/plan.js';
import { resolveAll } from '../util/resolve.js';
import { excludeStep, pinStep, planHalves, routedThrough, type OutsidePath } from '../plan/fullTunnel.js';
import type { ContextOwner, Step } from '../plan/steps.js';
import { dockerHostFor } from '../docker/endpoint.js';
import { MAX_UPSTREAM_MTU } from '../config/validate.js';
import { describeRoute, unsupportedLines, userAtHost, type SshHop, type SshRoute } from '../ssh/route.js';

export interface PlannedStep {
  readonly side: 'local' | 'remote';
  readonly title: string;
  readonly apply: readonly string[];
  readonly undo: readonly string[] | null;
}

/** One SSH hop as ssh_config resolved it, first hop first: what `connect` will dial and trust. */
export interface PlannedHop {
  readonly role: 'jump' | 'target';
  readonly user: string;
  readonly host: string;
  readonly port: number;
  /** The ssh_config name it was asked for, when it differs from host. */
  readonly alias: string | null;
  readonly identityFiles: readonly string[];
  readonly identitiesOnly: boolean;
  /** ssh_config's CertificateFile (KEY-cert.pub beside each identity is offered too, when it exists). */
  readonly certificateFiles: readonly string[];
  /** ProxyCommand, tokens unexpanded, when one carries the connection. */
  readonly proxyCommand: string | null;
  readonly knownHostsFiles: readonly string[];
  readonly strictHostKeyChecking: string;
}

export interface Plan {
  readonly env: string;
  readonly platform: PlatformName;
  readonly ssh: string;
  /** The hops (undefined when the plan was made without reading ssh_config). */
  readonly hops?: readonly PlannedHop[];
  readonly localDevice: string;
  readonly remoteDevice: string;
  readonly steps: readonly PlannedStep[];
  readonly docker: string | null;
  readonly notes: readonly string[];
}

/** Where pinned addresses go now, by this host's own routes (`ip route get` without ours), when the plan is for this host. */
export type PinPaths = ReadonlyMap<string, OutsidePath | 'local' | undefined>;

/**
 * The real path of each address a pin would hold, asked of this host's
 * routes now (no root needed to ask): the first hop's address, or each
 * address its name resolves to.
 */
export async function pinPaths(env: EnvironmentConfig, route: SshRoute, platform: PlatformName): Promise<PinPaths> {
  const hop = route.jumps[0] ?? route.target;
  if (platform !== currentPlatform() || hop.proxyCommand || !(env.fullTunnel || env.fullTunnel6 || env.routes.length || env.routes6.length)) return new Map();
  const addrs = await resolveAll(hop.host);
  if (addrs.length === 0) return new Map();
  const net = await localNet(platform);
  try {
    const out = new Map<string, OutsidePath | 'local' | undefined>();
    for (const a of addrs) if (routedThrough(env, a)) out.set(a, await net.outsidePath(a, requestedDevice(platform, env.tunnel!) || 'utunN'));
    return out;
  } finally {
    net.close();
  }
}

/** Everything `connect` would do, as commands, without changing either host (`paths`: pins' real paths, from pinPaths). */
export function dryRunPlan(env: EnvironmentConfig, platform: PlatformName, owner?: ContextOwner, route?: SshRoute, paths: PinPaths = new Map()): Plan {
  const t = env.tunnel;
  const localDevice = t ? requestedDevice(platform, t) || 'utunN' : '';
  const dockerHost = dockerHostFor(env);
  const remoteDevice = t ? `tun${t.remoteUnit ?? 'N'}` : '';
  // mtu: auto on Linux: the largest size tried towards the remote host (sshd's channel is known at connect), whose MSS the remote route advertises from the start
  const up = t ? expectedUp(t, platform, Infinity) : 0;
  const notes: string[] = [];
  if (route) notes.push(...unsupportedLines(route));
  if (localDevice === 'utunN') notes.push('utunN: macOS numbers utun devices itself; the name is known once the device is open');
  if (t && t.remoteUnit === undefined) notes.push(`${remoteDevice}: the lowest unit free on the remote host, found at connect time`);
  if (t?.mtuAuto)
    notes.push(
      `mtu auto: both devices start at ${t.mtu}; connect probes the largest packet sshd carries each way: the remote device gets the round-trip size, ${
        platform === 'linux'
          ? `this end the larger one sshd takes towards the remote host (up to ${MAX_UPSTREAM_MTU}, whose MSS the remote route back advertises from the start: corrected if the probe finds less)`
          : 'this end the same (macOS caps a utun at the round-trip size)'
      }; the probed steps show the largest sizes tried`,
    );
  if (env.nat) notes.push('forwarding (IPv4, IPv6) is switched on, and back, only where it is off');
  if (platform === 'linux') notes.push('local steps are made through rtnetlink; the ip commands shown are their equivalents');
  const split = platform === 'linux' ? [...env.dns.domains, ...(env.dns.containers ? [`${env.name}.docker`] : [])] : [];
  const zones = platform === 'linux' && env.dns.all ? ['every name', ...split.filter((z) => z.endsWith('.docker'))] : split;
  if (zones.length > 0) {
    notes.push(
      `dns: a forwarder on ${DNS_LISTEN} answers ${zones.join(', ')} (asked of ${env.dns.servers.length ? env.dns.servers.join(', ') : "the remote host's resolvers"} over SSH) and passes the rest to the resolvers in /etc/resolv.conf, which points at it until disconnect (with systemd-resolved: resolvectl dns and domain on the tun device instead, reverted on undo)`,
    );
  }
  const pins = plannedPins(env, route, notes, paths);
  const full = env.fullTunnel || env.fullTunnel6 ? plannedFullTunnel(env, localDevice, platform, notes) : [];
  const command = (a: Step['apply']): string[] => (a.side === 'remote' ? [...a.argv] : localCommand(platform, a));
  const planned = (s: Step): PlannedStep => ({ side: s.apply.side, title: s.title, apply: command(s.apply), undo: s.undo ? command(s.undo) : null });
  // in the order connect makes them: pins and exclusions, local side, split DNS, the session's remote side, the probed MTUs, a full tunnel
  const steps: Step[] = [
    ...pins,
    ...env.exclude.map((c) => excludeStep(c, { via: 'GATEWAY', dev: 'DEV' })),
    ...planLocal(env, localDevice, platform, owner && dockerHost ? { host: dockerHost, owner } : undefined),
    ...(zones.length > 0 ? [planResolvConf(env.name, zones, [DNS_LISTEN], { content: '# the /etc/resolv.conf found at connect\n', symlink: undefined })] : []),
    ...(t ? planRemote(env, t, remoteDevice, { ipForward: '0' }, up) : []),
    ...(t?.mtuAuto ? [...planRemoteMtu(remoteDevice, t.mtu), ...planLocalMtu(t, localDevice, remoteDevice, up || t.mtu, t.mtu, up)] : []),
    ...full,
  ];
  let docker: string | null = null;
  if (env.docker.mode === 'socket') docker = `serve ${dockerSocket(env.name)} -> remote ${env.docker.remoteSocket} (direct-streamlocal)`;
  if (env.docker.mode === 'tcp') docker = `DOCKER_HOST=${env.docker.host} through the tunnel`;
  return forPlatform(platform, {
    env: env.name,
    platform,
    ssh: `${route ? describeRoute(route) : userAtHost(env)}, ${t ? `tun@openssh.com point-to-point to ${remoteDevice}` : 'no tunnel (tunnel: false): SSH forwarding only'}`,
    ...(route ? { hops: [...route.jumps.map((h) => plannedHop(h, 'jump')), plannedHop(route.target, 'target')] } : {}),
    localDevice,
    remoteDevice,
    steps: steps.map(planned),
    docker,
    notes,
  });
}

/** A plan for the other platform names its run folder (`/var/run/cloudbridge` on macOS), unless CLOUDBRIDGE_RUN_DIR moved it. */
function forPlatform(platform: PlatformName, plan: Plan): Plan {
  if (platform === currentPlatform() || runDir() !== ROOT_RUN_DIR) return plan;
  return JSON.parse(JSON.stringify(plan).replaceAll(`${ROOT_RUN_DIR}/`, `${rootRunDirOf(platform)}/`)) as Plan;
}

/**
 * Pins as connect would make them: the first hop's address (a name is
 * resolved at connect, and again before each reconnect), through the
 * gateway and device the host's own routes give it then.
 */
function plannedPins(env: EnvironmentConfig, route: SshRoute | undefined, notes: string[], paths: PinPaths): Step[] {
  const full = env.fullTunnel || env.fullTunnel6;
  if (!full && env.routes.length === 0 && env.routes6.length === 0) return [];
  const hop = route ? (route.jumps[0] ?? route.target) : undefined;
  const role = route?.jumps.length ? 'jump host' : 'SSH server';
  const host = hop?.host ?? env.host;
  if (hop?.proxyCommand) {
    notes.push("pins: the ProxyCommand's far end is found once it has connected (its TCP connection's peer) and pinned like the server");
    return full ? [pinStep('FAR_END', "ProxyCommand's far end", { via: 'GATEWAY', dev: 'DEV' })] : [];
  }
  const literal = isIP(host) !== 0;
  if (!literal && !full) {
    notes.push(`pins: should ${host} resolve into a route at connect, that address is pinned through the path the host's own routes give it`);
    return [];
  }
  // the same test connect makes (routedThrough), where the address is known already
  if (literal && !routedThrough(env, host)) return [];
  // asked of this host's routes now: the path each pin would take
  const known = [...paths].filter((e): e is [string, OutsidePath] => e[1] !== undefined && e[1] !== 'local');
  if (known.length) {
    notes.push(
      `pins: the path${known.length > 1 ? 's' : ''} shown ${known.length > 1 ? 'are' : 'is'} this host's routes now; connect asks again, and again before a reconnect`,
    );
    return known.map(([a, p]) => pinStep(a, role, p));
  }
  notes.push(
    `pins: ${literal ? host : `the addresses ${host} resolves to`} ${full ? '' : '(when a route covers them) '}through GATEWAY and DEV, the path the host's own routes give at connect; pinned again before a reconnect if the name moved`,
  );
  return [pinStep(literal ? host : `ADDRESS_OF_${host}`, role, { via: 'GATEWAY', dev: 'DEV' })];
}

/** A full tunnel's steps, made once a session stands and undone when it goes. */
function plannedFullTunnel(env: EnvironmentConfig, dev: string, platform: PlatformName, notes: string[]): Step[] {
  notes.push(
    `full tunnel: the halves go in once the session stands; ${
      env.onLoss === 'block'
        ? 'when it is lost they stay and traffic and DNS are dropped until it is back (onLoss: block, fail closed); only disconnect hands this host its own routes back'
        : `they come out the moment it is lost (within deadAfter ${env.deadAfter}s) and go back in when it is back (onLoss: direct)`
    }; the networks this host is on ${env.lan === 'local' ? 'stay direct (lan: local)' : 'go through the tunnel too, but for the gateway (lan: tunnel)'}`,
  );
  if (env.fullTunnel && !env.fullTunnel6)
    notes.push('full tunnel: the tunnel carries no IPv6, so IPv6 is made unreachable (::/1, 8000::/1) rather than left to go around it');
  if (env.lan === 'tunnel')
    notes.push("lan: tunnel: each network on DEV (the default route's device) goes through the tunnel as its two halves; its GATEWAY stays on the link");
  if (env.dns.all) {
    notes.push(
      platform === 'linux'
        ? "dns.all: every name is asked of the remote host's resolvers over SSH while the tunnel stands (the forwarder; with systemd-resolved the resolvectl step shown, ~. on the tun device); no DNS packet leaves by another interface"
        : "dns.all: every network service (SERVICE: each one networksetup -listallnetworkservices lists, disabled ones too) asks the in-tunnel DNS address while the tunnel stands, answered by cloudbridge over SSH from the remote host's resolvers; each gets back the servers it had",
    );
  }
  const inTunnel = env.tunnel ? remoteAddresses(env.tunnel) : [];
  return [
    ...(env.lan === 'tunnel' ? [pinStep('GATEWAY', 'gateway', { via: undefined, dev: 'DEV' })] : []),
    ...planHalves(dev, { v4: env.fullTunnel, v6: env.fullTunnel6 }),
    ...(platform === 'linux' && env.dns.all ? [planResolvedAll(dev, env.dns.domains)] : []),
    ...(platform === 'darwin' && env.dns.all ? planServiceDns([{ service: 'SERVICE', servers: ['THE_SERVERS_IT_HAD'] }], inTunnel) : []),
  ];
}

function plannedHop(h: SshHop, role: PlannedHop['role']): PlannedHop {
  return {
    role,
    user: h.user,
    host: h.host,
    port: h.port,
    alias: h.name !== h.host ? h.name : null,
    identityFiles: h.identityFiles,
    identitiesOnly: h.identitiesOnly,
    certificateFiles: h.certificateFiles,
    proxyCommand: h.proxyCommand ?? null,
    knownHostsFiles: [h.knownHostsFile, ...h.globalKnownHostsFiles],
    strictHostKeyChecking: h.strictHostKeyChecking,
  };
}

export function formatPlan(p: Plan): string {
  const lines = [`cloudbridge connect ${p.env} --dry-run (${p.platform}): nothing is changed`, `  ssh     ${p.ssh}`];
  (p.hops ?? []).forEach((h, i) => {
    const name = `${userAtHost(h)}${h.alias ? ` (${h.alias})` : ''}`;
    const keys = h.identityFiles.length ? `keys ${h.identityFiles.join(', ')}${h.identitiesOnly ? ' only' : ' and the agent'}` : 'the agent';
    const certs = `${h.certificateFiles.length ? `; certificates ${h.certificateFiles.join(', ')}` : ''}${h.proxyCommand ? `; through ProxyCommand ${h.proxyCommand}` : ''}`;
    lines.push(
      `          hop ${i + 1} ${h.role === 'jump' ? 'jump  ' : 'target'} ${name}: ${keys}${certs}; known_hosts ${h.knownHostsFiles.join(', ')} (${h.strictHostKeyChecking})`,
    );
  });
  for (const s of p.steps) {
    lines.push(`  ${s.side.padEnd(6)}  ${shellJoin(s.apply)}`);
    lines.push(`          undo: ${s.undo ? shellJoin(s.undo) : '(goes with the tun device)'}`);
  }
  lines.push(`  docker  ${p.docker ?? 'off'}`);
  for (const n of p.notes) lines.push(`  note: ${n}`);
  return `${lines.join('\n')}\n`;
}
