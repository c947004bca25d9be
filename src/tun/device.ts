import { loadAddon, type NativeHandle } from '../native/addon.js';

/**
 * Called once per tun wake-up with up to `lengths.length` framed packets
 * packed back to back in `arena`; those before `first` (which starts at
 * byte `offset`) were already sent by the outlet.
 */
export type BatchHandler = (arena: Buffer, lengths: Uint32Array, count: number, first: number, offset: number) => void;

const MAX_BATCH = 64;

/**
 * A kernel tun device (Linux `/dev/net/tun`, macOS `utun`). It exists while
 * this object's fd is open: when the process dies, the kernel removes the
 * device and every address and route on it.
 */
export class TunDevice {
  private reader: NativeHandle | undefined;
  private outlet: NativeHandle | undefined;
  private closed = false;

  private constructor(
    readonly fd: number,
    readonly name: string,
  ) {}

  static open(name: string): TunDevice {
    const [fd, actual] = loadAddon().open(name);
    return new TunDevice(fd, actual);
  }

  /** A device opened by another process (the root helper) and handed over: this object owns the fd from here on. */
  static adopt(fd: number, name: string): TunDevice {
    return new TunDevice(fd, name);
  }

  /** Starts delivering packets of at most `mtu` bytes (framed: +4). */
  startReading(mtu: number, onBatch: BatchHandler, onError: (errno: number) => void): void {
    if (this.reader) throw new Error('already reading');
    const arena = Buffer.allocUnsafe(Math.max(256 * 1024, (mtu + 4) * MAX_BATCH));
    const lengths = new Uint32Array(MAX_BATCH);
    this.reader = loadAddon().reader(this.fd, arena, lengths, mtu, (count, errno, first, offset) => {
      if (count > first) onBatch(arena, lengths, count, first, offset);
      if (errno !== 0) onError(errno);
    });
    if (this.outlet) loadAddon().readerOutlet(this.reader, this.outlet);
    loadAddon().readerStart(this.reader);
  }

  /**
   * Packets read go to `outlet` (a tun channel's C side) before JavaScript
   * sees what it left; undefined: all of them come to JavaScript.
   */
  setOutlet(outlet: NativeHandle | undefined): void {
    this.outlet = outlet;
    if (this.reader && !this.closed) loadAddon().readerOutlet(this.reader, outlet ?? null);
  }

  pause(): void {
    if (this.reader && !this.closed) loadAddon().readerStop(this.reader);
  }

  resume(): void {
    if (this.reader && !this.closed) loadAddon().readerStart(this.reader);
  }

  /** Writes one framed packet; returns bytes written or a negative errno (the packet is dropped). */
  write(framed: Uint8Array): number {
    return loadAddon().write(this.fd, framed);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reader) loadAddon().readerClose(this.reader);
    loadAddon().close(this.fd);
  }
}
