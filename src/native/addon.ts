import { createRequire } from 'node:module';
import { buildAdvice, isPrebuild, locateAddon, probeLoad } from './locate.js';

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

/**
 * Indices into the typed arrays JavaScript and C share, as native/src/layout.h
 * names them (each with LEN, the array's length). The names are listed here
 * once more for the types; `loadAddon` refuses an addon whose layout lacks one.
 */
const LAYOUT_NAMES = {
  outletCtl: ['ENABLED', 'RECIPIENT', 'MAX_PACKET', 'DNS_ADDR', 'SYN_TO_JS', 'HIGH_WATER', 'OTHER_TO_JS', 'DNS6', 'DNS6_LOW'],
  outletNum: ['WINDOW', 'PACKETS', 'BYTES'],
  inletCtl: ['TUN_ON', 'RECIPIENT', 'PROBE', 'SYN_TO_JS'],
  inletNum: ['WINDOW', 'LOW_WATER', 'PACKETS', 'BYTES', 'MALFORMED', 'DROPPED', 'SPOOFED'],
} as const;
type Names = typeof LAYOUT_NAMES;
export type Layout = { readonly [K in keyof Names]: Readonly<Record<Names[K][number] | 'LEN', number>> };

/** The C side of cloudbridge (native/): the tun device and the outbound tun channel path. */
export interface Addon {
  readonly layout: Layout;
  /** What the inlet accepts as a framed tun packet (checkFramed's twin; for the parity test). */
  framedOk(bytes: Uint8Array): boolean;
  /** Whether the outlet and inlet take a frame for a TCP handshake (or too short to tell): isTcpSyn's twin, for the parity test. */
  tcpHandshake(bytes: Uint8Array): boolean;
  /** The outlet's IPv6 in-tunnel DNS filter: UDP to an address ending in the 32 bits `low` (packet.h udp6_to_low). */
  dns6Candidate(bytes: Uint8Array, low: number): boolean;
  /** The inlet's IPv6 probe filter: ICMPv6 or a fragment (packet.h icmp6_or_fragment). */
  probe6Candidate(bytes: Uint8Array): boolean;
  /** The inlet's source check on a frame (packet.h source_ok after framed_ok): sourceOk's twin, for the parity test. */
  sourceOk(bytes: Uint8Array, table: Uint32Array): boolean;
  /** Hands the outlet a batch as the tun reader does; returns how many it sealed and wrote (for the parity test). */
  outletSend(h: NativeHandle, arena: Uint8Array, lengths: Uint32Array): number;
  /** The allow-list's flow table, shared with C (FlowTable.shared() and the allow-list's hits). */
  flowTable(arrays: Readonly<Record<string, ArrayBufferView>>): NativeHandle;
  /** C's verdict on a packet: the rule of the live flow it belongs to (advanced), or -1 (for the parity test). */
  flowCheck(flows: NativeHandle, bytes: Uint8Array, outbound: boolean): number;
  outletFlows(h: NativeHandle, flows: NativeHandle | null): void;
  inletFlows(h: NativeHandle, flows: NativeHandle | null): void;
  /** The sources the remote end may speak for (datapath/sources.ts), held by the inlet. */
  inletSources(h: NativeHandle, table: Uint32Array): void;
  open(name: string): [number, string];
  /** A non-blocking unix datagram socket (journald's native protocol; Node's dgram is UDP only): fd or -errno. */
  dgramOpen(): number;
  /** One datagram to the socket at `path`: bytes sent or -errno (-EAGAIN: the receiver's queue is full). */
  dgramSend(fd: number, path: string, bytes: Uint8Array): number;
  /** A connected pair of unix stream sockets, both close-on-exec and blocking. */
  socketPair(): [number, number];
  /** Passes `fd` over the unix socket `sock` (SCM_RIGHTS, one byte with it): 0, or -errno. */
  fdSend(sock: number, fd: number): number;
  /** Receives one passed fd from `sock` (blocking): the fd, close-on-exec, or -errno (-EBADMSG: not exactly one). */
  fdRecv(sock: number): number;
  /** A socket bound to `address`:`port` (UDP, or TCP not yet listening), close-on-exec: its fd, or -errno. */
  bindInet(address: string, port: number, tcp: boolean): number;
  /** Who is at the other end of the unix stream socket `fd`: [pid, uid, gid] as the kernel says (SO_PEERCRED, getpeereid), or -errno. */
  peerCred(fd: number): [number, number, number] | number;
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
    const file = addonFile();
    let loaded: Addon;
    try {
      loaded = require(file) as Addon;
    } catch (err) {
      throw new Error(`cloudbridge's native addon ${file} did not load (${(err as Error).message.split('\n')[0]}); ${buildAdvice()}`, { cause: err });
    }
    const missing = layoutMismatch(loaded.layout);
    if (missing) throw new Error(`native addon ${file} does not match this cloudbridge (layout: ${missing}); ${buildAdvice()}`);
    addon = loaded;
  }
  return addon;
}

let located: string | undefined;

/** The addon's file (see locate.ts); a cross-built macOS prebuild is tried in another process before this one loads it. */
export function addonFile(): string {
  if (!located) {
    const file = locateAddon();
    if (process.platform === 'darwin' && isPrebuild(file)) {
      const why = probeLoad(file);
      if (why) throw new Error(`the prebuilt addon ${file} does not load on this Mac (${why}); ${buildAdvice()}`);
    }
    located = file;
  }
  return located;
}

/** What the addon's layout lacks of the names TypeScript uses, or undefined when it has them all. */
export function layoutMismatch(layout: Partial<Record<string, Partial<Record<string, unknown>>>> | undefined): string | undefined {
  for (const [array, names] of Object.entries(LAYOUT_NAMES)) {
    for (const name of [...names, 'LEN']) {
      if (typeof layout?.[array]?.[name] !== 'number') return `${array}.${name}`;
    }
  }
  return undefined;
}
