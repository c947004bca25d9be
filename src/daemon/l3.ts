import { ipv6Bytes, parseCidr6, parseIPv6 } from '../config/ipv6.js';
import { maskOf, parseCidr, parseIPv4 } from '../config/ipv4.js';
import type { EnvironmentConfig, TunnelConfig } from '../config/types.js';
import { MAX_UPSTREAM_MTU } from '../config/validate.js';
import { FlowLog } from '../datapath/flows.js';
import { Pump } from '../datapath/pump.js';
import type { TunnelAddr } from '../datapath/probe.js';
import { mainPair } from '../config/tunnelPair.js';
import type { LocalNet } from '../platform/types.js';
import type { TunDevice } from '../tun/device.js';
import type { Services } from './services.js';
import { forwarderWanted } from './splitDns.js';
import { UserError } from '../util/errors.js';
import { sourceTable } from '../datapath/sources.js';

/** The L3 tunnel's local half: present unless the environment says tunnel: false. */
export interface L3Side {
  readonly tunnel: TunnelConfig;
  readonly tun: TunDevice;
  readonly pump: Pump;
  readonly net: LocalNet;
}

/** A tunnel end as the pump addresses it: IPv4 as a number, IPv6 as its bytes. */
export function pumpAddr(text: string, v6: boolean): TunnelAddr {
  return v6 ? ipv6Bytes(parseIPv6(text)!) : parseIPv4(text)!;
}

/** A pair as the pump's probes address it: the main one (IPv4's, else IPv6's), or IPv6's when asked for (the tunnel has it). */
export function probeEnds(
  tunnel: TunnelConfig,
  family: 'main' | 'v6' = 'main',
): { readonly src: TunnelAddr; readonly dst: TunnelAddr; readonly remote: string } {
  const { local, remote, v6 } = family === 'v6' ? { local: tunnel.local6!, remote: tunnel.remote6!, v6: true } : mainPair(tunnel);
  return { src: pumpAddr(local, v6), dst: pumpAddr(remote, v6), remote };
}

/**
 * An ICMP echo to the remote tunnel address through the channel: the round
 * trip in ms, or a UserError. A dual-stack tunnel's IPv6 pair answers an
 * ICMPv6 echo too (the pump has one probe at a time: one after the other).
 */
export async function pingPeer({ tunnel, pump }: L3Side): Promise<number> {
  const ping = (src: TunnelAddr, dst: TunnelAddr, shown: string): Promise<number> =>
    pump.ping(src, dst, 5000).catch((err: Error) => {
      throw new UserError(`tunnel does not pass traffic: ping ${shown}: ${err.message}`);
    });
  const main = probeEnds(tunnel);
  const rtt = await ping(main.src, main.dst, main.remote);
  if (tunnel.local !== undefined && tunnel.local6 !== undefined) {
    const v6 = probeEnds(tunnel, 'v6');
    await ping(v6.src, v6.dst, v6.remote);
  }
  return rtt;
}

/**
 * The packet pump on the tun device, with what the data path leaves to
 * JavaScript: MSS clamps, the allow-list, the flow log, DNS to the in-tunnel
 * address. With mtu: auto it reads whole packets up to the upstream ceiling.
 * The caller starts it.
 */
export function makePump(
  env: EnvironmentConfig,
  tunnel: TunnelConfig,
  tun: TunDevice,
  deps: { readonly services: Services; readonly logFlows: boolean; readonly progress: (line: string) => void; readonly log: (line: string) => void },
): Pump {
  const pump = new Pump(tun, tunnel.mtuAuto ? MAX_UPSTREAM_MTU : tunnel.mtu, {
    clamps: env.mssClamps.map((m) => {
      const c = parseCidr(m.cidr)!;
      return { addr: c.addr, mask: maskOf(c.prefix), mss: m.mss };
    }),
    clamps6: env.mssClamps6.map((m) => {
      const c = parseCidr6(m.cidr)!;
      return { net: ipv6Bytes(c.addr), prefix: c.prefix, mss: m.mss };
    }),
    allow: deps.services.allow,
    flows: deps.logFlows ? new FlowLog(deps.log) : undefined,
    dns: forwarderWanted(env)
      ? {
          addr: tunnel.remote === undefined ? undefined : parseIPv4(tunnel.remote),
          addr6: tunnel.remote6 === undefined ? undefined : ipv6Bytes(parseIPv6(tunnel.remote6)!),
          answer: (q) => deps.services.answerDns(q),
        }
      : undefined,
    sources: sourceTable({
      remote: tunnel.remote,
      remote6: tunnel.remote6,
      routes: env.routes,
      routes6: env.routes6,
      fullTunnel: env.fullTunnel,
      fullTunnel6: env.fullTunnel6,
    }),
  });
  const clamps = [...env.mssClamps, ...env.mssClamps6];
  if (clamps.length) deps.progress(`datapath: TCP MSS clamped for ${clamps.map((m) => `${m.cidr} (${m.mss})`).join(', ')}`);
  return pump;
}
