import { parseIPv6 } from '../../config/ipv6.js';
import { hostNetwork6 } from '../networks6.js';
import type { RouteInfo } from '../types.js';
import { netstatRows, type DarwinInterface } from './parse.js';

/**
 * IPv6's networks on macOS, for the overlap checks (LocalNet.networks6):
 * interface addresses from `ifconfig` and routes from `netstat -rn -f
 * inet6` (a link-local destination is written with a %scope).
 */

export function interfaceNetworks6(ifaces: readonly DarwinInterface[]): RouteInfo[] {
  return ifaces.flatMap((i) =>
    i.inet6.flatMap((a) => {
      const cidr = hostNetwork6(parseIPv6(a.addr), a.prefix);
      return cidr ? [{ cidr, dev: i.name }] : [];
    }),
  );
}

/** `netstat -rn -f inet6`: destinations are ADDR/PREFIX (a link-local one with %scope before the slash) or a host. */
export function parseNetstatRoutes6(text: string): RouteInfo[] {
  return netstatRows(text).flatMap(({ dest, netif }) => {
    const m = /^([0-9a-f:.]+)(?:%[^/]+)?\/(\d+)$/i.exec(dest);
    const cidr = m ? hostNetwork6(parseIPv6(m[1]!), Number(m[2])) : undefined;
    return cidr ? [{ cidr, dev: netif }] : [];
  });
}
