import { constants } from 'node:os';
import type { Client } from 'ssh2';
import { loadAddon, type NativeHandle, type OpenerInstance } from '../../native/addon.js';
import type { ChannelEnds } from '../../ssh2/channel.js';
import { countInbound, openerNow } from '../../ssh2/connection.js';
import type { ReadRing } from './readRing.js';

/** What the inlet must leave to JavaScript, set by whoever moves the packets. */
export interface InletUse {
  /** The tun device's fd: tun packets are written there. */
  readonly tunFd: number;
  /** TCP SYNs: their MSS may need clamping. */
  readonly synToJs: boolean;
  /** With an allow-list, its flow table (addon.flowTable): only packets of flows this side started are written from C. */
  readonly flows?: NativeHandle | undefined;
  /** The sources the remote end may speak for (sources.ts): anything else is dropped in C, counted as spoofed. */
  readonly sources: Uint32Array;
}

/**
 * The C side of the channel's receiving half: once in use, the SSH socket is
 * read in C, every packet opened there (ssh2's decipher class being ours),
 * the tun channel's packets written to the tun device and everything else
 * handed to ssh2 as its decipher would have. Our window for the peer lives
 * in `num[WINDOW]`, shared with ssh2 and the channel through an accessor.
 * `counts` are the packets written (and refused) in C (native/src/layout.h
 * names the fields of both arrays).
 */
export class Inlet {
  /** Indices into ctl and num. */
  private readonly CTL = loadAddon().layout.inletCtl;
  private readonly NUM = loadAddon().layout.inletNum;
  private readonly ctl = new Int32Array(this.CTL.LEN);
  private readonly num = new Float64Array(this.NUM.LEN);
  private handle: NativeHandle | undefined;
  private flows: NativeHandle | null = null;
  private sources: Uint32Array = new Uint32Array(2);
  private ended = false;

  constructor(
    private readonly ring: ReadRing,
    ends: ChannelEnds,
    lowWater: number,
    private readonly topUp: () => void,
  ) {
    this.ctl[this.CTL.RECIPIENT] = ends.localId;
    this.num[this.NUM.LOW_WATER] = lowWater;
    ends.shareOurWindow(this.num, this.NUM.WINDOW);
  }

  /** Starts reading in C at the next packet boundary, if the keys are ours. */
  use(opts: InletUse): void {
    this.ctl[this.CTL.SYN_TO_JS] = opts.synToJs ? 1 : 0;
    this.ctl[this.CTL.TUN_ON] = 1;
    this.flows = opts.flows ?? null;
    this.sources = opts.sources;
    if (this.handle && !this.ended) {
      loadAddon().inletFlows(this.handle, this.flows);
      loadAddon().inletSources(this.handle, this.sources);
    }
    if (this.handle || this.ended) return;
    const ring = this.ring;
    const client = ring.owner;
    const opener = client && openerNow(client);
    if (!client || !opener || ring.fd < 0) return;
    const addon = loadAddon();
    const handle = addon.inlet(
      ring.fd,
      opts.tunFd,
      this.ctl,
      this.num,
      (payload) => ring.dispatch(payload),
      (errno) => this.end(errno),
      () => this.topUp(),
    );
    this.handle = handle;
    addon.inletFlows(handle, this.flows);
    addon.inletSources(handle, this.sources);
    this.install(client, opener);
    ring.watchKeysIn(() => {
      if (this.ended) return;
      const next = openerNow(client);
      if (next) this.install(client, next);
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
    this.ctl[this.CTL.TUN_ON] = 0;
  }

  /** While a probe waits for its echo reply, ICMP goes to JavaScript. */
  set probing(on: boolean) {
    this.ctl[this.CTL.PROBE] = on ? 1 : 0;
  }

  get active(): boolean {
    return this.handle !== undefined && !this.ended && this.ctl[this.CTL.TUN_ON] === 1;
  }

  /** Packets and bytes written to the tun device in C, and those refused as malformed or by the kernel. */
  get counts(): { packets: number; bytes: number; malformed: number; dropped: number; spoofed: number } {
    const n = this.num;
    const at = this.NUM;
    return { packets: n[at.PACKETS]!, bytes: n[at.BYTES]!, malformed: n[at.MALFORMED]!, dropped: n[at.DROPPED]!, spoofed: n[at.SPOOFED]! };
  }

  private install(client: Client, opener: OpenerInstance): void {
    loadAddon().inletOpener(this.handle!, opener);
    countInbound(client, opener);
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
