import { cidr6Contains, formatCidr6, parseCidr6, parseIPv6 } from '../../config/ipv6.js';
import type { RouteInfo } from '../types.js';
import { netstatRows, type DarwinInterface } from './parse.js';

/**
 * IPv6's networks on macOS, for the overlap checks (LocalNet.networks6):
 * interface addresses from `ifconfig` and routes from `netstat -rn -f
 * inet6`. Link-local (fe80::/10, written with a %scope) and multicast
 * (ff00::/8) are every link's, host addresses and routes no network.
 */

const LINK_LOCAL = parseCidr6('fe80::/10')!;
const MULTICAST = parseCidr6('ff00::/8')!;

/** ADDR/PREFIX as a network, or undefined for what is no network of the host's. */
function network(addr: bigint | undefined, prefix: number): string | undefined {
  if (addr === undefined || prefix <= 0 || prefix >= 128 || cidr6Contains(LINK_LOCAL, addr) || cidr6Contains(MULTICAST, addr)) return undefined;
  return formatCidr6({ addr: (addr >> BigInt(128 - prefix)) << BigInt(128 - prefix), prefix });
}

export function interfaceNetworks6(ifaces: readonly DarwinInterface[]): RouteInfo[] {
  return ifaces.flatMap((i) =>
    i.inet6.flatMap((a) => {
      const cidr = network(parseIPv6(a.addr), a.prefix);
      return cidr ? [{ cidr, dev: i.name }] : [];
    }),
  );
}

/** `netstat -rn -f inet6`: destinations are ADDR/PREFIX (a link-local one with %scope before the slash) or a host. */
export function parseNetstatRoutes6(text: string): RouteInfo[] {
  return netstatRows(text).flatMap(({ dest, netif }) => {
    const m = /^([0-9a-f:.]+)(?:%[^/]+)?\/(\d+)$/i.exec(dest);
    const cidr = m ? network(parseIPv6(m[1]!), Number(m[2])) : undefined;
    return cidr ? [{ cidr, dev: netif }] : [];
  });
}
