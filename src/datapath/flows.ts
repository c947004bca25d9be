import { formatIPv4 } from '../config/ipv4.js';
import { formatIPv6, ipv6FromBytes } from '../config/ipv6.js';
import { AF_INET, AF_INET6, FRAME_HEADER, ipv4At } from './packet.js';
import { monotonicMs } from '../util/clock.js';

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };
/** Seconds after which a quiet UDP/ICMP flow counts as new again (conntrack's UDP default is 30). */
const FORGET_MS = 30_000;
const MAX_TRACKED = 4096;

/**
 * `--verbose`: one log line per new outbound flow and what the allow-list
 * made of it. Only built when asked for; the data path without it pays one
 * undefined check per packet. TCP flows start with a SYN; UDP and ICMP
 * flows are remembered for a while by their addresses and ports.
 */
export class FlowLog {
  private readonly seen = new Map<string, number>();

  constructor(private readonly log: (line: string) => void) {}

  note(b: Uint8Array, verdict: string): void {
    const v6 = b[3] === AF_INET6;
    if (b[3] !== AF_INET && !v6) return;
    const ip = FRAME_HEADER;
    // IPv6: the protocol right after the fixed header (behind extension headers it is logged by that header's number)
    const proto = v6 ? b[ip + 6]! : b[ip + 9]!;
    const l4 = v6 ? ip + 40 : ip + (b[ip]! & 15) * 4;
    if (b.length < l4 + 8) return;
    let sport = 0;
    let dport = 0;
    if (proto === 6 || proto === 17) {
      sport = (b[l4]! << 8) | b[l4 + 1]!;
      dport = (b[l4 + 2]! << 8) | b[l4 + 3]!;
    }
    if (proto === 6) {
      if ((b[l4 + 13]! & 0x12) !== 0x02) return; // SYN without ACK
    } else {
      const key = `${proto} ${address(b, 'src')} ${sport} ${address(b, 'dst')} ${dport}`;
      const now = monotonicMs();
      const last = this.seen.get(key);
      this.seen.set(key, now);
      if (last !== undefined && now - last < FORGET_MS) return;
      if (this.seen.size > MAX_TRACKED) this.seen.clear();
    }
    const name = PROTO_NAMES[proto] ?? `proto ${proto}`;
    const [src, dst] = [address(b, 'src'), address(b, 'dst')];
    const port = (a: string, p: number): string => (v6 ? `[${a}]:${p}` : `${a}:${p}`);
    const ends = proto === 6 || proto === 17 ? `${port(src, sport)} -> ${port(dst, dport)}` : `${src} -> ${dst}`;
    this.log(`flow ${name} ${ends} ${verdict}`);
  }
}

/** A framed packet's source or destination as text (a new flow's: not on every packet's path). */
function address(b: Uint8Array, which: 'src' | 'dst'): string {
  if (b[3] !== AF_INET6) return formatIPv4(ipv4At(b, which === 'src' ? 12 : 16));
  const at = FRAME_HEADER + (which === 'src' ? 8 : 24);
  return formatIPv6(ipv6FromBytes(b.subarray(at, at + 16))!);
}
