import { formatIPv4 } from '../config/ipv4.js';
import { AF_INET, FRAME_HEADER, ipv4At } from './packet.js';

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };
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
    if (b[3] !== AF_INET) return;
    const ip = FRAME_HEADER;
    const proto = b[ip + 9]!;
    const l4 = ip + (b[ip]! & 15) * 4;
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
      const key = `${proto} ${ipv4At(b, 12)} ${sport} ${ipv4At(b, 16)} ${dport}`;
      const now = Date.now();
      const last = this.seen.get(key);
      this.seen.set(key, now);
      if (last !== undefined && now - last < FORGET_MS) return;
      if (this.seen.size > MAX_TRACKED) this.seen.clear();
    }
    const name = PROTO_NAMES[proto] ?? `proto ${proto}`;
    const ends =
      proto === 6 || proto === 17
        ? `${formatIPv4(ipv4At(b, 12))}:${sport} -> ${formatIPv4(ipv4At(b, 16))}:${dport}`
        : `${formatIPv4(ipv4At(b, 12))} -> ${formatIPv4(ipv4At(b, 16))}`;
    this.log(`flow ${name} ${ends} ${verdict}`);
  }
}
