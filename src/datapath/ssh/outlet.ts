import type { Client } from 'ssh2';
import { loadAddon, type NativeHandle } from '../../native/addon.js';
import type { ChannelEnds } from '../../ssh2/channel.js';
import { countOutbound, sealerNow, watchKeysOut } from '../../ssh2/connection.js';

/** What the outlet must leave to JavaScript, set by whoever moves the packets. */
export interface OutletFilter {
  /** UDP to these addresses (the in-tunnel DNS, IPv4's and IPv6's) is answered in JavaScript. */
  readonly dns: number | undefined;
  readonly dns6: Uint8Array | undefined;
  /** TCP SYNs: their MSS may need clamping, or they start a logged flow. */
  readonly synToJs: boolean;
  /** Everything but TCP (the flow log notes UDP and ICMP flows). */
  readonly otherToJs: boolean;
  /** With an allow-list, its flow table (addon.flowTable): only packets of flows it let out already are sent from C. */
  readonly flows?: NativeHandle | undefined;
}

/**
 * The C side of the channel's sending half: tun packets read by the addon
 * are sealed and written there without waking JavaScript, while the channel
 * is open, no key exchange is under way and the cipher is our AES-GCM. The
 * peer's window lives in `num[WINDOW]`, shared with ssh2's WINDOW_ADJUST
 * handler (the adapter's "share the window"); the rest counts packets and bytes sent
 * (native/src/layout.h names the fields of both arrays).
 */
export class Outlet {
  readonly handle: NativeHandle;
  private readonly ctl: Int32Array;
  private readonly num: Float64Array;
  /** Indices into ctl and num. */
  private readonly CTL = loadAddon().layout.outletCtl;
  private readonly NUM = loadAddon().layout.outletNum;
  private filter: OutletFilter | undefined;
  private closed = false;

  constructor(
    writer: NativeHandle,
    private readonly ends: ChannelEnds,
    private readonly client: Client,
    highWater: number,
  ) {
    this.ctl = new Int32Array(this.CTL.LEN);
    this.num = new Float64Array(this.NUM.LEN);
    this.handle = loadAddon().outlet(writer, this.ctl, this.num);
    this.ctl[this.CTL.RECIPIENT] = ends.recipient;
    // sshd counts a datagram's 4-byte length prefix against its maximum packet
    this.ctl[this.CTL.MAX_PACKET] = ends.peerMaxPacket - 4;
    this.ctl[this.CTL.HIGH_WATER] = highWater;
    ends.sharePeerWindow(this.num, this.NUM.WINDOW);
    // a key exchange starting, new keys, one ending: C seals only with keys that are ours, between exchanges
    watchKeysOut(client, () => this.update());
  }

  /** Starts sending from C, leaving to JavaScript what `filter` says. */
  use(filter: OutletFilter): void {
    this.filter = filter;
    this.ctl[this.CTL.DNS_ADDR] = (filter.dns ?? 0) | 0;
    this.ctl[this.CTL.DNS6] = filter.dns6 ? 1 : 0;
    this.ctl[this.CTL.DNS6_LOW] = filter.dns6 ? Buffer.from(filter.dns6).readInt32BE(12) : 0;
    this.ctl[this.CTL.SYN_TO_JS] = filter.synToJs ? 1 : 0;
    this.ctl[this.CTL.OTHER_TO_JS] = filter.otherToJs ? 1 : 0;
    loadAddon().outletFlows(this.handle, filter.flows ?? null);
    this.update();
  }

  /** Packets and bytes sent from C so far. */
  get sent(): { packets: number; bytes: number } {
    return { packets: this.num[this.NUM.PACKETS]!, bytes: this.num[this.NUM.BYTES]! };
  }

  get enabled(): boolean {
    return this.ctl[this.CTL.ENABLED] === 1;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctl[this.CTL.ENABLED] = 0;
    loadAddon().outletClose(this.handle);
  }

  private update(): void {
    if (this.closed) return;
    const sealer = sealerNow(this.client);
    const on = this.filter !== undefined && sealer !== null && this.ends.sending;
    loadAddon().outletSealer(this.handle, on ? sealer : null);
    // ssh2 carries its sequence number into the next keys unless the key exchange is strict
    if (on) countOutbound(this.client, sealer);
    this.ctl[this.CTL.ENABLED] = on ? 1 : 0;
  }
}
