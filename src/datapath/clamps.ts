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

  /** Lowers the MSS of a SYN to or from a clamped network; `peerAt` 16 = destination, 12 = source. */
  apply(pkt: Uint8Array, peerAt: 12 | 16): void {
    if (pkt[3] === AF_INET6) {
      // IPv6: source at 8, destination at 24
      const at = FRAME_HEADER + (peerAt === 16 ? 24 : 8);
      for (const c of this.v6) {
        if (inPrefix6(pkt, at, c.net, c.prefix)) {
          clampMss(pkt, c.mss);
          return;
        }
      }
      return;
    }
    const peer = ipv4At(pkt, peerAt);
    for (const c of this.v4) {
      if ((peer & c.mask) >>> 0 === c.addr) {
        clampMss(pkt, c.mss);
        return;
      }
    }
  }
}
