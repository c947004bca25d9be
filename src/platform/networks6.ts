import { cidr6Contains, formatCidr6, parseCidr6 } from '../config/ipv6.js';
import type { RouteInfo } from './types.js';

/**
 * The host's IPv6 networks as the overlap checks see them (LocalNet.networks6),
 * read the same way on Linux (rtnetlink) and macOS (ifconfig, netstat).
 */

const LINK_LOCAL = parseCidr6('fe80::/10')!;
const MULTICAST = parseCidr6('ff00::/8')!;

/**
 * ADDR/PREFIX as a network, or undefined for what is no network of the
 * host's: link-local and multicast are every link's (nothing a route of ours
 * could take over), a host address or route and the default are no network.
 */
export function hostNetwork6(addr: bigint | undefined, prefix: number): string | undefined {
  if (addr === undefined || prefix <= 0 || prefix >= 128 || cidr6Contains(LINK_LOCAL, addr) || cidr6Contains(MULTICAST, addr)) return undefined;
  return formatCidr6({ addr: (addr >> BigInt(128 - prefix)) << BigInt(128 - prefix), prefix });
}

/** Each network once per device: an address's network and its interface route are one. */
export function onceEach(routes: readonly RouteInfo[]): RouteInfo[] {
  return routes.filter((r, i) => routes.findIndex((o) => o.cidr === r.cidr && o.dev === r.dev) === i);
}
