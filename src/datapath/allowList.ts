import { protoNumber, type AllowRule } from '../config/allow.js';
import { maskOf, parseCidr, parseIPv4 } from '../config/ipv4.js';
import { AF_INET, FRAME_HEADER } from './packet.js';

interface Entry {
  readonly addr: number;
  readonly mask: number;
  /** IP protocol number, 0 for any. */
  readonly proto: number;
  /** Port range; lo 0 for any port. */
  readonly lo: number;
  readonly hi: number;
  readonly rule: number;
}

export interface RuleCounters {
  /** Packets (or stream connections) the rule let through. */
  hits: number;
  /** Refused ones to the rule's destination on another protocol or port. */
  drops: number;
}

/** The packet is refused. */
export const REFUSED = -1;
/** ICMP errors about flows in either direction: carried, not counted. */
export const PASSED = -2;

/**
 * The allow-list as the data path applies it: first match wins, linear scan
 * (lists are short; a lookup is a few compares per entry, no allocation).
 * Outbound packets are matched on destination, inbound ones on source, so
 * the far side can answer allowed peers and nothing else. Host-name rules
 * match the addresses last resolved for them.
 */
export class AllowList {
  readonly counters: RuleCounters[];
  /** Refused ones that matched no rule's destination at all. */
  unlisted = 0;
  private entries: Entry[] = [];
  private readonly addresses: number[][];

  constructor(readonly rules: readonly AllowRule[]) {
    this.counters = rules.map(() => ({ hits: 0, drops: 0 }));
    this.addresses = rules.map((r) => (r.isName ? [] : [parseCidr(r.to)!.addr]));
    this.rebuild();
  }

  /** Addresses a host-name rule stands for now. */
  setAddresses(rule: number, addrs: readonly number[]): void {
    this.addresses[rule] = [...addrs];
    this.rebuild();
  }

  addressesOf(rule: number): readonly number[] {
    return this.addresses[rule]!;
  }

  private rebuild(): void {
    const entries: Entry[] = [];
    this.rules.forEach((r, rule) => {
      const prefix = r.isName ? 32 : parseCidr(r.to)!.prefix;
      for (const addr of this.addresses[rule]!) {
        entries.push({ addr, mask: maskOf(prefix), proto: protoNumber(r.proto), lo: r.ports?.[0] ?? 0, hi: r.ports?.[1] ?? 0, rule });
      }
    });
    this.entries = entries;
  }

  /** The rule admitting (addr, proto, port), counted as a hit, or REFUSED, counted as a drop. port -1: unknown (a later fragment). */
  match(addr: number, proto: number, port: number): number {
    let near = -1;
    for (const e of this.entries) {
      if ((addr & e.mask) >>> 0 !== e.addr) continue;
      if ((e.proto === 0 || e.proto === proto) && (e.lo === 0 || port < 0 || (port >= e.lo && port <= e.hi))) {
        this.counters[e.rule]!.hits++;
        return e.rule;
      }
      if (near < 0) near = e.rule;
    }
    if (near >= 0) this.counters[near]!.drops++;
    else this.unlisted++;
    return REFUSED;
  }

  /**
   * A framed packet: outbound (towards the tunnel) matched on destination
   * and destination port, inbound on source and source port.
   */
  check(b: Uint8Array, outbound: boolean): number {
    const ip = FRAME_HEADER;
    if (b[3] !== AF_INET || b.length < ip + 20) return REFUSED;
    const proto = b[ip + 9]!;
    const ihl = (b[ip]! & 15) * 4;
    const l4 = ip + ihl;
    if (proto === 1 && b.length > l4 && (b[l4] === 3 || b[l4] === 11 || b[l4] === 12)) return PASSED;
    const p = outbound ? ip + 16 : ip + 12;
    const addr = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    let port = -1;
    const firstFragment = (((b[ip + 6]! & 0x1f) << 8) | b[ip + 7]!) === 0;
    if ((proto === 6 || proto === 17) && firstFragment && b.length >= l4 + 4) {
      const o = outbound ? l4 + 2 : l4;
      port = (b[o]! << 8) | b[o + 1]!;
    }
    return this.match(addr, proto, port);
  }

  /**
   * A TCP stream that SSH carries (a forward, SOCKS): by address when `host`
   * is one, else by a host-name rule of the same name. No rules: everything
   * passes, uncounted, as packets do.
   */
  admitsStream(host: string, port: number): boolean {
    if (this.rules.length === 0) return true;
    const addr = parseIPv4(host);
    if (addr !== undefined) return this.match(addr, 6, port) !== REFUSED;
    const name = host.toLowerCase();
    const rule = this.rules.findIndex(
      (r) => r.isName && r.to === name && (r.proto === 'any' || r.proto === 'tcp') && (!r.ports || (port >= r.ports[0] && port <= r.ports[1])),
    );
    if (rule >= 0) {
      this.counters[rule]!.hits++;
      return true;
    }
    const named = this.rules.findIndex((r) => r.isName && r.to === name);
    if (named >= 0) this.counters[named]!.drops++;
    else this.unlisted++;
    return false;
  }
}
