import type { NativeHandle } from '../../native/addon.js';
import type { ChannelEnds } from '../../ssh2/channel.js';
import { openChannel, serverDebug } from '../../ssh2/connection.js';
import { ChannelFlow } from './flow.js';
import { Inlet, type InletUse } from './inlet.js';
import type { SshLink } from './link.js';
import { Outlet, type OutletFilter } from './outlet.js';

/**
 * A `tun@openssh.com` channel (what `ssh -w` opens) with datagram semantics:
 * one IP packet, framed with its 4-byte OpenBSD address family, per
 * CHANNEL_DATA, in both directions, never split.
 *
 * ssh2 has no API for this channel type and its stream interface splits
 * writes at the peer's window and packet size: the channel is opened and
 * driven through the adapter's hooks (src/ssh2/), its flow control is
 * flow.ts's.
 */

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

  /** sshd said no by policy (PermitTunnel, or a key's no-port-forwarding), not for want of a device. */
  get refusedByPolicy(): boolean {
    return this.serverSays !== undefined && /rejected tunnel/i.test(this.serverSays);
  }
}

export class TunChannel {
  /** Called with each framed packet that arrives; the buffer is only valid during the call. */
  onPacket: (framed: Buffer) => void = () => {};
  /** Called once after `send` returned false, when sending may succeed again. */
  onWritable: () => void = () => {};
  /** Called once when the peer closes the channel or the connection goes. */
  onClose: () => void = () => {};
  private closed = false;
  private probeWaiting = false;
  private readonly flow: ChannelFlow;
  private readonly outlet: Outlet | undefined;
  private readonly inlet: Inlet | undefined;

  constructor(
    private readonly ends: ChannelEnds,
    link: SshLink,
    readonly unit: number,
  ) {
    const flow = (this.flow = new ChannelFlow(link, ends, { window: TUN_WINDOW, highWater: SOCKET_HIGH_WATER }));
    flow.onWritable = () => {
      if (!this.closed) this.onWritable();
    };
    const native = link.sink.native;
    if (native) this.outlet = new Outlet(native, ends, link.client, SOCKET_HIGH_WATER);
    // the window we announced in CHANNEL_OPEN (ssh2 recorded its own)
    ends.ourWindow = TUN_WINDOW;
    flow.receive(
      (framed) => this.onPacket(framed),
      () => this.handleClose(),
    );
    if (link.ring && native) this.inlet = new Inlet(link.ring, ends, TUN_WINDOW / 2, () => flow.topUp());
  }

  /**
   * The handle a tun device sends through first (see `TunDevice.setOutlet`),
   * once `useOutlet` has said what it must leave to JavaScript; undefined
   * when the connection's socket is not one the addon writes (see makeSink:
   * something was queued on it when the sink was made).
   */
  useOutlet(filter: OutletFilter): NativeHandle | undefined {
    if (!this.outlet || this.closed) return undefined;
    this.outlet.use(filter);
    return this.outlet.handle;
  }

  /**
   * Reads the SSH socket in C from the next packet boundary, writing the
   * tun packets to `use.tunFd` (see inlet.ts), where this session can (a
   * socket of ours read through the read ring, keys that are ours).
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
    this.probeWaiting = on;
    if (this.inlet) this.inlet.probing = on;
  }

  get probing(): boolean {
    return this.probeWaiting;
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
    return this.ends.peerMaxPacket - 4;
  }

  /**
   * Sends one framed packet as one CHANNEL_DATA. Returns false, sending
   * nothing, when the peer's window or the socket has no room; `onWritable`
   * fires once there is. Packets larger than the peer's maximum can never be
   * sent and must be dropped by the caller (checked against `maxPacket`).
   */
  send(framed: Uint8Array): boolean {
    if (!this.ends.sending) return true; // closing: drop, like a dead link
    if (this.flow.room(framed.length, true) === 0) return false;
    this.flow.send(framed);
    return true;
  }

  /**
   * Brackets a run of sends so one tun batch leaves as one socket write
   * instead of a syscall per packet (corked too, for packets ssh2 sends).
   */
  batch(fn: () => void): void {
    this.flow.batch(fn);
  }

  close(): void {
    if (this.closed) return;
    this.ends.close();
    this.handleClose();
  }

  private handleClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.outlet?.close();
    this.inlet?.stopTun();
    this.flow.close();
    this.onClose();
  }
}

/** Opens a point-to-point tun channel to remote unit `unit` (the remote device is tun<unit>). */
export function openTunChannel(link: SshLink, unit: number, timeoutMs = 10_000): Promise<TunChannel> {
  // sshd explains a refused tun channel only in SSH_MSG_DEBUG ("Server has
  // rejected tunnel device forwarding" vs "Failed to open the tunnel device").
  let serverSays: string | undefined;
  const stopListening = serverDebug(link.client, (msg) => {
    serverSays ??= msg;
  });
  return new Promise<TunChannel>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      reject(new TunChannelError(`sshd did not answer the tun@openssh.com channel open within ${timeoutMs} ms`, undefined));
    }, timeoutMs);
    // RFC 4254 has no tun channel; OpenSSH's PROTOCOL 2.3: uint32 mode, uint32 remote unit
    const extra = Buffer.alloc(8);
    extra.writeUInt32BE(TUN_MODE_POINTOPOINT, 0);
    extra.writeUInt32BE(unit, 4);
    const opened = openChannel(link.client, 'tun@openssh.com', TUN_WINDOW, extra, (err, ends) => {
      clearTimeout(timer);
      if (done) {
        ends?.close();
        return;
      }
      done = true;
      if (err || !ends) {
        reject(new TunChannelError((err?.message ?? 'channel open failed').replace(/^\(SSH\) /, ''), err?.reason, serverSays));
        return;
      }
      resolve(new TunChannel(ends, link, unit));
    });
    if (!opened) {
      clearTimeout(timer);
      done = true;
      reject(new TunChannelError('no free SSH channel ids', undefined));
    }
  }).finally(stopListening);
}
