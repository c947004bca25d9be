import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type * as Ssh2 from 'ssh2';
import { loadAddon, type OpenerInstance, type SealerInstance } from '../native/addon.js';
import { sealerInstalled } from './load.js';

/**
 * ssh2 1.17.0's private fields, typed once, for the hooks of this folder
 * only (connection.ts, channel.ts): nothing outside src/ssh2/ imports this.
 */

const require = createRequire(import.meta.url);

/** ssh2's packet (de)compression stages; plain ones mean no compression is in the way. */
const zlib = require('ssh2/lib/protocol/zlib.js') as { PacketWriter: new (...args: never[]) => unknown; PacketReader: new (...args: never[]) => unknown };
const protocolUtils = require('ssh2/lib/protocol/utils.js') as { sendPacket(proto: Ssh2Protocol, packet: Buffer): boolean };
const channelConsts = require('ssh2/lib/Channel.js') as { PACKET_SIZE: number };

/** ssh2's crypto module: cipher and decipher factories. */
export const sshCrypto = require('ssh2/lib/protocol/crypto.js') as {
  init: Promise<void>;
  CIPHER_INFO: Record<string, unknown>;
  createCipher(config: object): Ssh2Cipher;
  createDecipher(config: object): { decrypt(data: Buffer, p: number, len: number): unknown };
};

/** ssh2's plain packet writer. */
export const PacketWriter = zlib.PacketWriter as new (proto: unknown) => Ssh2PacketWriter;

/** The maximum packet size ssh2 announces for its channels. */
export const CHANNEL_PACKET_SIZE = channelConsts.PACKET_SIZE;

/** Sends an already built packet as ssh2 does (sealed by the current cipher). */
export function sendPacket(proto: Ssh2Protocol, packet: Buffer): boolean {
  return protocolUtils.sendPacket(proto, packet);
}

/** The cipher sealing outbound packets now (replaced at each key exchange). */
export interface Ssh2Cipher {
  outSeqno: number;
  _dead?: boolean;
  /** The binding's instance: ours (a Sealer) for AES-GCM when load.ts's `install` ran. */
  _instance?: { encrypt(packet: Uint8Array, seqno?: number): void };
  /** Where sealed packets go; copied from the protocol at each key exchange. */
  _onWrite?: (data: Uint8Array) => void;
}

export type OnPayload = (payload: Buffer) => unknown;

/** The decipher opening inbound packets now (replaced at each key exchange). */
export interface Ssh2Decipher {
  _onPayload: OnPayload;
  inSeqno: number;
  /** A packet being assembled; may be a view of the last read. */
  _packet: Uint8Array | null;
  /** Bytes of the next packet's length field read so far (AES-GCM): 0 between packets. */
  _lenBytes?: number;
  _instance?: unknown;
}

/** ssh2's packet writer: builds a packet in its own buffer. */
export interface Ssh2PacketWriter {
  allocStart: number;
  alloc(n: number): Buffer;
  finalize(p: Buffer): Buffer;
}

/** ssh2's protocol object (the SSH transport of one connection). */
export interface Ssh2Protocol {
  /** Set while a key exchange is under way, cleared at its end. */
  _kexinit: unknown;
  _cipher: Ssh2Cipher;
  /** Set once the identification line has been read, replaced at each key exchange. */
  _decipher: Ssh2Decipher | undefined;
  _packetRW: { read: unknown; write: Ssh2PacketWriter };
  /** ssh2's debug callback: called with a formatted line for every packet while set. */
  _debug: ((msg: string) => void) | undefined;
  _handlers: { DEBUG?: ((p: unknown, display: boolean, msg: string) => void) | undefined };
  _onWrite: (data: Uint8Array) => void;
  parse(chunk: Buffer, start: number, end: number): void;
  channelData(id: number, data: Uint8Array): void;
  channelWindowAdjust(id: number, amount: number): void;
}

/** ssh2's record of a channel's receiving side (what we allow the peer). */
export interface IncomingSide {
  id: number;
  window: number;
  state: string;
}

/** ssh2's record of a channel's sending side (what the peer allows us). */
export interface OutgoingSide {
  id: number;
  window: number;
  packetSize: number;
  state: string;
}

/** A channel as ssh2's channel manager hands it to an open callback (or its Channel stream: the same fields). */
export interface RawChannel {
  incoming: IncomingSide;
  outgoing: OutgoingSide;
  push(chunk: Buffer | null): boolean;
  close(): void;
  /** Set: ssh2's WINDOW_ADJUST handler calls `_chunkcb` when no `_chunk` is pending. */
  _waitWindow: boolean;
  _chunk: Buffer | undefined;
  _chunkcb: (() => void) | undefined;
}

export type ChannelOpenCallback = ((err: (Error & { reason?: number }) | undefined, ch: RawChannel) => void) & { type?: string };

/** A client's private side. */
export interface ClientInternals {
  _sock: Socket & { _handle?: { fd?: number; writeQueueSize?: number } | null };
  _protocol: Ssh2Protocol;
  _chanMgr: { add(cb: ChannelOpenCallback): number };
}

export function internalsOf(client: Ssh2.Client): ClientInternals {
  return client as unknown as ClientInternals;
}

export function protocolOf(client: Ssh2.Client): Ssh2Protocol {
  return (client as unknown as ClientInternals)._protocol;
}

/** Whether ssh2 reads with its plain reader (no compression): payloads are parsed where they land. */
export function plainReader(proto: Ssh2Protocol): boolean {
  return proto._packetRW.read instanceof zlib.PacketReader;
}

/** Cipher classes of ssh2 that seal a whole packet in place, and their block size. */
const IN_PLACE: ReadonlyMap<string, number> = new Map([
  ['AESGCMCipherBinding', 16],
  ['ChaChaPolyCipherBinding', 8],
]);

/**
 * The block size when a whole packet may be built and sealed in place
 * outside ssh2 right now: no key exchange under way, no compression, and a
 * live cipher of ssh2's native AEAD bindings (aes*-gcm, chacha20-poly1305).
 * 0 otherwise: ssh2 must send it itself.
 */
export function canSealInPlace(proto: Ssh2Protocol): number {
  const cipher = proto._cipher;
  if (proto._kexinit !== undefined || cipher._dead || !cipher._instance) return 0;
  if (!(proto._packetRW.write instanceof zlib.PacketWriter)) return 0;
  return IN_PLACE.get(cipher.constructor.name) ?? 0;
}

/** Whether a cipher instance ssh2 made is ours. */
export function isSealer(instance: unknown): instance is SealerInstance {
  return sealerInstalled && instance instanceof loadAddon().Sealer;
}

/** Whether a decipher instance ssh2 made is ours. */
export function isOpener(instance: unknown): instance is OpenerInstance {
  return sealerInstalled && instance instanceof loadAddon().Opener;
}
