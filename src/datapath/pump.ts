import type { TunChannel } from '../ssh/tunChannel.js';
import type { TunDevice } from '../tun/device.js';
import { checkFramed, echoRequest, isEchoReply } from './packet.js';

export interface PumpStats {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** Packets from the network that failed validation. */
  rxMalformed: number;
  /** Packets the kernel refused (queue full). */
  rxDropped: number;
  /** Packets too large for the peer. */
  txDropped: number;
}

/** Bytes of tun packets we hold while the SSH side has no room, before we stop reading the tun. */
const BACKLOG_LIMIT = 512 * 1024;

/**
 * Moves packets between a tun device and a tun@openssh.com channel.
 * Outbound, one tun wake-up becomes a run of CHANNEL_DATA sends; when the
 * channel has no room the rest of the batch is held and the tun is no
 * longer read, so the kernel queue and then TCP take the back pressure.
 * Inbound packets are validated and written straight from SSH's buffer.
 */
export class Pump {
  readonly stats: PumpStats = {
    txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, rxMalformed: 0, rxDropped: 0, txDropped: 0,
  };
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private probe: { from: number; id: number; resolve: () => void } | undefined;
  private probeSeq = 0;

  constructor(
    private readonly tun: TunDevice,
    private readonly channel: TunChannel,
    private readonly mtu: number,
  ) {}

  start(onFatal: (err: Error) => void): void {
    this.channel.onPacket = (framed) => this.inbound(framed);
    this.channel.onWritable = () => this.flush();
    this.tun.startReading(this.mtu, (arena, lengths, count) => this.channel.batch(() => this.outbound(arena, lengths, count)), (errno) =>
      onFatal(new Error(`tun read failed (errno ${errno})`)),
    );
  }

  private outbound(arena: Buffer, lengths: Uint32Array, count: number): void {
    const maxPacket = this.channel.maxPacket;
    let off = 0;
    for (let i = 0; i < count; i++) {
      const len = lengths[i]!;
      const pkt = arena.subarray(off, off + len);
      off += len;
      if (len > maxPacket) {
        this.stats.txDropped++;
        continue;
      }
      if (this.backlog.length > 0 || !this.channel.send(pkt)) {
        // The arena is reused on the next wake-up: keep a copy.
        this.hold(Buffer.from(pkt));
        continue;
      }
      this.stats.txPackets++;
      this.stats.txBytes += len;
    }
  }

  private hold(pkt: Buffer): void {
    if (this.backlogBytes + pkt.length > BACKLOG_LIMIT) {
      this.stats.txDropped++;
      return;
    }
    this.backlog.push(pkt);
    this.backlogBytes += pkt.length;
    this.tun.pause();
  }

  private flush(): void {
    let i = 0;
    for (; i < this.backlog.length; i++) {
      const pkt = this.backlog[i]!;
      if (!this.channel.send(pkt)) break;
      this.stats.txPackets++;
      this.stats.txBytes += pkt.length;
      this.backlogBytes -= pkt.length;
    }
    this.backlog = i === this.backlog.length ? [] : this.backlog.slice(i);
    if (this.backlog.length === 0) this.tun.resume();
  }

  private inbound(framed: Buffer): void {
    if (checkFramed(framed) !== undefined) {
      this.stats.rxMalformed++;
      return;
    }
    if (this.probe !== undefined && isEchoReply(framed, this.probe.from, this.probe.id)) {
      this.probe.resolve();
      return;
    }
    this.stats.rxPackets++;
    this.stats.rxBytes += framed.length;
    if (this.tun.write(framed) < 0) this.stats.rxDropped++;
  }

  /**
   * Sends an ICMP echo from `src` to `dst` through the channel and resolves
   * with the round trip in ms once the reply comes back: proof that the
   * remote end is addressed, up and routing back to us.
   */
  ping(src: number, dst: number, timeoutMs: number): Promise<number> {
    const id = 0xcb00 | (++this.probeSeq & 0xff);
    const started = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
      const send = (): void => {
        this.channel.send(echoRequest(src, dst, id, this.probeSeq));
      };
      const retry = setInterval(send, 250);
      const timer = setTimeout(() => {
        clearInterval(retry);
        this.probe = undefined;
        reject(new Error(`no echo reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.probe = {
        from: dst,
        id,
        resolve: () => {
          clearTimeout(timer);
          clearInterval(retry);
          this.probe = undefined;
          resolve(Number(process.hrtime.bigint() - started) / 1e6);
        },
      };
      send();
    });
  }

  stop(): void {
    this.tun.pause();
    this.channel.onPacket = () => {};
    this.channel.onWritable = () => {};
  }
}
