import type { ChannelEnds } from '../../ssh2/channel.js';
import { inPlaceSealer } from '../../ssh2/connection.js';
import { ChannelDataWriter } from './channelDataWriter.js';
import type { SshLink } from './link.js';

export interface FlowLimits {
  /** Our receive window, topped up once below half. */
  readonly window: number;
  /** Sending waits while more than this is queued on the SSH socket. */
  readonly highWater: number;
  /**
   * While this says the consumer is behind, our window is not topped up
   * (the peer slows down, as TCP would); call `caughtUp` when it is not.
   */
  readonly behind?: () => boolean;
}

/**
 * One channel's flow control, both ways, for the tun channel and the jump
 * relay alike: CHANNEL_DATA in from the read ring (zero-copy) or ssh2,
 * within our window, topped up at half; CHANNEL_DATA out within the peer's
 * window and maximum packet and the socket's high water, sealed in place
 * where the keys allow, else sent by ssh2 after what is already sealed;
 * one wake-up when sending may succeed again.
 */
export class ChannelFlow {
  /** Called once after `room` returned 0, when sending may succeed again. */
  onWritable: () => void = () => {};
  private readonly writer: ChannelDataWriter;
  private waiting = false;
  private owed = false;
  private closed = false;

  constructor(
    private readonly link: SshLink,
    readonly ends: ChannelEnds,
    private readonly limits: FlowLimits,
  ) {
    this.writer = new ChannelDataWriter(inPlaceSealer(link.client), link.sink);
  }

  /* ---- receiving ---- */

  /**
   * Every CHANNEL_DATA's data goes to `deliver` (valid during the call
   * only), in order; `ended` runs when the peer sends EOF or CLOSE.
   */
  receive(deliver: (data: Buffer) => void, ended: () => void): void {
    const ends = this.ends;
    this.link.ring?.trust(ends.localId, (data) => {
      // as ssh2 and ssh_in.c (`<= 0`): data beyond the window is ignored
      if (ends.ourWindow <= 0) return;
      ends.ourWindow -= data.length;
      deliver(data);
      this.topUp();
    });
    // ssh2's own path, where the ring does not hand data over (no ring, compression): it took the length off already
    ends.takeInbound((chunk) => {
      if (chunk === null) ended();
      else {
        deliver(chunk);
        this.topUp();
      }
    });
  }

  /** Raises our window to the full `limits.window` now (a channel ssh2 opened with its own). */
  fill(): void {
    const ends = this.ends;
    if (ends.ourWindow >= this.limits.window || !ends.sending) return;
    ends.adjustWindow(this.limits.window - ends.ourWindow);
    ends.ourWindow = this.limits.window;
  }

  /** Tops our window up once it is below half (sshd drops a tun datagram that does not fit). */
  topUp(): void {
    const ends = this.ends;
    if (ends.ourWindow >= this.limits.window / 2 || !ends.sending) return;
    if (this.limits.behind?.()) {
      this.owed = true;
      return;
    }
    this.fill();
  }

  /** The consumer has caught up (see `FlowLimits.behind`): a top-up held back is sent. */
  caughtUp(): void {
    if (!this.owed) return;
    this.owed = false;
    this.topUp();
  }

  /* ---- sending ---- */

  /**
   * How many of `want` bytes may go in one CHANNEL_DATA now: all of them or
   * nothing when `whole` (a datagram is never split), else up to the peer's
   * window and maximum packet. 0 when the window or the socket is full, and
   * `onWritable` fires once when there is room again.
   */
  room(want: number, whole: boolean): number {
    const ends = this.ends;
    const window = ends.peerWindow;
    if (whole ? want > window : window <= 0) {
      this.wait(true);
      return 0;
    }
    if (this.link.sink.queued > this.limits.highWater) {
      this.wait(false);
      return 0;
    }
    return whole ? want : Math.min(want, ends.peerMaxPacket, window);
  }

  /** Sends `data` as one CHANNEL_DATA; `room` said it fits. */
  send(data: Uint8Array): void {
    const ends = this.ends;
    if (!this.writer.add(ends.recipient, data)) {
      // ssh2 sends this one (key exchange under way, another cipher): what is sealed goes first
      this.writer.flush();
      ends.sendData(data);
    }
    ends.spend(data.length);
  }

  /** Runs `fn` with its sends leaving as one socket write (corked too, for what ssh2 sends). */
  batch(fn: () => void): void {
    this.link.sink.batch(() => this.writer.batch(fn));
  }

  /** Stops: the read ring lets go of the channel; no more wake-ups. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.link.ring?.untrust(this.ends.localId);
  }

  private wait(forWindow: boolean): void {
    if (this.waiting) return;
    this.waiting = true;
    const wake = (): void => {
      this.waiting = false;
      if (!this.closed) this.onWritable();
    };
    if (forWindow) this.ends.waitWindowAdjust(wake);
    else this.link.sink.onceDrained(wake);
  }
}
