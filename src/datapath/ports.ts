import type { NativeHandle } from '../native/addon.js';
import type { BatchHandler } from '../tun/device.js';
import type { InletUse } from './ssh/inlet.js';
import type { OutletFilter } from './ssh/outlet.js';

/**
 * What the pump needs of its two ends, and no more: the tun device
 * (tun/device.ts's TunDevice) and the packet channel (ssh/tunChannel.ts's
 * TunChannel). Small on purpose, so the pump runs on fakes in one process
 * (test/unit/pump.test.ts), as wireguard-go's tuntest does for its device.
 */

export interface PacketDevice {
  /** The device's fd: the inlet writes tun packets there from C. */
  readonly fd: number;
  /** Starts delivering batches of framed packets of at most `mtu` bytes (+4). */
  startReading(mtu: number, onBatch: BatchHandler, onError: (errno: number) => void): void;
  /** Packets read go to `outlet` (a channel's C side) before the pump sees what it left. */
  setOutlet(outlet: NativeHandle | undefined): void;
  /** Stops reading (back pressure: the kernel queue, then TCP, wait). */
  pause(): void;
  resume(): void;
  /** Writes one framed packet; bytes written, or a negative errno (dropped). */
  write(framed: Uint8Array): number;
}

export interface PacketChannel {
  /** Each framed packet that arrives; the buffer is valid during the call only. */
  onPacket: (framed: Buffer) => void;
  /** Once after `send` returned false, when sending may succeed again. */
  onWritable: () => void;
  /** The largest framed packet the peer takes in one message. */
  readonly maxPacket: number;
  /** Sends one framed packet whole; false (nothing sent) when there is no room now. */
  send(framed: Uint8Array): boolean;
  /** Runs `fn` with its sends leaving as one write. */
  batch(fn: () => void): void;
  /** The C side a device sends through first, leaving to JavaScript what `filter` says; none where the addon does not write the socket. */
  useOutlet(filter: OutletFilter): NativeHandle | undefined;
  /** Reads and writes inbound tun packets in C where the session allows. */
  useInlet(use: InletUse): void;
  /** Inbound tun packets come to `onPacket` again. */
  stopInlet(): void;
  /** While set, ICMP comes to `onPacket` (a probe waits for its reply). */
  probing: boolean;
  /** Whether C moves packets now, each way. */
  readonly native: { outbound: boolean; inbound: boolean };
  /** What C sent, and wrote or refused inbound. */
  readonly outletSent: { packets: number; bytes: number };
  readonly inletCounts: { packets: number; bytes: number; malformed: number; dropped: number; spoofed: number };
}
