import dns from 'node:dns';
import net from 'node:net';
import { cidrContains, parseCidr, parseIPv4 } from '../config/ipv4.js';
import type { EnvironmentConfig } from '../config/types.js';
import type { SshRoute } from '../ssh/route.js';
import { UserError } from '../util/errors.js';

/**
 * Refuses a route that covers the address this host dials for SSH (the
 * first hop: the first jump host, else the server): the SSH connection would
 * go into its own tunnel. wg-quick and sshuttle pin such an address to the
 * path it had; until cloudbridge pins it too (for full tunnels), it
 * says which route and which server. Asked before every connection, since a
 * name may resolve elsewhere on a reconnect. A name that does not resolve is
 * left to the connection, which says so itself.
 */
export async function refuseRoutedServer(env: EnvironmentConfig, route: SshRoute): Promise<void> {
  const hop = route.jumps[0] ?? route.target;
  if (hop.proxyCommand) return; // its far end is the command's business
  let addrs: string[];
  try {
    addrs = net.isIPv4(hop.host) ? [hop.host] : (await dns.promises.lookup(hop.host, { all: true, family: 4 })).map((a) => a.address);
  } catch {
    return;
  }
  for (const addr of addrs) {
    const a = parseIPv4(addr)!;
    const covering = env.routes.find((r) => {
      const c = parseCidr(r);
      return c !== undefined && cidrContains(c, a);
    });
    if (covering) {
      const what = route.jumps.length ? `jump host ${hop.name}` : `SSH server ${hop.name}`;
      throw new UserError(
        `route ${covering} covers ${addr}, the address of the ${what}: the SSH connection would go into its own tunnel; take it out of routes, or reach the server through a jump host outside it`,
      );
    }
  }
}
