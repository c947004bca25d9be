import type { Socket } from 'node:net';
import type { Client } from 'ssh2';
import type { OpenerInstance, SealerInstance } from '../native/addon.js';
import { countedBy } from './backing.js';
import { ChannelEnds } from './channel.js';
import {
  canSealInPlace,
  CHANNEL_PACKET_SIZE,
  internalsOf,
  isOpener,
  isSealer,
  plainReader,
  protocolOf,
  sendPacket,
  type ChannelOpenCallback,
  type OnPayload,
  type RawChannel,
  type Ssh2Decipher,
  type Ssh2Protocol,
} from './privates.js';

/**
 * The hooks on one SSH connection (ssh2's Client). Each is named in
 * docs/ARCHITECTURE.md ("The ssh2 seam") and has a contract test running
 * ssh2's own Client and Server over a socket pair, with a rekey
 * (test/unit/ssh2Seam.test.ts).
 */

/** Stops ssh2's per-packet debug lines once the handshake (what -vv is for) is done. */
export function quietAfterHandshake(client: Client): void {
  protocolOf(client)._debug = undefined;
}

/* ---- route writes --------------------------------------------------------- */

/** The socket ssh2 writes to, its fd when it is a socket of ours, and whether nothing is queued on it. */
export function transportOf(client: Client): { socket: Socket; fd: number | undefined; idle: boolean } {
  const sock = internalsOf(client)._sock;
  const fd = sock._handle?.fd;
  return { socket: sock, fd: typeof fd === 'number' && fd >= 0 ? fd : undefined, idle: sock.writableLength === 0 && sock._handle?.writeQueueSize === 0 };
}

/**
 * Hook "route writes": every packet ssh2 seals goes to `send` instead of its
 * socket (the cipher's onWrite, which new ciphers copy from the protocol at
 * each key exchange).
 */
export function routeWrites(client: Client, send: (data: Uint8Array) => void): void {
  const proto = protocolOf(client);
  proto._onWrite = send;
  if (proto._cipher) proto._cipher._onWrite = send;
}

/* ---- seal in place (the channel-data writer) ------------------------------ */

/** Seals whole packets in place with the connection's current outbound keys. */
export interface InPlaceSealer {
  /** The block size when a packet may be sealed here now; 0 when ssh2 must send it (key exchange, compression, another cipher). */
  block(): number;
  /** Seals `packet` (length field to tag) in place with the current keys and counts it. */
  seal(packet: Buffer, block: number): void;
}

/** The sealer over a protocol object (box.ts builds one without a connection). */
export function inPlaceSealerOf(proto: Ssh2Protocol): InPlaceSealer {
  return {
    block: () => canSealInPlace(proto),
    seal(packet, block) {
      const cipher = proto._cipher;
      if (block === 16) cipher._instance!.encrypt(packet);
      else cipher._instance!.encrypt(packet, cipher.outSeqno);
      cipher.outSeqno = (cipher.outSeqno + 1) >>> 0;
    },
  };
}

export function inPlaceSealer(client: Client): InPlaceSealer {
  return inPlaceSealerOf(protocolOf(client));
}

/**
 * Hook "swap the cipher", outbound: `changed` runs whenever a key exchange
 * starts or ends and when new keys take over (ssh2 sets `_kexinit` and
 * `_cipher`); `sealerNow` says whether ours seals whole packets now.
 */
export function watchKeysOut(client: Client, changed: () => void): void {
  const proto = protocolOf(client);
  for (const key of ['_kexinit', '_cipher'] as const) {
    let value: unknown = proto[key];
    Object.defineProperty(proto, key, {
      configurable: true,
      enumerable: true,
      get: () => value,
      set: (v: unknown) => {
        value = v;
        changed();
      },
    });
  }
}

/** The addon's Sealer when it seals this connection's packets and a whole packet may be sealed outside ssh2 now. */
export function sealerNow(client: Client): SealerInstance | null {
  const proto = protocolOf(client);
  const instance = proto._cipher._instance;
  return isSealer(instance) && canSealInPlace(proto) > 0 ? instance : null;
}

/** ssh2's outbound sequence number follows `sealer`'s count (which includes packets sealed in C). */
export function countOutbound(client: Client, sealer: SealerInstance): void {
  countedBy(protocolOf(client)._cipher, 'outSeqno', sealer);
}

/* ---- filter payloads, and reading in someone else's place ---------------- */

export type PayloadVerdict = boolean | 'consumed';

/**
 * Hook "filter payloads": every payload ssh2's decipher hands on goes
 * through `keep` first, and is copied unless it says it may be used in
 * place (true) or has taken it already ('consumed'). ssh2 replaces the
 * decipher at each key exchange and swaps its `_onPayload` during one, so
 * both assignments are intercepted; `keysIn` runs with each new decipher.
 */
export function filterPayloads(client: Client, keep: (payload: Buffer) => PayloadVerdict, keysIn: () => void): void {
  const proto = protocolOf(client);
  const wrap =
    (fn: OnPayload): OnPayload =>
    (payload) => {
      const verdict = keep(payload);
      if (verdict === 'consumed') return undefined;
      return fn(verdict ? payload : Buffer.from(payload));
    };
  const hook = (decipher: Ssh2Decipher): void => {
    let current = wrap(decipher._onPayload);
    Object.defineProperty(decipher, '_onPayload', {
      configurable: true,
      get: () => current,
      set: (fn: OnPayload) => {
        current = wrap(fn);
      },
    });
  };
  let decipher = proto._decipher;
  if (decipher) hook(decipher);
  Object.defineProperty(proto, '_decipher', {
    configurable: true,
    get: () => decipher,
    set: (next: Ssh2Decipher | undefined) => {
      decipher = next;
      if (next) hook(next);
      keysIn();
    },
  });
}

/** Whether ssh2 reads with its plain reader (no compression in the way). */
export function readsPlain(client: Client): boolean {
  return plainReader(protocolOf(client));
}

/** Hands ssh2 bytes read from its socket, as its own reader would. */
export function parse(client: Client, chunk: Buffer, n: number): void {
  protocolOf(client).parse(chunk, 0, n);
}

/** Hands ssh2 one payload opened elsewhere (C), as its decipher would have. */
export function dispatchPayload(client: Client, payload: Buffer): void {
  protocolOf(client)._decipher?._onPayload(payload);
}

/** The packet ssh2's decipher holds half-read, if any: possibly a view of the last read. */
export function heldPacket(client: Client): Uint8Array | null {
  return protocolOf(client)._decipher?._packet ?? null;
}

/** Whether ssh2's decipher stands between packets: the next byte read starts a packet's length. */
export function atPacketBoundary(client: Client): boolean {
  return protocolOf(client)._decipher?._lenBytes === 0;
}

/** Hook "swap the cipher", inbound: the addon's Opener when it opens this connection's packets now. */
export function openerNow(client: Client): OpenerInstance | null {
  const instance = protocolOf(client)._decipher?._instance;
  return isOpener(instance) ? instance : null;
}

/** ssh2's inbound sequence number follows `opener`'s count (which includes packets opened in C). */
export function countInbound(client: Client, opener: OpenerInstance): void {
  const decipher = protocolOf(client)._decipher;
  if (decipher) countedBy(decipher, 'inSeqno', opener);
}

/* ---- channels ssh2 has no API for ---------------------------------------- */

const MSG_CHANNEL_OPEN = 90;

/**
 * Opens a channel of `type` (RFC 4254 5.1) with `window` and ssh2's
 * maximum packet, `extra` being the type-specific data; `done` gets its
 * ends, or the refusal (`reason` set). Returns false when there is no free
 * channel id.
 */
export function openChannel(
  client: Client,
  type: string,
  window: number,
  extra: Uint8Array,
  done: (err: (Error & { reason?: number }) | undefined, ends: ChannelEnds | undefined) => void,
): boolean {
  const { _chanMgr: chanMgr, _protocol: proto } = internalsOf(client);
  const callback: ChannelOpenCallback = Object.assign(
    (err: (Error & { reason?: number }) | undefined, raw: RawChannel) => done(err, err ? undefined : new ChannelEnds(raw, client)),
    { type },
  );
  const localId = chanMgr.add(callback);
  if (localId === -1) return false;
  const w = proto._packetRW.write;
  let p = w.allocStart;
  const typeLen = Buffer.byteLength(type, 'latin1');
  const packet = w.alloc(1 + 4 + typeLen + 4 + 4 + 4 + extra.length);
  packet[p] = MSG_CHANNEL_OPEN;
  packet.writeUInt32BE(typeLen, ++p);
  packet.write(type, (p += 4), 'latin1');
  packet.writeUInt32BE(localId, (p += typeLen));
  packet.writeUInt32BE(window, (p += 4));
  packet.writeUInt32BE(CHANNEL_PACKET_SIZE, (p += 4));
  packet.set(extra, p + 4);
  sendPacket(proto, w.finalize(packet));
  return true;
}

/**
 * What the server says in SSH_MSG_DEBUG goes to `listen` (sshd explains a
 * refused tun channel only there) until the returned function is called.
 */
export function serverDebug(client: Client, listen: (msg: string) => void): () => void {
  const handlers = protocolOf(client)._handlers;
  const previous = handlers.DEBUG;
  handlers.DEBUG = (p, display, msg) => {
    listen(msg);
    previous?.(p, display, msg);
  };
  return () => {
    handlers.DEBUG = previous;
  };
}
