import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** An opaque handle owned by the addon. */
export type NativeHandle = object & { readonly __native: unique symbol };

/** AES-GCM as ssh2's AESGCMCipher (same constructor and methods), counting what it seals. */
export interface SealerInstance {
  encrypt(packet: Uint8Array): void;
  free(): void;
  readonly count: number;
}

/** AES-GCM opening as ssh2's AESGCMDecipher (same constructor and methods), counting what it opens. */
export interface OpenerInstance {
  decrypt(packet: Uint8Array, length: number, tag: Uint8Array): void;
  free(): void;
  readonly count: number;
}

/** The C side of cloudbridge (native/): the tun device and the outbound tun channel path. */
export interface Addon {
  open(name: string): [number, string];
  write(fd: number, framed: Uint8Array): number;
  close(fd: number): void;
  reader(
    fd: number,
    arena: Buffer,
    lengths: Uint32Array,
    packetMax: number,
    cb: (count: number, errno: number, first: number, firstOffset: number) => void,
  ): NativeHandle;
  readerStart(h: NativeHandle): void;
  readerStop(h: NativeHandle): void;
  readerClose(h: NativeHandle): void;
  readerOutlet(h: NativeHandle, outlet: NativeHandle | null): void;
  Sealer: new (sslName: string, key: Buffer, iv: Buffer) => SealerInstance;
  writer(fd: number, queued: Float64Array, onDrain: () => void): NativeHandle;
  writerWrite(h: NativeHandle, bytes: Uint8Array): void;
  writerClose(h: NativeHandle): void;
  outlet(writer: NativeHandle, ctl: Int32Array, window: Float64Array): NativeHandle;
  outletSealer(h: NativeHandle, sealer: SealerInstance | null): void;
  outletClose(h: NativeHandle): void;
  Opener: new (sslName: string, key: Buffer, iv: Buffer) => OpenerInstance;
  inlet(
    socketFd: number,
    tunFd: number,
    ctl: Int32Array,
    num: Float64Array,
    onPayload: (payload: Buffer) => void,
    onEnd: (errno: number) => void,
    onWindow: () => void,
  ): NativeHandle;
  inletOpener(h: NativeHandle, opener: OpenerInstance | null): void;
  inletStart(h: NativeHandle): void;
  inletStop(h: NativeHandle): Buffer;
  inletClose(h: NativeHandle): void;
}

const require = createRequire(import.meta.url);
let addon: Addon | undefined;

export function loadAddon(): Addon {
  if (!addon) {
    // dist/src/native/addon.js -> <root>/native/build/Release
    const file = fileURLToPath(new URL('../../../native/build/Release/cloudbridge_tun.node', import.meta.url));
    try {
      addon = require(file) as Addon;
    } catch (err) {
      throw new Error(`native addon not built (${file}): run "npm run build" (${(err as Error).message.split('\n')[0]})`);
    }
  }
  return addon;
}
