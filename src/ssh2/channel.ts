import type { Client } from 'ssh2';
import { backedBy } from './backing.js';
import { protocolOf, type RawChannel } from './privates.js';

/**
 * One channel's two sides as ssh2 keeps them (its channel record, or its
 * Channel stream, which carries the same fields), behind named hooks:
 * "share the window", "take inbound data", "wait for WINDOW_ADJUST", and
 * the two messages a channel's flow control sends. Contract tests:
 * test/unit/ssh2Seam.test.ts.
 */
export class ChannelEnds {
  constructor(
    private readonly raw: RawChannel,
    private readonly client: Client,
  ) {}

  /** The ends of a channel ssh2 made a stream of (forwardOut, exec). */
  static ofStream(stream: NodeJS.EventEmitter, client: Client): ChannelEnds {
    return new ChannelEnds(stream as unknown as RawChannel, client);
  }

  /** Our id for the channel: the one CHANNEL_DATA from the peer is addressed to. */
  get localId(): number {
    return this.raw.incoming.id;
  }

  /** The peer's id for the channel: the one we address. */
  get recipient(): number {
    return this.raw.outgoing.id;
  }

  /** Whether we may still send (neither side has closed). */
  get sending(): boolean {
    return this.raw.outgoing.state === 'open';
  }

  /** What the peer still allows us to send. */
  get peerWindow(): number {
    return this.raw.outgoing.window;
  }

  /** The largest CHANNEL_DATA payload the peer takes. */
  get peerMaxPacket(): number {
    return this.raw.outgoing.packetSize;
  }

  /** Takes `n` sent bytes off the peer's window. */
  spend(n: number): void {
    this.raw.outgoing.window -= n;
  }

  /** What we still allow the peer to send. */
  get ourWindow(): number {
    return this.raw.incoming.window;
  }

  set ourWindow(n: number) {
    this.raw.incoming.window = n;
  }

  /** Sends CHANNEL_DATA through ssh2 (it copies; sealed in order with everything it sends). */
  sendData(data: Uint8Array): void {
    protocolOf(this.client).channelData(this.raw.outgoing.id, data);
  }

  /** Sends WINDOW_ADJUST for `n` more bytes (the caller raises `ourWindow` with it). */
  adjustWindow(n: number): void {
    protocolOf(this.client).channelWindowAdjust(this.raw.outgoing.id, n);
  }

  /**
   * Hook "take inbound data": ssh2 calls `fn` once per CHANNEL_DATA, after
   * taking its length off `ourWindow`, and with null when the peer sends
   * EOF or CLOSE; the data is a view valid during the call. Nothing reaches
   * ssh2's stream any more (no copy, no buffering, no auto top-up).
   */
  takeInbound(fn: (chunk: Buffer | null) => void): void {
    this.raw.push = (chunk) => {
      fn(chunk);
      return true;
    };
  }

  /**
   * Hook "wait for WINDOW_ADJUST": `wake` runs once, at the next
   * WINDOW_ADJUST from the peer (ssh2's handler calls `_chunkcb` when
   * `_waitWindow` is set and no `_chunk` is pending).
   */
  waitWindowAdjust(wake: () => void): void {
    const raw = this.raw;
    raw._chunk = undefined;
    raw._chunkcb = () => {
      raw._chunkcb = undefined;
      wake();
    };
    raw._waitWindow = true;
  }

  /** Hook "share the window": the peer's window lives in `array[index]` from now on (ssh2 and C both see it). */
  sharePeerWindow(array: Float64Array, index: number): void {
    backedBy(this.raw.outgoing, 'window', array, index);
  }

  /** Hook "share the window": our window lives in `array[index]` from now on. */
  shareOurWindow(array: Float64Array, index: number): void {
    backedBy(this.raw.incoming, 'window', array, index);
  }

  /** Closes our side (ssh2 sends EOF and CLOSE) if it is still open. */
  close(): void {
    if (this.sending) this.raw.close();
  }
}
