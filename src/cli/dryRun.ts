import type { EnvironmentConfig } from '../config/types.js';
import { dockerSocket } from '../util/paths.js';
import { localCommand, requestedDevice, type PlatformName } from '../platform/index.js';
import { shellJoin } from '../util/quote.js';
import { planLocal, planRemote } from '../plan/plan.js';
import type { ContextOwner } from '../plan/steps.js';
import { dockerHostFor } from '../docker/endpoint.js';
import { DNS_LISTEN } from '../dns/forwarder.js';
import { MAX_UPSTREAM_MTU } from '../config/validate.js';

export interface PlannedStep {
  readonly side: 'local' | 'remote';
  readonly title: string;
  readonly apply: readonly string[];
  readonly undo: readonly string[] | null;
}

export interface Plan {
  readonly env: string;
  readonly platform: PlatformName;
  readonly ssh: string;
  readonly localDevice: string;
  readonly remoteDevice: string;
  readonly steps: readonly PlannedStep[];
  readonly docker: string | null;
  readonly notes: readonly string[];
}

/** Everything `connect` would do, as commands, without looking at either host. */
export function dryRunPlan(env: EnvironmentConfig, platform: PlatformName, owner?: ContextOwner): Plan {
  const localDevice = requestedDevice(platform, env) || 'utunN';
  const dockerHost = dockerHostFor(env);
  const remoteDevice = `tun${env.tunnel.remoteUnit ?? 'N'}`;
  const notes: string[] = [];
  if (localDevice === 'utunN') notes.push('utunN: macOS numbers utun devices itself; the name is known once the device is open');
  if (env.tunnel.remoteUnit === undefined) notes.push(`${remoteDevice}: the lowest unit free on the remote host, found at connect time`);
  if (env.tunnel.mtuAuto) notes.push(`mtu auto: both devices start at ${env.tunnel.mtu}; connect probes the largest packet sshd carries each way: the remote device gets the round-trip size, this end the larger one sshd takes towards the remote host (up to ${MAX_UPSTREAM_MTU})`);
  if (env.nat) notes.push('ip_forward is switched on, and back, only where it is off');
  if (platform === 'linux') notes.push('local steps are made through rtnetlink; the ip commands shown are their equivalents');
  if (platform === 'linux' && (env.dns.domains.length > 0 || env.dns.containers)) {
    const zones = [...env.dns.domains, ...(env.dns.containers ? [`${env.name}.docker`] : [])];
    notes.push(`dns: a forwarder on ${DNS_LISTEN} answers ${zones.join(', ')} (asked of ${env.dns.servers.length ? env.dns.servers.join(', ') : "the remote host's resolvers"} over SSH) and passes the rest to the resolvers in /etc/resolv.conf, which points at it until disconnect`);
  }
  const steps: PlannedStep[] = [
    ...planLocal(env, localDevice, platform, owner && dockerHost ? { host: dockerHost, owner } : undefined).map((s): PlannedStep => ({
      side: 'local',
      title: s.title,
      apply: localCommand(platform, s.apply as Parameters<typeof localCommand>[1]),
      undo: s.undo ? localCommand(platform, s.undo as Parameters<typeof localCommand>[1]) : null,
    })),
    ...planRemote(env, remoteDevice, { ipForward: '0' }).map((s): PlannedStep => ({
      side: 'remote',
      title: s.title,
      apply: s.apply.side === 'remote' ? s.apply.argv : [],
      undo: s.undo && s.undo.side === 'remote' ? s.undo.argv : null,
    })),
  ];
  let docker: string | null = null;
  if (env.docker.mode === 'socket') docker = `serve ${dockerSocket(env.name)} -> remote ${env.docker.remoteSocket} (direct-streamlocal)`;
  if (env.docker.mode === 'tcp') docker = `DOCKER_HOST=${env.docker.host} through the tunnel`;
  return {
    env: env.name,
    platform,
    ssh: `${env.user}@${env.host}:${env.port}, tun@openssh.com point-to-point to ${remoteDevice}`,
    localDevice,
    remoteDevice,
    steps,
    docker,
    notes,
  };
}

export function formatPlan(p: Plan): string {
  const lines = [`cloudbridge connect ${p.env} --dry-run (${p.platform}): nothing is changed`, `  ssh     ${p.ssh}`];
  for (const s of p.steps) {
    lines.push(`  ${s.side.padEnd(6)}  ${shellJoin(s.apply)}`);
    lines.push(`          undo: ${s.undo ? shellJoin(s.undo) : '(goes with the tun device)'}`);
  }
  lines.push(`  docker  ${p.docker ?? 'off'}`);
  for (const n of p.notes) lines.push(`  note: ${n}`);
  return `${lines.join('\n')}\n`;
}
