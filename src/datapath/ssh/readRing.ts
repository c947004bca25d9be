import net from 'node:net';
import type { Socket } from 'node:net';
import type { Client } from 'ssh2';
import type * as Ssh2Connection from '../../ssh2/connection.js';
import { socketHandle } from '../../util/socketHandle.js';

/**
 * The adapter's hooks the ring reads through (src/ssh2/connection.ts),
 * given with the client: the ring's module loads no part of ssh2, so a
 * connection can be opened while ssh2 loads (~50 ms here, src/ssh/transport.ts).
 */
export type RingHooks = Pick<typeof Ssh2Connection, 'atPacketBoundary' | 'dispatchPayload' | 'filterPayloads' | 'heldPacket' | 'parse' | 'readsPlain'>;

/**
 * The SSH connection's socket (TCP, or our end of a socket pair whose other
 * end is a ProxyCommand's or a jump process's stdin and stdout), read into
 * two buffers used in turn instead of a fresh buffer per read.
 *
 * Node hands every read to JavaScript in new external memory, which V8
 * reclaims only with full collections: downstream at 300 MB/s that was a
 * mark-compact every 80 ms (15% of the thread) and tens of MB of dead reads
 * held. Here tun packets are decrypted and written to the tun device
 * straight from the read buffer.
 *
 * ssh2 keeps views of what it parses, so reuse is made safe in three ways:
 * - until the session is authenticated (identification line, key exchange,
 *   authentication) every read is copied first;
 * - afterwards every message ssh2 sees is copied, except CHANNEL_DATA for the
 *   channels `trust`ed here, whose consumer is done with it on return (the
 *   tun channel: the packet is written to the tun device synchronously);
 * - a packet whose tail is still to come may be held by ssh2's decipher as a
 *   view of the buffer it arrived in; the next read goes to the other buffer.
 * What it needs of ssh2 are the adapter's hooks "filter payloads" and
 * reading in its place (src/ssh2/connection.ts), with their contract tests.
 */

const READ_SIZE = 256 * 1024;
const MSG_CHANNEL_DATA = 94;

/**
 * A socket over `fd` (which it then owns) whose reads go where `onread` says.
 * Node's Socket constructor takes onread as connect() does (net.js);
 * @types/node 20 leaves it out of the constructor's options.
 */
export function socketOnFd(fd: number, onread: net.OnReadOpts, writable: boolean): net.Socket {
  return new net.Socket({ fd, readable: true, writable, ...{ onread } } as net.SocketConstructorOpts);
}

export class ReadRing {
  readonly socket: Socket;
  private readonly buffers = [Buffer.allocUnsafeSlow(READ_SIZE), Buffer.allocUnsafeSlow(READ_SIZE)];
  private turn = 0;
  private client: Client | undefined;
  private hooks: RingHooks | undefined;
  /** Why the socket failed before a client took it (a refused connection): its error has no listener of ssh2's yet. */
  failure: Error | undefined;
  private zeroCopy = false;
  private trusted = -1;
  private consume: ((data: Buffer) => void) | undefined;
  private delivering = false;
  /** Who reads the socket from the next packet boundary on, instead of Node (see `handOver`). */
  private successor: (() => void) | undefined;
  private readonly keysWatchers: (() => void)[] = [];

  /** A TCP connection to host:port, or a socket already connected (`fd`, which it then owns). */
  constructor(to: { readonly host: string; readonly port: number } | { readonly fd: number }) {
    const onread: net.OnReadOpts = { buffer: () => this.nextBuffer(), callback: (n, buf) => this.deliver(n, buf as Buffer) };
    // TCP_NODELAY from the first byte: tunnelled packets are latency-sensitive, and the handshake writes
    // twice before it reads (NEWKEYS, then the service request; the userauth probes): Nagle held the
    // second for the server's delayed ACK (~40 ms).
    // Connect's SSH handshake went from 201-248 ms to 162-187 ms here (8 paired runs).
    this.socket = 'fd' in to ? socketOnFd(to.fd, onread, true) : net.connect({ ...to, onread, noDelay: true });
    // Nothing is read before ssh2 has sent its identification: it resumes the socket then
    // (client.js), so a connection opened before ssh2 loaded keeps the server's banner in the kernel.
    this.socket.pause();
    this.socket.once('error', (err) => (this.failure ??= err));
  }

  /** The client this socket was given to, and the adapter's hooks; call right after `client.connect()`. */
  attach(client: Client, hooks: RingHooks): void {
    this.client = client;
    this.hooks = hooks;
    hooks.filterPayloads(
      client,
      (payload) => {
        if (payload[0] !== MSG_CHANNEL_DATA || this.trusted < 0 || payload.length < 9 || payload.readUInt32BE(1) !== this.trusted) return false;
        // ssh2 would unpack it (message table, channel lookup) and call the channel's push; with no
        // compression in the way the consumer takes the data straight away, fewer steps per packet.
        const len = payload.readUInt32BE(5);
        if (this.consume && hooks.readsPlain(client) && 9 + len <= payload.length) {
          this.consume(payload.subarray(9, 9 + len));
          return 'consumed';
        }
        return true;
      },
      () => {
        for (const watch of this.keysWatchers) watch();
      },
    );
  }

  /** The session is authenticated: from now on reads are parsed where they land. */
  ready(): void {
    this.zeroCopy = true;
  }

  /**
   * CHANNEL_DATA for local channel `id` is consumed synchronously and need
   * not be copied; `consume` takes its data instead of ssh2's channel.
   */
  trust(id: number, consume?: (data: Buffer) => void): void {
    this.trusted = id;
    this.consume = consume;
  }

  untrust(id: number): void {
    if (this.trusted !== id) return;
    this.trusted = -1;
    this.consume = undefined;
  }

  private nextBuffer(): Buffer {
    this.turn ^= 1;
    const held = this.client && this.hooks!.heldPacket(this.client);
    if (held && held.buffer === this.buffers[this.turn]!.buffer) this.turn ^= 1;
    return this.buffers[this.turn]!;
  }

  /** Always true: ssh2 never pauses its socket, SSH windows do the flow control. */
  private deliver(n: number, buf: Buffer): boolean {
    const { client, hooks } = this;
    if (!client || !hooks) return true;
    this.delivering = true;
    try {
      // a view of exactly what was read: ssh2's AES-GCM decipher takes `data`
      // itself for a packet body that fills a read from its start (p 0, nb
      // dataLen), so a longer buffer became a packet of the wrong length (a
      // RangeError when one read ended just before a tag: seen relaying a jump)
      if (this.zeroCopy) hooks.parse(client, n === buf.length ? buf : buf.subarray(0, n), n);
      else hooks.parse(client, Buffer.from(buf.subarray(0, n)), n);
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.delivering = false;
    }
    this.passOn();
    return true;
  }

  /** What ssh2 does with a parse error on its own socket. */
  fail(err: Error): void {
    this.client?.emit('error', err);
    if (this.socket.writable) this.socket.end();
  }

  /** The client reading through this ring (once attached). */
  get owner(): Client | undefined {
    return this.client;
  }

  /** Node's handle of the socket (libuv's stream): its fd, and reading started and stopped. */
  private get handle(): ReturnType<typeof socketHandle> {
    return socketHandle(this.socket);
  }

  /** The socket's fd, for a reader in C. */
  get fd(): number {
    return this.handle?.fd ?? -1;
  }

  /** Runs `watch` whenever ssh2 takes new inbound keys (a key exchange). */
  watchKeysIn(watch: () => void): void {
    this.keysWatchers.push(watch);
  }

  /**
   * Stops Node reading the socket at the next packet boundary and runs
   * `start`, which reads it from there on (the inlet in C).
   */
  handOver(start: () => void): void {
    this.successor = start;
    if (!this.delivering) this.passOn();
  }

  /** Hands a payload read elsewhere to ssh2, as its decipher would have. */
  dispatch(payload: Buffer): void {
    try {
      if (this.client) this.hooks!.dispatchPayload(this.client, payload);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Node reads the socket again; `unparsed` (bytes read elsewhere, from a packet boundary) goes first. */
  resume(unparsed?: Buffer): void {
    if (unparsed && unparsed.length > 0) this.deliver(unparsed.length, unparsed);
    this.handle?.readStart();
  }

  private passOn(): void {
    const start = this.successor;
    if (!start || !this.client || !this.hooks!.atPacketBoundary(this.client) || this.socket.destroyed) return;
    const handle = this.handle;
    if (!handle) return;
    this.successor = undefined;
    handle.readStop();
    start();
  }
}
