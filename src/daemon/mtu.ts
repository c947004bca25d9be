import type { TunnelConfig } from '../config/types.js';
import type { Pump } from '../datapath/pump.js';
import { planLocalMtu, planRemoteMtu, upCeiling } from '../plan/plan.js';
import type { Step } from '../plan/steps.js';
import type { PlatformName } from '../platform/index.js';
import { pingPeer, probeEnds, type L3Side } from './l3.js';

/** Sizes tried towards the remote host and back, largest first. */
const ROUND_TRIP_SIZES = [16000, 15000, 12000, 9000, 4000, 1500];

/** mtu: auto: probe, and apply what it found as steps (journaled by `apply`) on both ends. */
export async function pickMtu(
  l3: L3Side,
  remoteDevice: string,
  maxPacket: number,
  platform: PlatformName,
  apply: (steps: Step[]) => Promise<void>,
  /** The MTU this end's MSS was advertised for with the remote device (expectedUp), 0 for none. */
  advertised: number,
): Promise<Probed> {
  const rtt = await pingPeer(l3);
  const probed = await probeMtu(l3.tunnel, l3.pump, platform, maxPacket, rtt, (d) => apply(planRemoteMtu(remoteDevice, d)));
  await apply(planLocalMtu(l3.tunnel, l3.tun.name, remoteDevice, probed.up, probed.down, advertised));
  return probed;
}

/** What the probe found: the MTU each way, and in a dual-stack tunnel whether IPv6 crossed at the round-trip size. */
export interface Probed {
  readonly up: number;
  readonly down: number;
  readonly v6: boolean | undefined;
}

/**
 * mtu: auto, one size each way. Both tun devices start at MAX_MTU. The
 * largest ICMP echo that comes back through sshd (which reads its tun 16 KiB
 * at a time) becomes the remote device's MTU (`down`). Towards the remote
 * host sshd writes whatever fits its channel packet, so a larger echo is
 * tried next: the remote kernel takes it whole and answers in fragments of
 * the remote MTU. What crosses becomes this end's MTU (`up`), and the remote
 * route back to us advertises the matching MSS (plan.ts's planLocalMtu), so TCP
 * towards the remote host sends segments twice as large; the other way stays
 * at the remote MTU. sshd moves about one tun packet per loop turn, so
 * packet size is throughput.
 */
export async function probeMtu(
  tunnel: TunnelConfig,
  pump: Pump,
  platform: PlatformName,
  /** The largest framed packet the channel takes. */
  maxPacket: number,
  /** A round trip through the tunnel just measured (ms): probes wait five of them. */
  rtt: number,
  /** Sets the remote device's MTU to `down` (planRemoteMtu), before the probe towards it. */
  setDown: (down: number) => Promise<void>,
): Promise<Probed> {
  // IPv4's pair when there is one, else ICMPv6 echoes: both families share the device and the channel
  const { src, dst } = probeEnds(tunnel);
  const timeout = Math.max(300, Math.ceil(rtt * 5));
  const sizes = ROUND_TRIP_SIZES.filter((n) => n <= tunnel.mtu);
  const down = (await pump.largestThatCrosses(src, dst, sizes, timeout)) ?? 1500;
  // the remote device came up at the ceiling (planRemote): a remote command only when the probe found less
  if (down !== tunnel.mtu) await setDown(down);
  const ceiling = upCeiling(platform, maxPacket, down);
  const upSizes = [ceiling, 24000].filter((n) => n > down && n <= ceiling);
  const up = (await pump.largestThatCrosses(src, dst, upSizes, timeout)) ?? down;
  // a dual-stack tunnel: one ICMPv6 echo of the round-trip size shows IPv6 crosses at it too
  const dual = tunnel.local !== undefined && tunnel.local6 !== undefined;
  const ends6 = dual ? probeEnds(tunnel, 'v6') : undefined;
  const v6 = ends6 ? (await pump.largestThatCrosses(ends6.src, ends6.dst, [down], timeout)) === down : undefined;
  return { up, down, v6 };
}

/** What connect says of the MTUs it probed. */
export function mtuLine({ up, down, v6 }: Probed, remoteDevice: string): string {
  const sizes =
    up > down
      ? `tunnel: MTU ${up} here, ${down} on ${remoteDevice}: the largest packets sshd carries each way (probed)`
      : `tunnel: MTU ${down}, the largest packet sshd carries (probed)`;
  if (v6 === undefined) return sizes;
  return v6 ? `${sizes}; an ICMPv6 echo of ${down} bytes crosses too` : `${sizes}; warning: an ICMPv6 echo of ${down} bytes did not come back`;
}
