import './aesGcm.js'; // before ssh2 loads: see aesGcm.ts
import { constants } from 'node:os';
import { loadAddon, type NativeHandle, type OpenerInstance } from '../native/addon.js';
import { backedBy, countedBy } from '../native/shared.js';
import { isOpener } from './aesGcm.js';
import type { Decipher, ReadRing } from './readRing.js';

/** ssh2's record of a channel's receiving side (what we allow the peer). */
interface IncomingSide {
  id: number;
  window: number;
}

/** What the inlet must leave to JavaScript, set by whoever moves the packets. */
export interface InletUse {
  /** The tun device's fd: tun packets are written there. */
  readonly tunFd: number;
  /** TCP SYNs: their MSS may need clamping. */
  readonly synToJs: boolean;
}

// fields the addon reads (native/src/ssh_in.c)
const CTL_TUN_ON = 0;
const CTL_RECIPIENT = 1;
const CTL_PROBE = 2;
const CTL_SYN_TO_JS = 3;
const NUM_WINDOW = 0;
const NUM_LOW_WATER = 1;

/**
 * The C side of the channel's receiving half: once in use, the SSH socket is
 * read in C, every packet opened there (ssh2's decipher class being ours),
 * the tun channel's packets written to the tun device and everything else
 * handed to ssh2 as its decipher would have. Our window for the peer lives
 * in `num[0]`, shared with ssh2 and the channel through an accessor.
 * `counts` are the packets written (and refused) in C.
 */
export class Inlet {
  private readonly ctl = new Int32Array(4);
  private readonly num = new Float64Array(6);
  private handle: NativeHandle | undefined;
  private ended = false;

  constructor(
    private readonly ring: ReadRing,
    incoming: IncomingSide,
    lowWater: number,
    private readonly topUp: () => void,
  ) {
    this.ctl[CTL_RECIPIENT] = incoming.id;
    this.num[NUM_LOW_WATER] = lowWater;
    backedBy(incoming, 'window', this.num, NUM_WINDOW);
  }

  /** Starts reading in C at the next packet boundary, if the keys are ours. */
  use(opts: InletUse): void {
    this.ctl[CTL_SYN_TO_JS] = opts.synToJs ? 1 : 0;
    this.ctl[CTL_TUN_ON] = 1;
    if (this.handle || this.ended) return;
    const ring = this.ring;
    const decipher = ring.decipher;
    if (!decipher || !isOpener(decipher._instance) || ring.fd < 0) return;
    const addon = loadAddon();
    const handle = addon.inlet(ring.fd, opts.tunFd, this.ctl, this.num, (payload) => ring.dispatch(payload), (errno) => this.end(errno), () => this.topUp());
    this.handle = handle;
    this.install(decipher, decipher._instance);
    ring.watchDecipher((d) => {
      if (this.ended) return;
      if (d && isOpener(d._instance)) this.install(d, d._instance);
      else this.giveBack();
    });
    ring.socket.once('close', () => {
      this.ended = true;
      addon.inletClose(handle);
    });
    ring.handOver(() => addon.inletStart(handle));
  }

  /** Tun packets go to JavaScript (the pump let go of the channel), as all other messages do. */
  stopTun(): void {
    this.ctl[CTL_TUN_ON] = 0;
  }

  /** While a probe waits for its echo reply, ICMP goes to JavaScript. */
  set probing(on: boolean) {
    this.ctl[CTL_PROBE] = on ? 1 : 0;
  }

  get active(): boolean {
    return this.handle !== undefined && !this.ended && this.ctl[CTL_TUN_ON] === 1;
  }

  /** Packets and bytes written to the tun device in C, and those refused as malformed or by the kernel. */
  get counts(): { packets: number; bytes: number; malformed: number; dropped: number } {
    const n = this.num;
    return { packets: n[2]!, bytes: n[3]!, malformed: n[4]!, dropped: n[5]! };
  }

  private install(decipher: Decipher, opener: OpenerInstance): void {
    loadAddon().inletOpener(this.handle!, opener);
    countedBy(decipher, 'inSeqno', opener);
  }

  /** The next keys are not ours: ssh2 reads on, from what was read here and not yet opened. */
  private giveBack(): void {
    if (!this.handle || this.ended) return;
    this.ended = true;
    this.ring.resume(loadAddon().inletStop(this.handle));
  }

  /** C stopped reading: end of stream or an error, which Node then sees itself; or a bad packet. */
  private end(errno: number): void {
    this.ended = true;
    this.ring.resume();
    if (errno === constants.errno.EPROTO) this.ring.fail(new Error('Bad packet from the SSH server (length or authentication tag)'));
  }
}
