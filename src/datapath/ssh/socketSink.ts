import type { Client } from 'ssh2';
import { loadAddon, type NativeHandle } from '../../native/addon.js';
import { routeWrites, transportOf } from '../../ssh2/connection.js';

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

/**
 * A sink for `client`'s connection (made once per connection, by SshLink).
 * For a TCP socket of our own (a host reached directly) the addon's writer
 * takes over sending: from here on
 * ssh2's own packets go through it as well, so bytes sealed in C and in
 * JavaScript leave in sealing order. Taken over only while nothing is queued
 * on the Node socket; otherwise, and for a hop reached over another hop's
 * channel (in the jump process), the socket itself.
 */
export function makeSink(client: Client): ByteSink {
  const { socket: sock, fd, idle } = transportOf(client);
  if (fd !== undefined && !sock.destroyed && idle) {
    const addon = loadAddon();
    const queued = new Float64Array(1);
    let waiting: (() => void)[] = [];
    const writer = addon.writer(fd, queued, () => {
      const run = waiting;
      waiting = [];
      for (const cb of run) cb();
    });
    const send = (data: Uint8Array): void => addon.writerWrite(writer, data);
    routeWrites(client, send);
    sock.once('close', () => addon.writerClose(writer));
    return {
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
  }
  return {
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
