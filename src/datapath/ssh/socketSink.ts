import type { Client } from 'ssh2';
import { loadAddon, type NativeHandle } from '../../native/addon.js';
import { internalsOf } from './ssh2.js';

/** Where a session's sealed bytes go, in the order they were sealed. */
export interface ByteSink {
  /** Queues `bytes`; `done` runs once they need not be kept any more. */
  write(bytes: Uint8Array, done: () => void): void;
  /** Bytes accepted and not yet handed to the kernel. */
  readonly queued: number;
  /** Runs `fn`, with what ssh2 writes meanwhile gathered into one write where that helps. */
  batch(fn: () => void): void;
  /** Runs `cb` once when what is queued has been written. */
  onceDrained(cb: () => void): void;
  /** The addon's writer, when the session has one (what the tun outlet writes to). */
  readonly native: NativeHandle | undefined;
}

const sinks = new WeakMap<Client, ByteSink>();

/**
 * The sink for `client`'s connection. For a TCP socket of our own (a host
 * reached directly) the addon's writer takes over sending: from here on
 * ssh2's own packets go through it as well, so bytes sealed in C and in
 * JavaScript leave in sealing order. Taken over only while nothing is queued
 * on the Node socket; otherwise, and over a jump host, the socket itself.
 */
export function sinkFor(client: Client): ByteSink {
  let sink = sinks.get(client);
  if (sink) return sink;
  const { _sock: sock, _protocol: proto } = internalsOf(client);
  const fd = sock._handle?.fd;
  if (typeof fd === 'number' && fd >= 0 && !sock.destroyed && sock.writableLength === 0 && sock._handle?.writeQueueSize === 0) {
    const addon = loadAddon();
    const queued = new Float64Array(1);
    let waiting: (() => void)[] = [];
    const writer = addon.writer(fd, queued, () => {
      const run = waiting;
      waiting = [];
      for (const cb of run) cb();
    });
    const send = (data: Uint8Array): void => addon.writerWrite(writer, data);
    // ssh2 hands each sealed packet to the cipher's onWrite, which new ciphers copy from the protocol at each key exchange
    proto._onWrite = send;
    if (proto._cipher) proto._cipher._onWrite = send;
    sock.once('close', () => addon.writerClose(writer));
    sink = {
      write(bytes, done) {
        addon.writerWrite(writer, bytes);
        done();
      },
      get queued() {
        return queued[0]!;
      },
      batch(fn) {
        fn();
      },
      onceDrained(cb) {
        if (queued[0] === 0) queueMicrotask(cb);
        else waiting.push(cb);
      },
      native: writer,
    };
  } else {
    sink = {
      write(bytes, done) {
        // as ssh2 does: a dead socket swallows writes
        if (sock.writable) sock.write(bytes, done);
        else done();
      },
      get queued() {
        return sock.writableLength;
      },
      batch(fn) {
        sock.cork();
        try {
          fn();
        } finally {
          sock.uncork();
        }
      },
      onceDrained(cb) {
        if (sock.writableLength === 0) queueMicrotask(cb);
        else sock.once('drain', cb);
      },
      native: undefined,
    };
  }
  sinks.set(client, sink);
  return sink;
}
