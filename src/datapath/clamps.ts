import { AF_INET6, FRAME_HEADER, clampMss, inPrefix6, ipv4At } from './packet.js';

/** A network whose TCP handshakes get their MSS lowered to `mss`. */
export interface MssClamp {
  readonly addr: number;
  readonly mask: number;
  readonly mss: number;
}

/** The same for an IPv6 network: its first `prefix` bits. */
export interface MssClamp6 {
  readonly net: Uint8Array;
  readonly prefix: number;
  readonly mss: number;
}

/** The pump's MSS clamps, both families: which network a handshake's peer is in, and its limit. */
export class MssClamps {
  /** Any clamp at all: handshakes must reach JavaScript. */
  readonly any: boolean;

  constructor(
    private readonly v4: readonly MssClamp[],
    private readonly v6: readonly MssClamp6[],
  ) {
    this.any = v4.length + v6.length > 0;
  }

  /**
   * Lowers the MSS of a SYN to or from a clamped network: the far side is
   * the destination of an outbound packet, the source of an inbound one.
   */
  apply(pkt: Uint8Array, way: 'outbound' | 'inbound'): void {
    if (pkt[3] === AF_INET6) {
      // IPv6: source at 8, destination at 24
      const at = FRAME_HEADER + (way === 'outbound' ? 24 : 8);
      for (const c of this.v6) {
        if (inPrefix6(pkt, at, c.net, c.prefix)) {
          clampMss(pkt, c.mss);
          return;
        }
      }
      return;
    }
    // IPv4: source at 12, destination at 16
    const peer = ipv4At(pkt, way === 'outbound' ? 16 : 12);
    for (const c of this.v4) {
      if ((peer & c.mask) >>> 0 === c.addr) {
        clampMss(pkt, c.mss);
        return;
      }
    }
  }
}
