/**
 * The flows an allow-list let out, kept as a stateful firewall keeps them,
 * so that what comes back is let in only as part of one of them: a peer
 * allowed as `10.20.0.5 tcp 5432` may answer a connection this side made,
 * and may not start one of its own by sending from port 5432.
 *
 * A flow is keyed from this side: (protocol, local address, local port,
 * remote address, remote port); ICMP echo uses its id as the local port.
 * The table is a fixed set of typed arrays (a hash of chains, an LRU list, a
 * free list): a lookup allocates nothing, and when it is full the flow used
 * least recently makes room. Timeouts follow Linux conntrack's defaults,
 * shortened where a tunnel's flows are short-lived.
 */

const TCP = 6;
const ICMP = 1;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

/** First packet out, nothing back yet. */
const NEW = 1;
/** Seen both ways (TCP: the SYN-ACK; UDP: a reply). */
const REPLIED = 2;
/** TCP: a FIN either way. */
const CLOSING = 3;
/** TCP: a RST. */
const CLOSED = 4;

const SECOND = 1000;
export const TIMEOUTS_MS = {
  tcpNew: 120 * SECOND,
  tcpEstablished: 5 * 24 * 3600 * SECOND,
  tcpClosing: 120 * SECOND,
  tcpClosed: 10 * SECOND,
  udpNew: 30 * SECOND,
  udpReplied: 180 * SECOND,
  icmp: 30 * SECOND,
} as const;

let shared: Float64Array | undefined;
/**
 * The time in ms (monotonic), to a quarter second, in memory the C path
 * reads too: flows time out in seconds, and reading it costs nothing per
 * packet. The timer runs on the event loop, so it moves on while C alone
 * moves the packets.
 */
function coarseNow(): Float64Array {
  if (!shared) {
    const now = (shared = new Float64Array(1));
    now[0] = performance.now();
    setInterval(() => (now[0] = performance.now()), 250).unref();
  }
  return shared;
}

/** Indices into `meta`. */
export const META_HEAD = 0;
export const META_TAIL = 1;

export class FlowTable {
  /** Flows kept now. */
  size = 0;
  private readonly proto: Uint8Array;
  private readonly local: Uint32Array;
  private readonly remote: Uint32Array;
  /** local port << 16 | remote port */
  private readonly ports: Uint32Array;
  private readonly state: Uint8Array;
  private readonly expires: Float64Array;
  /** The allow-list rule that let the flow out. */
  readonly ruleOf: Int32Array;
  private readonly buckets: Int32Array;
  private readonly chain: Int32Array;
  private readonly newer: Int32Array;
  private readonly older: Int32Array;
  private readonly free: Int32Array;
  private freeTop: number;
  /** The most and least recently used flow (META_HEAD, META_TAIL): here, where C can move them too. */
  private readonly meta = new Int32Array([-1, -1]);
  private readonly mask: number;

  constructor(
    readonly capacity = 65_536,
    /** now[0]: the time in ms (tests set their own). */
    readonly now: Float64Array = coarseNow(),
  ) {
    this.proto = new Uint8Array(capacity);
    this.local = new Uint32Array(capacity);
    this.remote = new Uint32Array(capacity);
    this.ports = new Uint32Array(capacity);
    this.state = new Uint8Array(capacity);
    this.expires = new Float64Array(capacity);
    this.ruleOf = new Int32Array(capacity);
    this.chain = new Int32Array(capacity);
    this.newer = new Int32Array(capacity);
    this.older = new Int32Array(capacity);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeTop = capacity;
    let n = 1;
    while (n < capacity * 2) n <<= 1;
    this.buckets = new Int32Array(n).fill(-1);
    this.mask = n - 1;
  }

  private bucket(proto: number, local: number, remote: number, ports: number): number {
    let h = Math.imul(local ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(remote, 0xc2b2ae35) ^ Math.imul(ports ^ (proto << 24), 0x27d4eb2f);
    h ^= h >>> 15;
    return h & this.mask;
  }

  /** The live flow with this key, or -1 (an expired one is dropped on the way). */
  find(proto: number, local: number, lport: number, remote: number, rport: number): number {
    const ports = ((lport << 16) | rport) >>> 0;
    for (let i = this.buckets[this.bucket(proto, local, remote, ports)]!; i >= 0; i = this.chain[i]!) {
      if (this.local[i] === local && this.remote[i] === remote && this.ports[i] === ports && this.proto[i] === proto) {
        if (this.expires[i]! <= this.now[0]!) {
          this.remove(i);
          return -1;
        }
        return i;
      }
    }
    return -1;
  }

  /** The first packet out of a flow `rule` let through (find said there is none); returns its index. */
  add(proto: number, local: number, lport: number, remote: number, rport: number, tcpFlags: number, rule: number): number {
    const i = this.insert(proto, local, lport, remote, rport);
    this.ruleOf[i] = rule;
    // TCP picked up mid-stream (not a SYN): taken as established, as conntrack's "loose" pick-up
    this.state[i] = proto === TCP && (tcpFlags & (SYN | ACK)) !== SYN ? REPLIED : NEW;
    this.seen(i, proto, tcpFlags, false);
    return i;
  }

  /** A packet of flow `i`, out or in (`fromRemote`): its state and timeout move on. */
  seen(i: number, proto: number, flags: number, fromRemote: boolean): void {
    let s = this.state[i]!;
    let timeout: number;
    if (proto === TCP) {
      if (flags & RST) s = CLOSED;
      else if (flags & FIN && s !== CLOSED) s = CLOSING;
      else if (fromRemote && s === NEW && (flags & (SYN | ACK)) === (SYN | ACK)) s = REPLIED;
      timeout = s === NEW ? TIMEOUTS_MS.tcpNew : s === REPLIED ? TIMEOUTS_MS.tcpEstablished : s === CLOSING ? TIMEOUTS_MS.tcpClosing : TIMEOUTS_MS.tcpClosed;
    } else if (proto === ICMP) {
      timeout = TIMEOUTS_MS.icmp;
    } else {
      if (fromRemote) s = REPLIED;
      timeout = s === REPLIED ? TIMEOUTS_MS.udpReplied : TIMEOUTS_MS.udpNew;
    }
    this.state[i] = s;
    this.expires[i] = this.now[0]! + timeout;
    this.touch(i);
  }

  /**
   * The arrays C reads and moves on (native/src/conntrack.c): it finds live
   * flows and advances them; adding and removing stay here.
   */
  shared(): Record<'proto' | 'state', Uint8Array> &
    Record<'local' | 'remote' | 'ports', Uint32Array> &
    Record<'ruleOf' | 'buckets' | 'chain' | 'newer' | 'older' | 'meta', Int32Array> &
    Record<'expires' | 'now', Float64Array> {
    const { proto, state, local, remote, ports, ruleOf, buckets, chain, newer, older, meta, expires, now } = this;
    return { proto, state, local, remote, ports, ruleOf, buckets, chain, newer, older, meta, expires, now };
  }

  private get head(): number {
    return this.meta[META_HEAD]!;
  }

  private set head(i: number) {
    this.meta[META_HEAD] = i;
  }

  private get tail(): number {
    return this.meta[META_TAIL]!;
  }

  private set tail(i: number) {
    this.meta[META_TAIL] = i;
  }

  private insert(proto: number, local: number, lport: number, remote: number, rport: number): number {
    if (this.freeTop === 0) this.remove(this.tail);
    const i = this.free[--this.freeTop]!;
    const ports = ((lport << 16) | rport) >>> 0;
    this.proto[i] = proto;
    this.local[i] = local;
    this.remote[i] = remote;
    this.ports[i] = ports;
    const b = this.bucket(proto, local, remote, ports);
    this.chain[i] = this.buckets[b]!;
    this.buckets[b] = i;
    this.linkAtHead(i);
    this.size++;
    return i;
  }

  /** Puts flow `i` (not in the LRU list) first in it. */
  private linkAtHead(i: number): void {
    this.newer[i] = -1;
    this.older[i] = this.head;
    if (this.head >= 0) this.newer[this.head] = i;
    this.head = i;
    if (this.tail < 0) this.tail = i;
  }

  private unlinkLru(i: number): void {
    const n = this.newer[i]!;
    const o = this.older[i]!;
    if (n >= 0) this.older[n] = o;
    else this.head = o;
    if (o >= 0) this.newer[o] = n;
    else this.tail = n;
  }

  private touch(i: number): void {
    if (this.head === i) return;
    this.unlinkLru(i);
    this.linkAtHead(i);
  }

  private remove(i: number): void {
    const b = this.bucket(this.proto[i]!, this.local[i]!, this.remote[i]!, this.ports[i]!);
    if (this.buckets[b] === i) this.buckets[b] = this.chain[i]!;
    else {
      let p = this.buckets[b]!;
      while (this.chain[p] !== i) p = this.chain[p]!;
      this.chain[p] = this.chain[i]!;
    }
    this.unlinkLru(i);
    this.free[this.freeTop++] = i;
    this.size--;
  }
}
