import { loadAddon } from '../../native/addon.js';
import { ChannelEnds } from '../../ssh2/channel.js';
import { ChannelFlow } from './flow.js';
import type { SshLink } from './link.js';
import { socketOnFd } from './readRing.js';

/**
 * The jump process's relay (cli/hop.ts): a direct-tcpip channel on `client`
 * and a local stream socket (the other end is the target's session in the
 * controller), byte for byte both ways, without ssh2's stream machinery:
 *
 * - down: CHANNEL_DATA from the read ring (zero-copy, as the tun channel's)
 *   goes straight to the addon's writer on the socket, which copies what the
 *   kernel does not take at once; our window is topped up while the writer
 *   keeps up, not while it holds more than HIGH_WATER;
 * - up: the socket is read into one reused buffer and its bytes sealed as
 *   CHANNEL_DATA in the channel-data writer's slabs, a read leaving as one
 *   socket write, within the peer's window and maximum packet.
 *
 * Through pipe() both ways, the jump process took 46% of a core at 268 MB/s
 * (a Buffer per read, ssh2's packet per 32 KiB, a write each).
 */

const WINDOW = 16 * 1024 * 1024;
const HIGH_WATER = 4 * 1024 * 1024;
const READ_SIZE = 256 * 1024;

/**
 * Relays `channel` (ssh2's, from forwardOut on `link`) and the socket on
 * `readFd`/`writeFd` (two fds of the same socket: Node reads one, the
 * addon's writer writes the other). Resolves when either side ends.
 */
export function relay(link: SshLink, channel: NodeJS.EventEmitter, readFd: number, writeFd: number): Promise<void> {
  const addon = loadAddon();
  const ends = ChannelEnds.ofStream(channel, link.client);
  const queued = new Float64Array(1);
  // the controller is behind: let the window run down, as TCP would
  const flow = new ChannelFlow(link, ends, { window: WINDOW, highWater: HIGH_WATER, behind: () => queued[0]! > HIGH_WATER });
  const down = addon.writer(writeFd, queued, () => flow.caughtUp());
  // what came before this took over (the target's greeting) waits in the stream's buffer
  const buffered = channel as unknown as { read(): Buffer | null };
  for (let early = buffered.read(); early !== null; early = buffered.read()) addon.writerWrite(down, early);
  flow.fill();
  return new Promise((resolve) => {
    let held: { buf: Buffer; off: number; end: number } | undefined;
    const buf = Buffer.allocUnsafeSlow(READ_SIZE);
    const sock = socketOnFd(readFd, { buffer: buf, callback: (n) => send({ buf, off: 0, end: n }) }, false);
    // what did not fit the window or the socket: sent first once there is room
    flow.onWritable = (): void => {
      const h = held;
      held = undefined;
      if (h && send(h)) sock.resume();
    };
    /** Seals what was read; false (reading paused) when the window or the socket is full. */
    function send(r: { buf: Buffer; off: number; end: number }): boolean {
      if (!ends.sending) return true;
      flow.batch(() => {
        while (r.off < r.end) {
          const size = flow.room(r.end - r.off, false);
          if (size === 0) {
            held = r;
            return;
          }
          flow.send(r.buf.subarray(r.off, r.off + size));
          r.off += size;
        }
      });
      if (held) sock.pause();
      return held === undefined;
    }
    let ended = false;
    function end(): void {
      if (ended) return;
      ended = true;
      flow.close();
      sock.destroy();
      addon.writerClose(down);
      ends.close();
      resolve();
    }
    flow.receive((data) => addon.writerWrite(down, data), end);
    sock.on('end', end);
    sock.on('error', end);
    sock.on('close', end);
    channel.on('close', end);
    link.client.on('close', end);
  });
}
