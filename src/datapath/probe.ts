import { echoRequest6, isEchoReply6 } from './packet6.js';
import { echoRequest, isEchoReply } from './packet.js';
import type { PacketChannel } from './ports.js';

/** A tunnel end as the probes and the in-tunnel DNS address it: IPv4 as a number, IPv6 as its 16 bytes. */
export type TunnelAddr = number | Uint8Array;

/**
 * Echo probes through the channel the pump rides: the liveness check after
 * connect and mtu: auto's search. The pump hands every inbound packet to
 * `claims` first; the reply a probe waits for goes no further.
 */
export class Prober {
  private probe: { from: TunnelAddr; id: number; resolve: () => void } | undefined;
  private probeSeq = 0;

  constructor(private readonly channel: () => PacketChannel | undefined) {}

  /** Whether `framed` is the reply a probe waits for (it is then resolved). */
  claims(framed: Uint8Array): boolean {
    const probe = this.probe;
    if (probe === undefined || !(typeof probe.from === 'number' ? isEchoReply(framed, probe.from, probe.id) : isEchoReply6(framed, probe.from, probe.id)))
      return false;
    probe.resolve();
    return true;
  }

  /**
   * Sends an ICMP (or ICMPv6) echo from `src` to `dst` through the channel
   * and resolves with the round trip in ms once the reply comes back: proof
   * that the remote end is addressed, up and routing back to us.
   */
  ping(src: TunnelAddr, dst: TunnelAddr, timeoutMs: number, size?: number): Promise<number> {
    const id = 0xcb00 | (++this.probeSeq & 0xff);
    const started = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
      const send = (): void => {
        const seq = this.probeSeq;
        this.channel()?.send(
          typeof src === 'number' && typeof dst === 'number'
            ? echoRequest(src, dst, id, seq, size)
            : echoRequest6(src as Uint8Array, dst as Uint8Array, id, seq, size),
        );
      };
      const retry = setInterval(send, 250);
      const done = (): void => {
        clearInterval(retry);
        this.probe = undefined;
        const ch = this.channel();
        if (ch) ch.probing = false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no echo reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.probe = {
        from: dst,
        id,
        resolve: () => {
          clearTimeout(timer);
          done();
          resolve(Number(process.hrtime.bigint() - started) / 1e6);
        },
      };
      // the reply must reach isEchoReply here, not go from C straight to the tun
      const ch = this.channel();
      if (ch) ch.probing = true;
      send();
    });
  }

  /**
   * The largest packet, of `sizes` (largest first), that crosses the channel
   * and comes back: sshd drops tun packets beyond what it can carry.
   */
  async largestThatCrosses(src: TunnelAddr, dst: TunnelAddr, sizes: readonly number[], timeoutMs: number): Promise<number | undefined> {
    for (const size of sizes) {
      if (
        await this.ping(src, dst, timeoutMs, size).then(
          () => true,
          () => false,
        )
      )
        return size;
    }
    return undefined;
  }
}
