import type { AllowRule } from '../config/allow.js';
import { protoNumber } from '../config/allow.js';
import { ipv6Bytes, parseCidr6 } from '../config/ipv6.js';
import { FlowTable } from './conntrack.js';
import { FRAME_HEADER, inPrefix6, u16At, u32At } from './packet.js';

/**
 * IPv6's half of the allow-list (allowList.ts keeps IPv4's and its C fast
 * path): the rules with IPv6 networks, and the flows they let out, tracked
 * as IPv4's are. JavaScript only: the C outlet and inlet hand every IPv6
 * packet under an allow-list here (conntrack.c reads IPv4 flows alone).
 *
 * The flow table is conntrack.ts's, keyed by each address folded to 32 bits
 * (its four words xored); the full addresses sit beside it and are compared
 * on every hit, so a fold that collides never lets a packet through: at
 * worst the younger of two colliding flows is refused. Nothing is allocated
 * per packet: addresses are read and compared in the packet's bytes.
 */

const TCP = 6;
const UDP = 17;
const ICMPV6 = 58;
const FRAGMENT = 44;
/** ICMP in conntrack.ts's table: its timeouts. */
const ICMP_FLOW = 1;

export const REFUSED6 = -1;
/** The flow table's size once any rule admits IPv6 (as IPv4's). */
const FLOWS = 65_536;
export const PASSED6 = -2;

interface Entry6 {
  readonly net: Uint8Array;
  readonly prefix: number;
  readonly proto: number;
  readonly lo: number;
  readonly hi: number;
  readonly rule: number;
}

/** What a verdict is counted against: AllowList's counters, shared. */
export interface Counters6 {
  readonly hits: Float64Array;
  readonly drops: Float64Array;
  unlisted: number;
  unsolicited: number;
}

const fold = (b: Uint8Array, at: number): number => (u32At(b, at) ^ u32At(b, at + 4) ^ u32At(b, at + 8) ^ u32At(b, at + 12)) >>> 0;

export class AllowList6 {
  /** Made full-size once any rule stands for IPv6 addresses: a literal one, or a host name when it resolves to some. */
  flows: FlowTable;
  private entries: Entry6[];
  /** The literal rules' entries; a host-name rule's addresses join them (setNameAddresses). */
  private readonly literal: Entry6[];
  private readonly named = new Map<number, Entry6[]>();
  /** Per flow: the local address's four words, then the remote's. */
  private full: Uint32Array;

  constructor(
    rules: readonly AllowRule[],
    private readonly counts: Counters6,
  ) {
    this.literal = rules.flatMap((r, rule) => {
      if (r.isName || !r.to.includes(':')) return [];
      const c = parseCidr6(r.to)!;
      return [{ net: ipv6Bytes(c.addr), prefix: c.prefix, proto: protoNumber(r.proto), lo: r.ports?.[0] ?? 0, hi: r.ports?.[1] ?? 0, rule }];
    });
    this.entries = this.literal;
    this.flows = new FlowTable(this.literal.length > 0 ? FLOWS : 1);
    this.full = new Uint32Array(this.flows.capacity * 8);
  }

  /** The IPv6 addresses host-name rule `rule` stands for now (AllowNames), in rule order among the rest: first match wins. */
  setNameAddresses(r: AllowRule, rule: number, addrs: readonly bigint[]): void {
    const base = { prefix: 128, proto: protoNumber(r.proto), lo: r.ports?.[0] ?? 0, hi: r.ports?.[1] ?? 0, rule };
    // the first IPv6 address any rule stands for: the full table (about 3 MB) only now; the 1-entry one
    // held nothing, since no rule admitted an IPv6 flow before
    if (addrs.length > 0 && this.flows.capacity < FLOWS) {
      this.flows = new FlowTable(FLOWS);
      this.full = new Uint32Array(FLOWS * 8);
    }
    this.named.set(
      rule,
      addrs.map((a) => ({ ...base, net: ipv6Bytes(a) })),
    );
    this.entries = [...this.literal, ...[...this.named.values()].flat()].sort((a, b) => a.rule - b.rule);
  }

  /** The rule admitting the address at `b[at..at+16]`, protocol and port (-1: unknown), counted; or REFUSED6. */
  match(b: Uint8Array, at: number, proto: number, port: number): number {
    let near = -1;
    for (const e of this.entries) {
      if (!inPrefix6(b, at, e.net, e.prefix)) continue;
      // icmp in a rule stands for ICMPv6 here
      const protoOk = e.proto === 0 || e.proto === proto || (e.proto === 1 && proto === ICMPV6);
      if (protoOk && (e.lo === 0 || port < 0 || (port >= e.lo && port <= e.hi))) {
        this.counts.hits[e.rule]!++;
        return e.rule;
      }
      if (near < 0) near = e.rule;
    }
    if (near >= 0) this.counts.drops[near]!++;
    else this.counts.unlisted++;
    return REFUSED6;
  }

  /** An IPv6 address (a stream's target, as bytes): the rule that admits a TCP stream to it, counted. */
  admits(addr: Uint8Array, port: number): boolean {
    return this.match(addr, 0, TCP, port) !== REFUSED6;
  }

  /** A framed IPv6 packet, outbound or inbound: the rule it passes by, PASSED6 (an ICMPv6 error about a known flow), or REFUSED6. */
  check(b: Uint8Array, outbound: boolean): number {
    const ip = FRAME_HEADER;
    if (b.length < ip + 40 || b[ip]! >> 4 !== 6) return REFUSED6;
    let next = b[ip + 6]!;
    let l4 = ip + 40;
    let later = false;
    if (next === FRAGMENT && b.length >= l4 + 8) {
      later = (u16At(b, l4 + 2) & 0xfff8) !== 0; // an offset: no ports in it
      next = b[l4]!;
      l4 += 8;
    }
    const localAt = outbound ? ip + 8 : ip + 24;
    const remoteAt = outbound ? ip + 24 : ip + 8;
    if (next === ICMPV6 && !later && b.length > l4 && b[l4]! < 128) return this.icmpError(b, l4 + 8, outbound);
    if (later) return this.match(b, remoteAt, next, -1);
    let lport = 0;
    let rport = 0;
    let flags = 0;
    if ((next === TCP || next === UDP) && b.length >= l4 + 4) {
      lport = u16At(b, outbound ? l4 : l4 + 2);
      rport = u16At(b, outbound ? l4 + 2 : l4);
      if (next === TCP && b.length >= l4 + 14) flags = b[l4 + 13]!;
    } else if (next === ICMPV6 && b.length >= l4 + 8 && (b[l4] === 128 || b[l4] === 129)) {
      lport = u16At(b, l4 + 4); // echo: the id stands for the local port
    }
    const proto = next === ICMPV6 ? ICMP_FLOW : next;
    const f = this.find(proto, b, localAt, lport, remoteAt, rport);
    if (f >= 0) {
      this.flows.seen(f, proto, flags, !outbound);
      const rule = this.flows.ruleOf[f]!;
      this.counts.hits[rule]!++;
      return rule;
    }
    if (!outbound) {
      this.counts.unsolicited++;
      return REFUSED6;
    }
    const rule = this.match(b, remoteAt, next, next === TCP || next === UDP ? rport : -1);
    if (rule >= 0) {
      const i = this.flows.add(proto, fold(b, localAt), lport, fold(b, remoteAt), rport, flags, rule);
      for (let w = 0; w < 4; w++) {
        this.full[i * 8 + w] = u32At(b, localAt + w * 4);
        this.full[i * 8 + 4 + w] = u32At(b, remoteAt + w * 4);
      }
    }
    return rule;
  }

  /** The flow with these ends, its full addresses compared too; -1 when there is none. */
  private find(proto: number, b: Uint8Array, localAt: number, lport: number, remoteAt: number, rport: number): number {
    const i = this.flows.find(proto, fold(b, localAt), lport, fold(b, remoteAt), rport);
    if (i < 0) return -1;
    for (let w = 0; w < 4; w++) {
      if (this.full[i * 8 + w] !== u32At(b, localAt + w * 4) || this.full[i * 8 + 4 + w] !== u32At(b, remoteAt + w * 4)) return -1;
    }
    return i;
  }

  /** An ICMPv6 error (its quoted packet at `q`) passes when that packet belongs to a known flow, as allowList.ts's ICMP. */
  private icmpError(b: Uint8Array, q: number, outbound: boolean): number {
    if (b.length < q + 40 || b[q]! >> 4 !== 6) return this.refuseError(outbound);
    const next = b[q + 6]!;
    const l4 = q + 40;
    let sport: number;
    let dport = 0;
    if ((next === TCP || next === UDP) && b.length >= l4 + 4) {
      sport = u16At(b, l4);
      dport = u16At(b, l4 + 2);
    } else if (next === ICMPV6 && b.length >= l4 + 8) {
      sport = u16At(b, l4 + 4);
    } else return this.refuseError(outbound);
    const proto = next === ICMPV6 ? ICMP_FLOW : next;
    // the quoted packet went out from here (an error coming in), or came in to here (one going out)
    const f = outbound ? this.find(proto, b, q + 24, dport, q + 8, sport) : this.find(proto, b, q + 8, sport, q + 24, dport);
    return f >= 0 ? PASSED6 : this.refuseError(outbound);
  }

  private refuseError(outbound: boolean): number {
    if (!outbound) this.counts.unsolicited++;
    return REFUSED6;
  }
}
