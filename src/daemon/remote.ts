import type { Client } from 'ssh2';
import type { SshLink } from '../datapath/ssh/link.js';
import type { EnvironmentConfig, TunnelConfig } from '../config/types.js';
import { openTunChannel, TunChannelError, type TunChannel } from '../datapath/ssh/tunChannel.js';
import { IPTABLES_STATE, iptablesState, lowestFreeTun, planRemote, planStaleDevice, type RemoteFacts } from '../plan/plan.js';
import type { Step } from '../plan/steps.js';
import { runRemote } from '../ssh/exec.js';
import { UserError } from '../util/errors.js';
import { clip, plain } from '../util/plain.js';

/**
 * The script that reads the remote host's facts, sections split by `@@`:
 * interface names, IPv4 forwarding, iptables' state, IPv6 forwarding,
 * ip6tables' state. The shell's own glob and read, not ls and cat: a
 * process costs ~7 ms on a small VM, and connect waits for these. read's
 * status is no use here: it reads a byte at a time, and a sysctl file read
 * past its first byte says EOF (proc_dointvec), so the value comes without
 * its newline and read returns false.
 */
export function factsScript(env: EnvironmentConfig, tunnel: TunnelConfig): string {
  const v6 = tunnel.local6 !== undefined;
  const read = (file: string): string => `v=; [ -r ${file} ] && read -r v < ${file}; echo "$v"`;
  return [
    'for f in /sys/class/net/*; do echo "${f##*/}"; done',
    read('/proc/sys/net/ipv4/ip_forward'),
    env.nat && tunnel.local !== undefined ? IPTABLES_STATE : 'echo ok',
    v6 ? read('/proc/sys/net/ipv6/conf/all/forwarding') : 'echo 0',
    env.nat && v6 ? iptablesState('ip6tables') : 'echo ok',
  ].join('\necho @@\n');
}

/** What the remote host looks like, in one round trip: the tun unit to use and what NAT needs. */
export async function remoteFacts(
  client: Client,
  env: EnvironmentConfig,
  tunnel: TunnelConfig,
  sudo: boolean,
): Promise<RemoteFacts & { unit: number; names: readonly string[] }> {
  const script = factsScript(env, tunnel);
  const out = await runRemote(client, ['sh', '-c', script], { sudo });
  const [namesText = '', ipForward = '', iptables = '', ip6Forward = '', ip6tables = ''] = out.split('@@\n');
  const names = namesText.split(/\s+/);
  if (iptables.trim() !== 'ok') {
    throw new UserError(`nat: true needs a working iptables on ${env.host} (iptables is ${plain(clip(iptables.trim(), 200))})`);
  }
  if (ip6tables.trim() !== 'ok') {
    throw new UserError(`nat: true with IPv6 tunnel addresses needs a working ip6tables on ${env.host} (ip6tables is ${plain(clip(ip6tables.trim(), 200))})`);
  }
  const unit = tunnel.remoteUnit ?? lowestFreeTun(names);
  if (tunnel.remoteUnit !== undefined && names.includes(`tun${unit}`)) {
    throw new UserError(`remote tun${unit} is in use on ${env.host} (tunnel.remoteUnit)`);
  }
  return { unit, names, ipForward: ipForward.trim(), ip6Forward: ip6Forward.trim() };
}

/** The tun channel to remote unit `unit`, or a UserError that says what sshd needs. */
export async function openChannel(link: SshLink, env: EnvironmentConfig, unit: number): Promise<TunChannel> {
  try {
    return await openTunChannel(link, unit);
  } catch (err) {
    const says = err instanceof TunChannelError ? err.serverSays : undefined;
    if (err instanceof TunChannelError && err.refusedByPolicy) {
      throw new UserError(`sshd on ${env.host} refused the tunnel ("${says}"): it needs "PermitTunnel yes" (or point-to-point) in sshd_config`);
    }
    const detail = says ? `"${says}"` : (err as Error).message;
    throw new UserError(`sshd on ${env.host} could not open tun${unit} (${detail}): the remote user needs root or CAP_NET_ADMIN, and /dev/net/tun`);
  }
}

/**
 * The remote side of a session: its facts, the tun channel, and the remote
 * steps (after taking our addresses off a lost session's device that its
 * sshd still holds), applied through `apply` (the journal).
 */
export async function remoteSide(
  link: SshLink,
  env: EnvironmentConfig,
  tunnel: TunnelConfig,
  deps: {
    readonly sudo: boolean;
    readonly lastDevice: string;
    readonly apply: (steps: Step[]) => Promise<void>;
    readonly progress: (line: string) => void;
    /** A phase of connect ended (util/phases.ts). */
    readonly mark: (phase: string) => void;
    /** mtu: auto: the MTU this end's probe is expected to find through a channel that takes `maxPacket` (mtu.ts), 0 for none. */
    readonly expectedUp: (maxPacket: number) => number;
  },
): Promise<{ channel: TunChannel; remoteDevice: string; advertised: number }> {
  const facts = await remoteFacts(link.client, env, tunnel, deps.sudo);
  deps.mark('remote facts read');
  const channel = await openChannel(link, env, facts.unit);
  deps.mark('tunnel channel open');
  const remoteDevice = `tun${facts.unit}`;
  deps.progress(`ssh: tunnel channel open, remote device ${remoteDevice}`);
  const stale = deps.lastDevice && deps.lastDevice !== remoteDevice && facts.names.includes(deps.lastDevice) ? [planStaleDevice(tunnel, deps.lastDevice)] : [];
  const advertised = deps.expectedUp(channel.maxPacket);
  try {
    await deps.apply([...stale, ...planRemote(env, tunnel, remoteDevice, facts, advertised)]);
  } catch (err) {
    channel.close();
    throw err;
  }
  return { channel, remoteDevice, advertised };
}
