import { formatCidr, parseCidr } from './ipv4.js';
import { formatCidr6, parseCidr6 } from './ipv6.js';
import { ALLOW_RULE, keysOf } from './spec.js';

export type AllowProto = 'any' | 'tcp' | 'udp' | 'icmp';

/** One allow-list entry: a destination (network or host name), a protocol and a port range. */
export interface AllowRule {
  /** As the user wrote it, for status. */
  readonly text: string;
  /** A CIDR, IPv4 or IPv6 (bare addresses become /32 or /128), or a host name resolved at run time (IPv4). */
  readonly to: string;
  readonly isName: boolean;
  readonly proto: AllowProto;
  /** Inclusive port range; undefined: every port. Only with tcp or udp. */
  readonly ports: readonly [number, number] | undefined;
}

const PROTOS: readonly AllowProto[] = ALLOW_RULE.fields.proto.values;

export function isHostName(s: string): boolean {
  return s.length <= 253 && /[a-z]/i.test(s) && s.split('.').every((l) => /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?$/i.test(l));
}

function parsePorts(text: string): [number, number] | string {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) return `"${text}" is not a port or a range like 8000-8100`;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || hi > 65535 || lo > hi) return `"${text}": ports are 1-65535, low-high`;
  return [lo, hi];
}

/**
 * Parses one entry, written "TO [PROTO [PORTS]]" (e.g. "10.0.0.0/16",
 * "db.vpc.internal tcp 5432", "10.1.2.3 udp 53") or as a mapping
 * { to, proto, ports }. Returns the rule or what is wrong with it.
 */
export function parseAllowEntry(raw: unknown): AllowRule | string {
  let to: unknown;
  let proto: unknown;
  let ports: unknown;
  let text: string;
  if (typeof raw === 'string') {
    const words = raw.trim().split(/\s+/);
    if (words.length > 3 || words[0] === '') return `"${raw}": expected "TO [tcp|udp|icmp|any [PORTS]]"`;
    [to, proto, ports] = words;
    text = words.join(' ');
  } else if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    const extra = Object.keys(o).find((k) => !keysOf(ALLOW_RULE).includes(k));
    if (extra) return `unknown field "${extra}" (expected to, proto, ports)`;
    to = o['to'];
    proto = o['proto'];
    ports = typeof o['ports'] === 'number' ? String(o['ports']) : o['ports'];
    text = [to, proto, ports].filter((x) => x !== undefined).join(' ');
  } else {
    return 'must be a string like "10.0.0.0/16 tcp 443" or a mapping { to, proto, ports }';
  }
  if (typeof to !== 'string' || to === '') return 'needs a destination (to): a CIDR, an address or a host name';
  const cidr = parseCidr(to);
  const cidr6 = to.includes(':') ? parseCidr6(to) : undefined;
  if (to.includes(':') && !cidr6) return `"${to}" is not an IPv6 CIDR with zero host bits or an IPv6 address`;
  const isName = cidr === undefined && cidr6 === undefined;
  if (isName && !isHostName(to)) return `"${to}" is not a CIDR with zero host bits, an address or a host name`;
  if (proto !== undefined && (typeof proto !== 'string' || !PROTOS.includes(proto as AllowProto))) {
    return `protocol "${String(proto)}" is not one of: ${PROTOS.join(', ')}`;
  }
  const p = (proto as AllowProto | undefined) ?? 'any';
  let range: [number, number] | undefined;
  if (ports !== undefined) {
    if (p !== 'tcp' && p !== 'udp') return 'ports need protocol tcp or udp';
    const r = parsePorts(String(ports));
    if (typeof r === 'string') return r;
    range = r;
  }
  return { text, to: isName ? to.toLowerCase() : cidr6 ? formatCidr6(cidr6) : formatCidr(cidr!), isName, proto: p, ports: range };
}

/** IP protocol numbers; 0 stands for any. */
export function protoNumber(p: AllowProto): number {
  return p === 'tcp' ? 6 : p === 'udp' ? 17 : p === 'icmp' ? 1 : 0;
}
