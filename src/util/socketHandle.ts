import type { Socket } from 'node:net';

/** Node's handle of a socket (libuv's stream): its fd, reading started and stopped, bytes queued. */
export interface SocketHandle {
  fd?: number;
  writeQueueSize?: number;
  readStart(): number;
  readStop(): number;
}

/**
 * Node's handle of `socket`, if it has one (a socket of our own, not a
 * channel stream). `_handle` is Node's private field, stable since Node 0.x;
 * the C reader and writer need its fd, and net.Socket has no public way to
 * pause reading at the libuv level.
 */
export function socketHandle(socket: Socket): SocketHandle | null | undefined {
  return (socket as unknown as { _handle?: SocketHandle | null })._handle;
}
