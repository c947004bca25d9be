import { cidrContains, formatIPv4, type Cidr } from '../config/ipv4.js';
import { cidr6Contains, formatIPv6, type Cidr6 } from '../config/ipv6.js';
import type { OutsidePath } from '../plan/fullTunnel.js';

/** One route of the main table as the kernel lists it. */
export interface TableRoute {
  readonly dst: Cidr;
  readonly gateway: number | undefined;
  readonly dev: string;
  readonly metric: number;
  /** unicast, or a route that goes nowhere (unreachable, blackhole, prohibit). */
  readonly reject: boolean;
  /** One of ours (proto 203): the tunnel's, a pin's, an exclusion's. */
  readonly ours: boolean;
}

/**
 * The path `addr` takes when cloudbridge's own routes are left out: the
 * longest prefix that covers it, the lowest metric among equals (the
 * kernel's choice within the main table). `default` asks for the default
 * route itself. Undefined: no route at all.
 */
export function choosePath(routes: readonly TableRoute[], addr: number | 'default'): OutsidePath | undefined {
  let best: TableRoute | undefined;
  for (const r of routes) {
    if (r.ours) continue;
    if (addr === 'default' ? r.dst.prefix !== 0 : !cidrContains(r.dst, addr)) continue;
    if (!best || r.dst.prefix > best.dst.prefix || (r.dst.prefix === best.dst.prefix && r.metric < best.metric)) best = r;
  }
  if (!best) return undefined;
  if (best.reject) return 'unreachable';
  return { via: best.gateway === undefined ? undefined : formatIPv4(best.gateway), dev: best.dev };
}

/** One IPv6 route of the main table. */
export interface TableRoute6 {
  readonly dst: Cidr6;
  readonly gateway: bigint | undefined;
  readonly dev: string;
  readonly metric: number;
  readonly reject: boolean;
  readonly ours: boolean;
}

/** choosePath for IPv6: the same rule over IPv6's table. */
export function choosePath6(routes: readonly TableRoute6[], addr: bigint): OutsidePath | undefined {
  let best: TableRoute6 | undefined;
  for (const r of routes) {
    if (r.ours || !cidr6Contains(r.dst, addr)) continue;
    if (!best || r.dst.prefix > best.dst.prefix || (r.dst.prefix === best.dst.prefix && r.metric < best.metric)) best = r;
  }
  if (!best) return undefined;
  if (best.reject) return 'unreachable';
  return { via: best.gateway === undefined ? undefined : formatIPv6(best.gateway), dev: best.dev };
}
