import { cidrContains, formatCidr, parseCidr, parseIPv4 } from '../config/ipv4.js';
import { cidr6Contains, parseCidr6, parseIPv6 } from '../config/ipv6.js';
import type { EnvironmentConfig } from '../config/types.js';
import type { Step } from './steps.js';

/**
 * Routes that keep traffic out of the tunnel, and a full tunnel's own.
 *
 * A full tunnel is two halves, 0.0.0.0/1 and 128.0.0.0/1, through the tun
 * device, as OpenVPN's def1 and wg-quick on macOS do it: more specific than
 * the system's default route, so that stays as it was and comes back by
 * itself when the device goes (a killed controller takes its halves along).
 * Everything more specific still wins over the halves: the networks this
 * host is on (connected routes), and the pins and excluded networks below,
 * which go the way they went before the tunnel.
 */

/** Whether a route of ours takes `addr`, either family (a full tunnel: all but the excluded networks): what needs a pin. */
export function routedThrough(env: EnvironmentConfig, addr: string): boolean {
  if (addr.includes(':')) {
    const a6 = parseIPv6(addr);
    if (a6 === undefined) return false;
    const inside6 = (cidrs: readonly string[]): boolean => cidrs.some((r) => r.includes(':') && cidr6Contains(parseCidr6(r)!, a6));
    return !inside6(env.exclude) && (env.fullTunnel6 || blocksIPv6(env) || inside6(env.routes6));
  }
  const a = parseIPv4(addr);
  if (a === undefined) return false;
  const inside = (cidrs: readonly string[]): boolean => cidrs.some((r) => !r.includes(':') && cidrContains(parseCidr(r)!, a));
  return !inside(env.exclude) && (env.fullTunnel || inside(env.routes));
}

/** Where an address went before the tunnel: through a gateway, straight onto a link, or nowhere. */
export type OutsidePath = { readonly via: string | undefined; readonly dev: string } | 'unreachable';

/** Why an address is pinned, for the step's title and status. */
export type PinRole = 'SSH server' | 'jump host' | "ProxyCommand's far end" | 'gateway';

function outsideRoute(cidr: string, path: OutsidePath, title: string): Step {
  const route = path === 'unreachable' ? { dev: '', cidr, reject: true } : { dev: path.dev, cidr, ...(path.via ? { via: path.via } : {}) };
  return {
    title,
    apply: { side: 'local', op: 'route-add', ...route },
    undo: { side: 'local', op: 'route-del', ...route },
  };
}

export function describePath(path: OutsidePath): string {
  return path === 'unreachable' ? 'nowhere (it had no route)' : `${path.via ? `via ${path.via} ` : ''}dev ${path.dev}`;
}

/** A host route for an address the SSH connection depends on, along the path it had, so the connection never enters its own tunnel. */
export function pinStep(addr: string, role: PinRole, path: OutsidePath): Step {
  return outsideRoute(`${addr}/${addr.includes(':') ? 128 : 32}`, path, `pin ${role} ${addr} ${describePath(path)}, outside the tunnel`);
}

/** An excluded network, kept on the path it had (or nowhere). */
export function excludeStep(cidr: string, path: OutsidePath): Step {
  return outsideRoute(cidr, path, `exclude ${cidr}: ${describePath(path)}, outside the tunnel`);
}

/** The two halves of a network, each one bit longer: together they take it, and anything more specific still wins. */
export function halves(cidr: string): [string, string] {
  const c = parseCidr(cidr)!;
  const prefix = c.prefix + 1;
  const upper = (c.addr | (1 << (32 - prefix))) >>> 0;
  return [formatCidr({ addr: c.addr, prefix }), formatCidr({ addr: upper, prefix })];
}

function throughTunnel(cidr: string, dev: string, title: string): Step {
  return {
    title,
    apply: { side: 'local', op: 'route-add', dev, cidr },
    undo: { side: 'local', op: 'route-del', dev, cidr },
  };
}

const HALVES6 = ['::/1', '8000::/1'];

/**
 * Everything through `dev`: the halves of the IPv4 default route, and of
 * IPv6's where the tunnel carries it. An IPv4 full tunnel without IPv6's
 * makes IPv6 unreachable by the same halves instead: it would otherwise go
 * straight out of the LAN around the tunnel (the networks this host is on,
 * and pins, are more specific and stay).
 */
export function planHalves(dev: string, families: { readonly v4: boolean; readonly v6: boolean } = { v4: true, v6: false }): Step[] {
  const all = [...(families.v4 ? halves('0.0.0.0/0') : []), ...(families.v6 ? HALVES6 : [])];
  const steps = all.map((h) => throughTunnel(h, dev, `full tunnel: ${h} via ${dev}`));
  if (families.v4 && !families.v6) {
    for (const h of HALVES6)
      steps.push(outsideRoute(h, 'unreachable', `full tunnel: IPv6 ${h} blocked (the tunnel carries no IPv6; it would leave around it)`));
  }
  return steps;
}

/** Whether a full tunnel blocks IPv6 (an IPv4 one without IPv6's): then an IPv6 address the SSH connection needs is pinned too. */
export const blocksIPv6 = (env: Pick<EnvironmentConfig, 'fullTunnel' | 'fullTunnel6'>): boolean => env.fullTunnel && !env.fullTunnel6;

/**
 * lan: tunnel: the default route's own network through the tunnel too (a
 * café's Wi-Fi: nothing of ours talks to its other hosts), all but its
 * gateway, which stays on the link so the pins through it keep working.
 */
export function planLanThroughTunnel(dev: string, lan: { readonly networks: readonly string[]; readonly gateway: string; readonly dev: string }): Step[] {
  const steps = [pinStep(lan.gateway, 'gateway', { via: undefined, dev: lan.dev })];
  for (const n of lan.networks) {
    for (const h of halves(n)) steps.push(throughTunnel(h, dev, `lan: ${h} (half of ${n} on ${lan.dev}) via ${dev}`));
  }
  return steps;
}
