import { protoNumber, type AllowRule } from '../config/allow.js';
import { maskOf, parseCidr, parseIPv4 } from '../config/ipv4.js';
import { loadAddon, type NativeHandle } from '../native/addon.js';
import { FlowTable } from './conntrack.js';
import { AF_INET, AF_INET6, FRAME_HEADER, u16At, u32At } from './packet.js';
import { AllowList6 } from './allowList6.js';
import { ipv6Bytes, parseIPv6 } from '../config/ipv6.js';

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
 * The allow-list as the data path applies it, statefully. An outbound packet
 * of a flow already let out passes on the flow (conntrack.ts: one hash
 * lookup, however many rules); the first packet of a new flow is matched
 * against the rules on its destination, first match wins (a linear scan, once
 * per flow), and starts the flow. An inbound packet passes only as part of a
 * flow this side started, its addresses and ports reversed; an ICMP error
 * only when the packet it quotes belongs to one. Later fragments carry no
 * ports and are matched on addresses and protocol alone. Host-name rules
 * match the addresses last resolved for them.
 */
export class AllowList {
  /** Per rule: packets (or stream connections) it let through, and refused ones to its destination; C counts hits too. */
  readonly hits: Float64Array;
  readonly drops: Float64Array;
  /** Refused ones that matched no rule's destination at all. */
  unlisted = 0;
  /** Inbound packets refused for belonging to no flow this side started. */
  unsolicited = 0;
  readonly flows: FlowTable;
  /** IPv6's rules and flows (allowList6.ts), counted here. */
  private readonly v6: AllowList6;
  private entries: Entry[] = [];
  private readonly addresses: number[][];
  private readonly addresses6: bigint[][] = [];

  constructor(
    readonly rules: readonly AllowRule[],
    flows?: FlowTable,
  ) {
    this.flows = flows ?? new FlowTable(rules.length > 0 ? 65_536 : 1);
    this.hits = new Float64Array(rules.length);
    this.drops = new Float64Array(rules.length);
    this.addresses = rules.map((r) => (r.isName || r.to.includes(':') ? [] : [parseCidr(r.to)!.addr]));
    this.v6 = new AllowList6(rules, this);
    this.rebuild();
  }

  /** The flow table as C sees it (conntrack.c), made once. */
  nativeFlows(): NativeHandle {
    this.native ??= loadAddon().flowTable({ ...this.flows.shared(), hits: this.hits });
    return this.native;
  }

  private native: NativeHandle | undefined;

  /** Flows tracked now, both families. */
  get trackedFlows(): number {
    return this.flows.size + this.v6.flows.size;
  }

  /** Each rule's counts, for status. */
  get counters(): RuleCounters[] {
    return this.rules.map((_, i) => ({ hits: this.hits[i]!, drops: this.drops[i]! }));
  }

  /** Addresses a host-name rule stands for now. */
  setAddresses(rule: number, addrs: readonly number[]): void {
    this.addresses[rule] = [...addrs];
    this.rebuild();
  }

  addressesOf(rule: number): readonly number[] {
    return this.addresses[rule]!;
  }

  /** IPv6 addresses a host-name rule stands for now (allowList6.ts matches them). */
  setAddresses6(rule: number, addrs: readonly bigint[]): void {
    this.addresses6[rule] = [...addrs];
    this.v6.setNameAddresses(this.rules[rule]!, rule, addrs);
  }

  addressesOf6(rule: number): readonly bigint[] {
    return this.addresses6[rule] ?? [];
  }

  private rebuild(): void {
    const entries: Entry[] = [];
    this.rules.forEach((r, rule) => {
      if (r.to.includes(':')) return; // IPv6's: allowList6.ts
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
        this.hits[e.rule]!++;
        return e.rule;
      }
      if (near < 0) near = e.rule;
    }
    if (near >= 0) this.drops[near]!++;
    else this.unlisted++;
    return REFUSED;
  }

  /**
   * A framed packet, outbound (towards the tunnel) or inbound: the rule it
   * passes by (counted as a hit), PASSED (an ICMP error about a known flow),
   * or REFUSED.
   */
  check(b: Uint8Array, outbound: boolean): number {
    const ip = FRAME_HEADER;
    // REFUSED6 and PASSED6 are REFUSED and PASSED
    if (b[3] === AF_INET6) return this.v6.check(b, outbound);
    if (b[3] !== AF_INET || b.length < ip + 20) return REFUSED;
    const proto = b[ip + 9]!;
    const l4 = ip + (b[ip]! & 15) * 4;
    const src = u32At(b, ip + 12);
    const dst = u32At(b, ip + 16);
    const local = outbound ? src : dst;
    const remote = outbound ? dst : src;
    if (proto === 1 && b.length > l4 && (b[l4] === 3 || b[l4] === 11 || b[l4] === 12)) return this.icmpError(b, l4 + 8, outbound);
    // a later fragment has no ports to track: addresses and protocol decide, as the rules say
    if ((((b[ip + 6]! & 0x1f) << 8) | b[ip + 7]!) !== 0) return this.match(remote, proto, -1);
    let lport = 0;
    let rport = 0;
    let flags = 0;
    if ((proto === 6 || proto === 17) && b.length >= l4 + 4) {
      lport = u16At(b, outbound ? l4 : l4 + 2);
      rport = u16At(b, outbound ? l4 + 2 : l4);
      if (proto === 6 && b.length >= l4 + 14) flags = b[l4 + 13]!;
    } else if (proto === 1 && b.length >= l4 + 8 && (b[l4] === 8 || b[l4] === 0)) {
      lport = u16At(b, l4 + 4); // echo: the id stands for the local port
    }
    const f = this.flows.find(proto, local, lport, remote, rport);
    if (f >= 0) {
      this.flows.seen(f, proto, flags, !outbound);
      const rule = this.flows.ruleOf[f]!;
      this.hits[rule]!++;
      return rule;
    }
    if (!outbound) {
      this.unsolicited++;
      return REFUSED;
    }
    const rule = this.match(remote, proto, proto === 6 || proto === 17 ? rport : -1);
    if (rule >= 0) this.flows.add(proto, local, lport, remote, rport, flags, rule);
    return rule;
  }

  /**
   * An ICMP error (its quoted packet at `q`) passes when that packet belongs
   * to a known flow: one we sent, for an error coming in; one we received,
   * for an error this side's kernel sends out.
   */
  private icmpError(b: Uint8Array, q: number, outbound: boolean): number {
    if (b.length < q + 20 || b[q]! >> 4 !== 4) return this.refuseIcmp(outbound);
    const proto = b[q + 9]!;
    const l4 = q + (b[q]! & 15) * 4;
    const qsrc = u32At(b, q + 12);
    const qdst = u32At(b, q + 16);
    let sport = 0;
    let dport = 0;
    if ((proto === 6 || proto === 17) && b.length >= l4 + 4) {
      sport = u16At(b, l4);
      dport = u16At(b, l4 + 2);
    } else if (proto === 1 && b.length >= l4 + 8) {
      sport = u16At(b, l4 + 4);
    } else if (proto === 6 || proto === 17) {
      return this.refuseIcmp(outbound);
    }
    // the quoted packet went out from here (an error coming in), or came in to here (one going out)
    const f = outbound ? this.flows.find(proto, qdst, dport, qsrc, sport) : this.flows.find(proto, qsrc, sport, qdst, dport);
    return f >= 0 ? PASSED : this.refuseIcmp(outbound);
  }

  private refuseIcmp(outbound: boolean): number {
    if (!outbound) this.unsolicited++;
    return REFUSED;
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
    const addr6 = parseIPv6(host.replace(/^\[|\]$/g, ''));
    if (addr6 !== undefined) return this.v6.admits(ipv6Bytes(addr6), port);
    const name = host.toLowerCase();
    const rule = this.rules.findIndex(
      (r) => r.isName && r.to === name && (r.proto === 'any' || r.proto === 'tcp') && (!r.ports || (port >= r.ports[0] && port <= r.ports[1])),
    );
    if (rule >= 0) {
      this.hits[rule]!++;
      return true;
    }
    const named = this.rules.findIndex((r) => r.isName && r.to === name);
    if (named >= 0) this.drops[named]!++;
    else this.unlisted++;
    return false;
  }
}
