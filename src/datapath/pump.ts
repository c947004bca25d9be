import type { PacketChannel, PacketDevice } from './ports.js';
import { REFUSED, type AllowList } from './allowList.js';
import type { FlowLog } from './flows.js';
import { MssClamps, type MssClamp, type MssClamp6 } from './clamps.js';
import { refusal6, udpDatagram6, udpTo6 } from './packet6.js';
import { Prober, type TunnelAddr } from './probe.js';
import { ADMIT_ALL, sourceOk } from './sources.js';
import { AF_INET6, FRAME_HEADER, checkFramed, isTcpSyn, refusal, udpDatagram, udpTo } from './packet.js';

export interface PumpStats {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** Packets from the network that failed validation. */
  rxMalformed: number;
  /** Packets the kernel refused (queue full). */
  rxDropped: number;
  /** Packets from the tunnel with a source the remote end may not speak for (sources.ts), dropped. */
  rxSpoofed: number;
  /** Packets too large for the peer, or beyond what we hold while the channel is away. */
  txDropped: number;
  /** Packets the allow-list refused, both ways. */
  refused: number;
}

/** The in-tunnel DNS: the remote end's address of either family or both (undefined: none), and who answers. */
export interface InTunnelDns {
  readonly addr: number | undefined;
  readonly addr6: Uint8Array | undefined;
  readonly answer: (query: Buffer) => Promise<Buffer | undefined>;
}

export interface PumpOptions {
  readonly clamps?: readonly MssClamp[];
  readonly clamps6?: readonly MssClamp6[];
  /** Only what it admits crosses, either way; refused outbound packets are answered (RST, ICMP). */
  readonly allow?: AllowList | undefined;
  readonly flows?: FlowLog | undefined;
  /**
   * DNS at an address routed into the tunnel (the remote tunnel address),
   * answered here instead of crossing: what a per-link resolver (systemd-
   * resolved) is pointed at, as Tailscale answers 100.100.100.100 in its tun.
   */
  readonly dns?: InTunnelDns | undefined;
  /** The sources the remote end may speak for (sources.ts); without it every source passes (the unit tests' pumps). */
  readonly sources?: Uint32Array | undefined;
}

/**
 * Bytes of tun packets we hold while the SSH side has no room (or no channel
 * yet): views of one tun batch (64 packets of up to 32 KiB) at most, since
 * the tun is not read while anything is held.
 */
const BACKLOG_LIMIT = 4 * 1024 * 1024;

/**
 * Moves packets between a tun device and a tun@openssh.com channel.
 * Outbound, one tun wake-up becomes a run of CHANNEL_DATA sends in one
 * corked write; when the channel has no room, or there is no channel (being
 * reconnected, or not yet made on demand), packets are held up to a bound and
 * the tun is no longer read, so the kernel queue and then TCP take the back
 * pressure: applications see a pause, not an error. Inbound packets are
 * validated and written straight from SSH's buffer.
 */
export class Pump {
  private readonly counts: PumpStats = {
    txPackets: 0,
    txBytes: 0,
    rxPackets: 0,
    rxBytes: 0,
    rxMalformed: 0,
    rxDropped: 0,
    rxSpoofed: 0,
    txDropped: 0,
    refused: 0,
  };
  /** Called when packets are waiting and there is no channel. */
  onWake: () => void = () => {};
  private channel: PacketChannel | undefined;
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private readonly prober = new Prober(() => this.channel);
  private readonly clamps: MssClamps;
  /** Either family has clamps: handshakes go through JavaScript. */
  private readonly clamping: boolean;
  private readonly allow: AllowList | undefined;
  private readonly flows: FlowLog | undefined;
  private readonly dns: PumpOptions['dns'];
  private readonly sources: Uint32Array;

  constructor(
    private readonly tun: PacketDevice,
    private readonly mtu: number,
    opts: PumpOptions = {},
  ) {
    this.clamps = new MssClamps(opts.clamps ?? [], opts.clamps6 ?? []);
    this.clamping = this.clamps.any;
    this.allow = opts.allow && opts.allow.rules.length > 0 ? opts.allow : undefined;
    this.flows = opts.flows;
    this.dns = opts.dns;
    this.sources = opts.sources ?? ADMIT_ALL;
  }

  /** A DNS query to the in-tunnel address: answered from here, the reply written to the tun. */
  private answerDns(pkt: Uint8Array): boolean {
    const { addr, addr6, answer } = this.dns!;
    if (pkt[3] === AF_INET6) {
      const q = addr6 && pkt[FRAME_HEADER + 6] === 17 ? udpTo6(pkt, addr6, 53) : undefined;
      if (!q) return false;
      void answer(q.payload).then((reply) => {
        if (reply) this.tun.write(udpDatagram6(addr6!, 53, q.src, q.sport, reply));
      });
      return true;
    }
    const q = addr !== undefined && pkt[FRAME_HEADER + 9] === 17 ? udpTo(pkt, addr, 53) : undefined;
    if (!q) return false;
    void answer(q.payload).then((reply) => {
      if (reply) this.tun.write(udpDatagram(addr!, 53, q.src, q.sport, reply));
    });
    return true;
  }

  /** Outbound packets the allow-list refuses are answered here, as the destination would. */
  private refuse(pkt: Uint8Array): void {
    this.counts.refused++;
    const answer = pkt[3] === AF_INET6 ? refusal6(pkt) : refusal(pkt);
    if (answer) this.tun.write(answer);
  }

  /** Counters so far, packets the channel's outlet sent from C included. */
  get stats(): PumpStats {
    const s = { ...this.counts };
    if (this.channel) addNative(s, this.channel);
    return s;
  }

  start(onFatal: (err: Error) => void): void {
    this.tun.startReading(
      this.mtu,
      (arena, lengths, count, first, offset) => {
        if (this.channel) this.channel.batch(() => this.outbound(arena, lengths, count, first, offset));
        else this.outbound(arena, lengths, count, first, offset);
      },
      (errno) => onFatal(new Error(`tun read failed (errno ${errno})`)),
    );
  }

  attach(channel: PacketChannel): void {
    this.channel = channel;
    channel.onPacket = (framed) => this.inbound(framed);
    channel.onWritable = () => this.flush();
    this.flush();
    // Only DNS to the in-tunnel address, TCP handshakes (clamps, flow log), for the flow log
    // other protocols' packets, and with an allow-list the first packet of each flow (C knows
    // the flows it let out, conntrack.c) need JavaScript; the rest is sealed and sent from C.
    const flows = this.allow?.nativeFlows();
    const filter = { dns: this.dns?.addr, dns6: this.dns?.addr6, synToJs: this.clamping || !!this.flows, otherToJs: !!this.flows, flows };
    this.tun.setOutlet(channel.useOutlet(filter));
    // Inbound likewise: clamped handshakes, a probe's reply, and what belongs to no flow this side started.
    channel.useInlet({ tunFd: this.tun.fd, synToJs: this.clamping, flows, sources: this.sources });
  }

  /** The channel is gone: hold what comes until the next one (or drop past the bound). */
  detach(): void {
    this.tun.setOutlet(undefined);
    if (this.channel) {
      this.channel.stopInlet();
      this.channel.onPacket = () => {};
      this.channel.onWritable = () => {};
      addNative(this.counts, this.channel);
    }
    this.channel = undefined;
  }

  /** Whether packets are sealed (outbound) and opened (inbound) in C right now. */
  get native(): { outbound: boolean; inbound: boolean } {
    return this.channel?.native ?? { outbound: false, inbound: false };
  }

  /** Drops what is held (a session could not be made) and reads the tun again. */
  dropHeld(): void {
    this.counts.txDropped += this.backlog.length;
    this.backlog = [];
    this.backlogBytes = 0;
    this.tun.resume();
  }

  private outbound(arena: Buffer, lengths: Uint32Array, count: number, first: number, offset: number): void {
    const channel = this.channel;
    const maxPacket = channel ? channel.maxPacket : Infinity;
    let off = offset;
    for (let i = first; i < count; i++) {
      const len = lengths[i]!;
      const pkt = arena.subarray(off, off + len);
      off += len;
      if (this.dns && this.answerDns(pkt)) continue;
      if (this.allow) {
        const rule = this.allow.check(pkt, true);
        this.flows?.note(pkt, rule === REFUSED ? 'refused' : rule >= 0 ? `allowed by "${this.allow.rules[rule]!.text}"` : 'allowed');
        if (rule === REFUSED) {
          this.refuse(pkt);
          continue;
        }
      } else this.flows?.note(pkt, 'routed');
      if (this.clamping && isTcpSyn(pkt)) this.clamps.apply(pkt, 'outbound');
      if (len > maxPacket) {
        this.counts.txDropped++;
        continue;
      }
      if (!channel || this.backlog.length > 0 || !channel.send(pkt)) {
        // A view, not a copy: holding pauses the tun, and the arena is only read into again once
        // the backlog is gone. (Copies were garbage in bulk whenever the peer's window ran short.)
        this.hold(pkt);
        continue;
      }
      this.counts.txPackets++;
      this.counts.txBytes += len;
    }
    if (!channel && this.backlog.length > 0) this.onWake();
  }

  private hold(pkt: Buffer): void {
    if (this.backlogBytes + pkt.length > BACKLOG_LIMIT) {
      this.counts.txDropped++;
      return;
    }
    this.backlog.push(pkt);
    this.backlogBytes += pkt.length;
    this.tun.pause();
  }

  private flush(): void {
    const channel = this.channel;
    if (!channel) return;
    let i = 0;
    channel.batch(() => {
      for (; i < this.backlog.length; i++) {
        const pkt = this.backlog[i]!;
        if (!channel.send(pkt)) break;
        this.counts.txPackets++;
        this.counts.txBytes += pkt.length;
        this.backlogBytes -= pkt.length;
      }
    });
    this.backlog = i === this.backlog.length ? [] : this.backlog.slice(i);
    if (this.backlog.length === 0) this.tun.resume();
  }

  private inbound(framed: Buffer): void {
    if (checkFramed(framed) !== undefined) {
      this.counts.rxMalformed++;
      return;
    }
    // WireGuard's AllowedIPs: the remote end speaks only for its addresses and routes
    if (!sourceOk(this.sources, framed)) {
      this.counts.rxSpoofed++;
      return;
    }
    if (this.prober.claims(framed)) return;
    if (this.allow && this.allow.check(framed, false) === REFUSED) {
      this.counts.refused++;
      return;
    }
    if (this.clamping && isTcpSyn(framed)) this.clamps.apply(framed, 'inbound');
    this.counts.rxPackets++;
    this.counts.rxBytes += framed.length;
    if (this.tun.write(framed) < 0) this.counts.rxDropped++;
  }

  /**
   * Sends an ICMP (or ICMPv6) echo from `src` to `dst` through the channel
   * and resolves with the round trip in ms once the reply comes back
   * (probe.ts): proof that the remote end is addressed, up and routing back.
   */
  ping(src: TunnelAddr, dst: TunnelAddr, timeoutMs: number, size?: number): Promise<number> {
    return this.prober.ping(src, dst, timeoutMs, size);
  }

  /** The largest packet, of `sizes` (largest first), that crosses the channel and comes back. */
  largestThatCrosses(src: TunnelAddr, dst: TunnelAddr, sizes: readonly number[], timeoutMs: number): Promise<number | undefined> {
    return this.prober.largestThatCrosses(src, dst, sizes, timeoutMs);
  }

  /**
   * Packets sent towards the remote host so far: an idle check compares two
   * readings. What comes in unasked does not count: the remote kernel's IPv6
   * router solicitations on its tun device arrive every 4, 8, 16 s and so on
   * (RFC 7559's backoff; seen at 6 s and 14 s after a session came up in the
   * lab) and would keep an idle on-demand session up. Replies follow
   * something sent, and TCP acknowledges what it receives.
   */
  get sent(): number {
    return this.stats.txPackets;
  }

  stop(): void {
    this.tun.pause();
    this.detach();
  }
}

/** Adds what the channel's outlet and inlet moved in C to `s`. */
function addNative(s: PumpStats, channel: PacketChannel): void {
  const sent = channel.outletSent;
  const got = channel.inletCounts;
  s.txPackets += sent.packets;
  s.txBytes += sent.bytes;
  s.rxPackets += got.packets;
  s.rxBytes += got.bytes;
  s.rxMalformed += got.malformed;
  s.rxDropped += got.dropped;
  s.rxSpoofed += got.spoofed;
}
