import { randomFillSync } from 'node:crypto';
import type { InPlaceSealer } from '../../ssh2/connection.js';
import type { ByteSink } from './socketSink.js';

/**
 * Writes CHANNEL_DATA packets for the tun channel into a few reused slabs,
 * sealed in place, and hands the socket one region per batch.
 *
 * ssh2's own path allocates a fresh buffer for every packet and fills its
 * padding with a call to the CSPRNG each time. At 20,000 packets a second
 * those buffers are external memory V8 only reclaims with full collections:
 * the profile was a fifth garbage collection, and the process held ~40 MB of
 * dead packets. Here the bytes land in memory that is reused once the socket
 * is done with it, so the packet path allocates nothing but small views.
 *
 * Only ssh2's native AEAD ciphers are sealed here (aes*-gcm and
 * chacha20-poly1305, the ones cloudbridge offers first); during a key
 * exchange, or with compression or any other cipher, `add` declines and the
 * caller sends through ssh2 as before (`InPlaceSealer.block` in
 * src/ssh2/connection.ts).
 */

const MSG_CHANNEL_DATA = 94;
/** uint32 length, byte padding length, then msg, recipient, data length. */
const HEADER = 4 + 1 + 1 + 4 + 4;
const TAG = 16;
const SLAB_SIZE = 1024 * 1024;

class Slab {
  readonly buf: Buffer;
  used = 0;
  /** Regions handed to the socket and not yet written. */
  pending = 0;
  readonly release = (): void => {
    this.pending--;
  };

  constructor(size: number) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }
}

export class ChannelDataWriter {
  private readonly slabs: Slab[] = [];
  private cur: Slab;
  /** Start of the bytes in `cur` not yet handed to the socket. */
  private start = 0;
  private batching = false;
  private readonly pad = Buffer.allocUnsafe(4096);
  private padAt = this.pad.length;

  constructor(
    private readonly sealer: InPlaceSealer,
    private readonly sink: ByteSink,
  ) {
    this.cur = new Slab(SLAB_SIZE);
    this.slabs.push(this.cur);
  }

  /**
   * Seals one CHANNEL_DATA to `recipient` carrying `data`. Returns false,
   * doing nothing, when ssh2 must send it instead (see the module comment).
   */
  add(recipient: number, data: Uint8Array): boolean {
    const block = this.sealer.block();
    if (block === 0) return false;

    // RFC 4253 section 6: packet length excludes itself; padding 4..block+3
    // bytes so that all but the length field is a multiple of the block.
    const body = HEADER + data.length;
    let padLen = block - ((body - 4) & (block - 1));
    if (padLen < 4) padLen += block;
    const total = body + padLen + TAG;
    if (this.cur.used + total > this.cur.buf.length) this.nextSlab(total);

    const buf = this.cur.buf;
    const p = this.cur.used;
    buf.writeUInt32BE(body + padLen - 4, p);
    buf[p + 4] = padLen;
    buf[p + 5] = MSG_CHANNEL_DATA;
    buf.writeUInt32BE(recipient, p + 6);
    buf.writeUInt32BE(data.length, p + 10);
    buf.set(data, p + HEADER);
    this.fillPadding(buf, p + body, padLen);
    const packet = buf.subarray(p, p + total);
    this.sealer.seal(packet, block);
    this.cur.used += total;
    if (!this.batching) this.flush();
    return true;
  }

  /** Runs `fn`, handing everything it sealed to the socket as one write. */
  batch(fn: () => void): void {
    this.batching = true;
    try {
      fn();
    } finally {
      this.batching = false;
      this.flush();
    }
  }

  /** Hands what is sealed to the socket; must run before ssh2 sends anything itself. */
  flush(): void {
    const slab = this.cur;
    if (slab.used === this.start) return;
    const region = slab.buf.subarray(this.start, slab.used);
    this.start = slab.used;
    slab.pending++;
    this.sink.write(region, slab.release);
  }

  private nextSlab(atLeast: number): void {
    this.flush();
    let next = this.slabs.find((s) => s.pending === 0 && s.buf.length >= atLeast);
    if (!next) {
      // Bounded in practice: the channel stops sending past a few MB queued on the socket.
      next = new Slab(Math.max(SLAB_SIZE, atLeast));
      this.slabs.push(next);
    }
    next.used = 0;
    this.cur = next;
    this.start = 0;
  }

  /** Padding is random bytes (RFC 4253), taken from a pool refilled 4 KB at a time. */
  private fillPadding(buf: Buffer, at: number, n: number): void {
    if (this.padAt + n > this.pad.length) {
      randomFillSync(this.pad);
      this.padAt = 0;
    }
    this.pad.copy(buf, at, this.padAt, this.padAt + n);
    this.padAt += n;
  }
}
