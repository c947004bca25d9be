import { formatIPv4, parseCidr } from './ipv4.js';
import { formatIPv6, parseCidr6 } from './ipv6.js';

/** A network of either family written as its canonical form (`10.1.0.0/16`, `fd00::/64`), or undefined. */
export function canonicalCidr(text: string): string | undefined {
  const v4 = parseCidr(text);
  if (v4) return `${formatIPv4(v4.addr)}/${v4.prefix}`;
  const v6 = parseCidr6(text);
  return v6 ? `${formatIPv6(v6.addr)}/${v6.prefix}` : undefined;
}

/** An address inside a network to ask the way of: its first host (the address itself for the narrowest). */
export function firstHost(cidr: string): string {
  if (cidr.includes(':')) {
    const c = parseCidr6(cidr)!;
    return formatIPv6(c.prefix >= 127 ? c.addr : c.addr + 1n);
  }
  const c = parseCidr(cidr)!;
  return formatIPv4(c.prefix >= 31 ? c.addr : c.addr + 1);
}
