import type { Client } from 'ssh2';
import type { NativeHandle } from '../../native/addon.js';
import { ChannelDataWriter } from './channelDataWriter.js';
import { Inlet, type InletUse } from './inlet.js';
import { Outlet, type OutletFilter } from './outlet.js';
import { readRingOf } from './readRing.js';
import { sinkFor, type ByteSink } from './socketSink.js';
import { CHANNEL_PACKET_SIZE, internalsOf, sendPacket, type ChannelOpenCallback, type ClientInternals, type RawChannel } from './ssh2.js';

/**
 * A `tun@openssh.com` channel (what `ssh -w` opens) with datagram semantics:
 * one IP packet, framed with its 4-byte OpenBSD address family, per
 * CHANNEL_DATA, in both directions, never split.
 *
 * ssh2 has no API for this channel type and its stream interface splits
 * writes at the peer's window and packet size, so this module talks to
 * ssh2's channel manager and protocol directly (the fields are typed in
 * ssh2.ts).
 */

const MSG_CHANNEL_OPEN = 90;
const TUN_MODE_POINTOPOINT = 1;
/** Keep at most this much queued on the TCP socket before we stop reading the tun. */
const SOCKET_HIGH_WATER = 4 * 1024 * 1024;
/**
 * Our receive window, topped up at half. sshd drops a tun datagram that does
 * not fit the window left ("datagram too big") instead of waiting for more,
 * so a controller that falls behind by more than the slack loses packets.
 * ssh2's own 2 MiB topped up at 1 MiB is 3 ms at 300 MB/s, less than one
 * scheduling hiccup on a busy machine: downstream TCP saw ~2000
 * retransmissions in 5 s. 16 MiB gives 25 ms of slack.
 */
const TUN_WINDOW = 16 * 1024 * 1024;

export class TunChannelError extends Error {
  constructor(
    message: string,
    readonly reason: number | undefined,
    /** What sshd said about it (SSH_MSG_DEBUG), the only place it tells why. */
    readonly serverSays: string | undefined = undefined,
  ) {
    super(message);
    this.name = 'TunChannelError';
  }
}

export class TunChannel {
  /** Called with each framed packet that arrives; the buffer is only valid during the call. */
  onPacket: (framed: Buffer) => void = () => {};
  /** Called once after `send` returned false, when sending may succeed again. */
  onWritable: () => void = () => {};
  /** Called once when the peer closes the channel or the connection goes. */
  onClose: () => void = () => {};
  private waiting = false;
  private closed = false;
  private readonly writer: ChannelDataWriter;
  private readonly sink: ByteSink;
  private readonly outlet: Outlet | undefined;
  private readonly inlet: Inlet | undefined;
  private readonly internals: ClientInternals;

  constructor(
    private readonly raw: RawChannel,
    private readonly client: Client,
    readonly unit: number,
  ) {
    const internals = (this.internals = internalsOf(client));
    this.sink = sinkFor(client);
    this.writer = new ChannelDataWriter(internals._protocol, this.sink);
    if (this.sink.native) this.outlet = new Outlet(this.sink.native, raw.outgoing, internals._protocol, SOCKET_HIGH_WATER);
    // our push below is done with each packet when it returns: no copy needed, and the
    // read ring hands the data over directly, as ssh2's CHANNEL_DATA handler would
    const ring = readRingOf(client);
    ring?.trust(raw.incoming.id, (data) => {
      if (raw.incoming.window === 0) return; // as ssh2: data beyond the window is ignored
      raw.incoming.window -= data.length;
      raw.push(data);
    });
    // Take the channel's inbound path over: ssh2 calls push() once per
    // CHANNEL_DATA, after taking its length off the window. The window is
    // ours too (ssh2 would only top it up to 2 MiB below 1 MiB).
    raw.incoming.window = TUN_WINDOW;
    raw.push = (chunk: Buffer | null): boolean => {
      if (chunk === null) {
        this.handleClose();
        return true;
      }
      this.onPacket(chunk);
      this.topUp();
      return true;
    };
    if (ring && this.sink.native) this.inlet = new Inlet(ring, raw.incoming, TUN_WINDOW / 2, () => this.topUp());
  }

  /**
   * The handle a tun device sends through first (see `TunDevice.setOutlet`),
   * once `useOutlet` has said what it must leave to JavaScript; undefined
   * when this session has none (a jump host's stream, not our socket).
   */
  useOutlet(filter: OutletFilter): NativeHandle | undefined {
    if (!this.outlet || this.closed) return undefined;
    this.outlet.use(filter);
    return this.outlet.handle;
  }

  /**
   * Reads the SSH socket in C from the next packet boundary, writing the
   * tun packets to `use.tunFd` (see inlet.ts), where this session can (not
   * over a jump host's stream, only with keys that are ours).
   */
  useInlet(use: InletUse): void {
    if (!this.closed) this.inlet?.use(use);
  }

  /** Tun packets arriving go to `onPacket` (JavaScript) again. */
  stopInlet(): void {
    this.inlet?.stopTun();
  }

  /** While a probe waits for its reply, ICMP comes to `onPacket`. */
  set probing(on: boolean) {
    if (this.inlet) this.inlet.probing = on;
  }

  /** Whether tun packets are sealed (outbound) and opened (inbound) in C now. */
  get native(): { outbound: boolean; inbound: boolean } {
    return { outbound: this.outlet?.enabled ?? false, inbound: this.inlet?.active ?? false };
  }

  /** Packets the inlet wrote to the tun device (and refused) on this channel. */
  get inletCounts(): { packets: number; bytes: number; malformed: number; dropped: number; spoofed: number } {
    return this.inlet?.counts ?? { packets: 0, bytes: 0, malformed: 0, dropped: 0, spoofed: 0 };
  }

  /** Packets and bytes the outlet has sent on this channel. */
  get outletSent(): { packets: number; bytes: number } {
    return this.outlet?.sent ?? { packets: 0, bytes: 0 };
  }

  /**
   * The largest framed packet the peer accepts in one message: sshd counts a
   * datagram's 4-byte length prefix against its maximum packet too.
   */
  get maxPacket(): number {
    return this.raw.outgoing.packetSize - 4;
  }

  /**
   * Sends one framed packet as one CHANNEL_DATA. Returns false, sending
   * nothing, when the peer's window or the socket has no room; `onWritable`
   * fires once there is. Packets larger than the peer's maximum can never be
   * sent and must be dropped by the caller (checked against `maxPacket`).
   */
  send(framed: Uint8Array): boolean {
    const out = this.raw.outgoing;
    if (out.state !== 'open') return true; // closing: drop, like a dead link
    if (framed.length > out.window) {
      this.waitForWindow();
      return false;
    }
    if (this.sink.queued > SOCKET_HIGH_WATER) {
      this.waitForDrain();
      return false;
    }
    if (!this.writer.add(out.id, framed)) {
      // ssh2 sends this one (key exchange under way, another cipher): what is sealed goes first.
      this.writer.flush();
      this.internals._protocol.channelData(out.id, framed);
    }
    out.window -= framed.length;
    return true;
  }

  /**
   * Brackets a run of sends so one tun batch leaves as one socket write
   * instead of a syscall per packet (corked too, for packets ssh2 sends).
   */
  batch(fn: () => void): void {
    this.sink.batch(() => this.writer.batch(fn));
  }

  /** Tops our window up once it is below half (sshd drops what does not fit). */
  private topUp(): void {
    const raw = this.raw;
    const window = raw.incoming.window;
    if (window < TUN_WINDOW / 2 && raw.outgoing.state === 'open') {
      this.internals._protocol.channelWindowAdjust(raw.outgoing.id, TUN_WINDOW - window);
      raw.incoming.window = TUN_WINDOW;
    }
  }

  close(): void {
    if (this.closed) return;
    if (this.raw.outgoing.state === 'open') this.raw.close();
    this.handleClose();
  }

  private waitForWindow(): void {
    if (this.waiting) return;
    this.waiting = true;
    // ssh2's WINDOW_ADJUST handler calls _chunkcb when _waitWindow is set and no _chunk is pending.
    this.raw._chunk = undefined;
    this.raw._chunkcb = () => {
      this.raw._chunkcb = undefined;
      this.wake();
    };
    this.raw._waitWindow = true;
  }

  private waitForDrain(): void {
    if (this.waiting) return;
    this.waiting = true;
    this.sink.onceDrained(() => this.wake());
  }

  private wake(): void {
    this.waiting = false;
    if (!this.closed) this.onWritable();
  }

  private handleClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.outlet?.close();
    this.inlet?.stopTun();
    readRingOf(this.client)?.untrust(this.raw.incoming.id);
    this.onClose();
  }
}

/** Opens a point-to-point tun channel to remote unit `unit` (the remote device is tun<unit>). */
export function openTunChannel(client: Client, unit: number, timeoutMs = 10_000): Promise<TunChannel> {
  const internals = internalsOf(client);
  // sshd explains a refused tun channel only in SSH_MSG_DEBUG ("Server has
  // rejected tunnel device forwarding" vs "Failed to open the tunnel device").
  const handlers = internals._protocol._handlers;
  const previousDebug = handlers.DEBUG;
  let serverSays: string | undefined;
  handlers.DEBUG = (p, display, msg) => {
    serverSays ??= msg;
    previousDebug?.(p, display, msg);
  };
  return new Promise<TunChannel>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      reject(new TunChannelError(`sshd did not answer the tun@openssh.com channel open within ${timeoutMs} ms`, undefined));
    }, timeoutMs);
    const callback: ChannelOpenCallback = Object.assign(
      (err: (Error & { reason?: number }) | undefined, raw: RawChannel): void => {
        clearTimeout(timer);
        if (done) {
          if (!err) raw.close();
          return;
        }
        done = true;
        if (err) {
          reject(new TunChannelError(err.message.replace(/^\(SSH\) /, ''), err.reason, serverSays));
          return;
        }
        resolve(new TunChannel(raw, client, unit));
      },
      { type: 'tun@openssh.com' },
    );
    const localId = internals._chanMgr.add(callback);
    if (localId === -1) {
      clearTimeout(timer);
      reject(new TunChannelError('no free SSH channel ids', undefined));
      return;
    }
    const type = 'tun@openssh.com';
    const w = internals._protocol._packetRW.write;
    let p = w.allocStart;
    const packet = w.alloc(1 + 4 + type.length + 4 + 4 + 4 + 4 + 4);
    packet[p] = MSG_CHANNEL_OPEN;
    packet.writeUInt32BE(type.length, ++p);
    packet.write(type, (p += 4), 'latin1');
    packet.writeUInt32BE(localId, (p += type.length));
    packet.writeUInt32BE(TUN_WINDOW, (p += 4));
    packet.writeUInt32BE(CHANNEL_PACKET_SIZE, (p += 4));
    packet.writeUInt32BE(TUN_MODE_POINTOPOINT, (p += 4));
    packet.writeUInt32BE(unit, p + 4);
    sendPacket(internals._protocol, w.finalize(packet));
  }).finally(() => {
    handlers.DEBUG = previousDebug;
  });
}
