import './aesGcm.js'; // before ssh2 loads: see aesGcm.ts
import { createRequire } from 'node:module';
import { loadAddon, type NativeHandle } from '../native/addon.js';
import { backedBy, countedBy } from '../native/shared.js';
import { isSealer } from './aesGcm.js';

const require = createRequire(import.meta.url);
const { PacketWriter } = require('ssh2/lib/protocol/zlib.js') as { PacketWriter: new (...args: never[]) => unknown };

/** ssh2's record of a channel's sending side (what the peer allows us). */
interface OutgoingSide {
  id: number;
  window: number;
  packetSize: number;
  state: string;
}

/** The parts of ssh2's protocol object that say how packets are sealed now. */
interface Ssh2Sealing {
  _kexinit: unknown;
  _cipher: { _instance?: unknown; _dead?: boolean; outSeqno: number };
  _packetRW: { write: unknown };
}

/** What the outlet must leave to JavaScript (IPv4 only), set by whoever moves the packets. */
export interface OutletFilter {
  /** UDP to this address (the in-tunnel DNS) is answered in JavaScript; 0: none. */
  readonly dnsAddr: number;
  /** TCP SYNs: their MSS may need clamping, or they start a logged flow. */
  readonly synToJs: boolean;
  /** Everything but TCP (the flow log notes UDP and ICMP flows). */
  readonly otherToJs: boolean;
}

// ctl fields the addon reads (native/src/ssh_out.c)
const CTL_ENABLED = 0;
const CTL_RECIPIENT = 1;
const CTL_MAX_PACKET = 2;
const CTL_DNS_ADDR = 3;
const CTL_SYN_TO_JS = 4;
const CTL_HIGH_WATER = 5;
const CTL_OTHER_TO_JS = 6;

/**
 * The C side of the channel's sending half: tun packets read by the addon
 * are sealed and written there without waking JavaScript, while the channel
 * is open, no key exchange is under way and the cipher is our AES-GCM. The
 * peer's window lives in `num[0]`, shared with ssh2's WINDOW_ADJUST handler
 * through an accessor; `num[1]` and `num[2]` count packets and bytes sent.
 */
export class Outlet {
  readonly handle: NativeHandle;
  readonly ctl = new Int32Array(7);
  private readonly num = new Float64Array(3);
  private filter: OutletFilter | undefined;
  private closed = false;

  constructor(
    writer: NativeHandle,
    private readonly outgoing: OutgoingSide,
    private readonly proto: Ssh2Sealing,
    highWater: number,
  ) {
    this.handle = loadAddon().outlet(writer, this.ctl, this.num);
    this.ctl[CTL_RECIPIENT] = outgoing.id;
    // sshd counts a datagram's 4-byte length prefix against its maximum packet
    this.ctl[CTL_MAX_PACKET] = outgoing.packetSize - 4;
    this.ctl[CTL_HIGH_WATER] = highWater;
    backedBy(outgoing, 'window', this.num, 0);
    // ssh2 sets _kexinit when a key exchange starts and clears it at the end,
    // and replaces _cipher with the new keys in between.
    for (const key of ['_kexinit', '_cipher'] as const) {
      let value: unknown = proto[key];
      Object.defineProperty(proto, key, {
        configurable: true,
        enumerable: true,
        get: () => value,
        set: (v: unknown) => {
          value = v;
          this.update();
        },
      });
    }
  }

  /** Starts sending from C, leaving to JavaScript what `filter` says. */
  use(filter: OutletFilter): void {
    this.filter = filter;
    this.ctl[CTL_DNS_ADDR] = filter.dnsAddr | 0;
    this.ctl[CTL_SYN_TO_JS] = filter.synToJs ? 1 : 0;
    this.ctl[CTL_OTHER_TO_JS] = filter.otherToJs ? 1 : 0;
    this.update();
  }

  /** Packets and bytes sent from C so far. */
  get sent(): { packets: number; bytes: number } {
    return { packets: this.num[1]!, bytes: this.num[2]! };
  }

  get enabled(): boolean {
    return this.ctl[CTL_ENABLED] === 1;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctl[CTL_ENABLED] = 0;
    loadAddon().outletClose(this.handle);
  }

  private update(): void {
    if (this.closed) return;
    const proto = this.proto;
    const cipher = proto._cipher;
    const sealer = cipher?._instance;
    const ours = isSealer(sealer) ? sealer : null;
    const on = this.filter !== undefined && ours !== null && !cipher._dead && proto._kexinit === undefined &&
      proto._packetRW.write instanceof PacketWriter && this.outgoing.state === 'open';
    loadAddon().outletSealer(this.handle, on ? ours : null);
    // ssh2 carries outSeqno into the next keys unless the key exchange is strict
    if (on && ours) countedBy(cipher, 'outSeqno', ours);
    this.ctl[CTL_ENABLED] = on ? 1 : 0;
  }
}
