import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface TunAddon {
  open(name: string): [number, string];
  write(fd: number, framed: Uint8Array): number;
  close(fd: number): void;
  reader(fd: number, arena: Buffer, lengths: Uint32Array, packetMax: number, cb: (count: number, errno: number) => void): object;
  readerStart(h: object): void;
  readerStop(h: object): void;
  readerClose(h: object): void;
}

const require = createRequire(import.meta.url);
let addon: TunAddon | undefined;

function loadAddon(): TunAddon {
  if (!addon) {
    // dist/src/tun/device.js -> <root>/native/build/Release
    const file = fileURLToPath(new URL('../../../native/build/Release/cloudbridge_tun.node', import.meta.url));
    try {
      addon = require(file) as TunAddon;
    } catch (err) {
      throw new Error(`native tun addon not built (${file}): run "npm run build" (${(err as Error).message.split('\n')[0]})`);
    }
  }
  return addon;
}

/** Called once per tun wake-up with up to `lengths.length` framed packets packed back to back in `arena`. */
export type BatchHandler = (arena: Buffer, lengths: Uint32Array, count: number) => void;

const MAX_BATCH = 64;

/**
 * A kernel tun device (Linux `/dev/net/tun`, macOS `utun`). It exists while
 * this object's fd is open: when the process dies, the kernel removes the
 * device and every address and route on it.
 */
export class TunDevice {
  private reader: object | undefined;
  private closed = false;

  private constructor(
    readonly fd: number,
    readonly name: string,
  ) {}

  static open(name: string): TunDevice {
    const [fd, actual] = loadAddon().open(name);
    return new TunDevice(fd, actual);
  }

  /** Starts delivering packets of at most `mtu` bytes (framed: +4). */
  startReading(mtu: number, onBatch: BatchHandler, onError: (errno: number) => void): void {
    if (this.reader) throw new Error('already reading');
    const arena = Buffer.allocUnsafe(Math.max(256 * 1024, (mtu + 4) * MAX_BATCH));
    const lengths = new Uint32Array(MAX_BATCH);
    this.reader = loadAddon().reader(this.fd, arena, lengths, mtu, (count, errno) => {
      if (count > 0) onBatch(arena, lengths, count);
      if (errno !== 0) onError(errno);
    });
    loadAddon().readerStart(this.reader);
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
