import { maskOf, parseCidr } from '../config/ipv4.js';
import { parseCidr6 } from '../config/ipv6.js';
import { AF_INET, AF_INET6, FRAME_HEADER } from './packet.js';

/**
 * Which sources a packet from the tunnel may have: WireGuard's AllowedIPs
 * rule. The remote end may only speak for its own tunnel addresses (the
 * in-tunnel DNS answers come from there too), for the networks routed to it,
 * and, with a full tunnel, for every address of that family; IPv6
 * link-local addresses are the point-to-point link's own (router
 * solicitations). Anything else is a spoofed source (a remote host that
 * makes replies seem to come from this host's LAN, say) and is dropped,
 * counted as `rxSpoofed`.
 *
 * One table serves C and JavaScript: a Uint32Array [n4, n6, then n4 ×
 * (address, mask), then n6 × (address words ×4, mask words ×4)], words in
 * the order an address is read from a packet. `sourceOk` here and
 * `source_ok` in native/src/packet.h read it; the parity test holds them to
 * one verdict. Built once per connect, read without allocating.
 */
export interface SourceRules {
  readonly remote?: string | undefined;
  readonly remote6?: string | undefined;
  readonly routes: readonly string[];
  readonly routes6: readonly string[];
  readonly fullTunnel: boolean;
  readonly fullTunnel6: boolean;
}

const LINK_LOCAL6 = 'fe80::/10';

function words6(cidr: string): number[] {
  const c = parseCidr6(cidr)!;
  const addr: number[] = [];
  const mask: number[] = [];
  for (let i = 3; i >= 0; i--) {
    const shift = BigInt(i * 32);
    addr.push(Number((c.addr >> shift) & 0xffffffffn));
    const bits = Math.max(0, Math.min(32, c.prefix - (3 - i) * 32));
    mask.push(maskOf(bits));
  }
  return [...addr, ...mask];
}

export function sourceTable(r: SourceRules): Uint32Array {
  const v4 = [...(r.remote ? [`${r.remote}/32`] : []), ...r.routes, ...(r.fullTunnel ? ['0.0.0.0/0'] : [])];
  const v6 = [...(r.remote6 ? [`${r.remote6}/128`] : []), ...r.routes6, ...(r.fullTunnel6 ? ['::/0'] : []), LINK_LOCAL6];
  const out = [v4.length, v6.length];
  for (const cidr of v4) {
    const c = parseCidr(cidr)!;
    out.push(c.addr >>> 0, maskOf(c.prefix));
  }
  for (const cidr of v6) out.push(...words6(cidr));
  return Uint32Array.from(out);
}

/** Every source of both families (a pump with no rules of its own: the unit tests'). */
export const ADMIT_ALL = sourceTable({ routes: [], routes6: [], fullTunnel: true, fullTunnel6: true });

const word = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

/** Whether a framed packet (checkFramed passed) comes from a source the table admits. */
export function sourceOk(table: Uint32Array, framed: Uint8Array): boolean {
  const n4 = table[0]!;
  const n6 = table[1]!;
  if (framed[3] === AF_INET) {
    const src = word(framed, FRAME_HEADER + 12);
    for (let i = 0; i < n4; i++) if ((src & table[2 + 2 * i + 1]!) >>> 0 === table[2 + 2 * i]) return true;
    return false;
  }
  if (framed[3] === AF_INET6) {
    const base = 2 + 2 * n4;
    for (let i = 0; i < n6; i++) {
      const e = base + 8 * i;
      let match = true;
      for (let w = 0; w < 4 && match; w++) match = (word(framed, FRAME_HEADER + 8 + 4 * w) & table[e + 4 + w]!) >>> 0 === table[e + w];
      if (match) return true;
    }
    return false;
  }
  return false;
}
