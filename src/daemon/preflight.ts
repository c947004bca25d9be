import { cidrContains, cidrsOverlap, formatCidr, parseCidr, parseIPv4 } from '../config/ipv4.js';
import type { EnvironmentConfig } from '../config/types.js';
import { DEFAULT_ROUTE } from '../config/routes.js';
import { shownPairs } from '../config/tunnelPair.js';
import { cidr6Contains, cidrs6Overlap, parseCidr6, parseIPv6 } from '../config/ipv6.js';
import type { PlatformName } from '../platform/index.js';
import type { RouteInfo } from '../platform/types.js';

/** Loopback devices (Linux's lo, macOS's lo0): what lives there is this host's own, no route's to clash with. */
const LOOPBACK = new Set(['lo', 'lo0']);

/**
 * The checks before anything is changed, as pure functions of what was
 * read off the host: each returns the one-line reason to refuse, or
 * undefined. The controller gathers the facts and throws.
 */

/** What another connected environment holds (from its status). */
export interface PeerHolding {
  readonly env: string;
  /** IPv4's pair, '' when its tunnel has none (or no tunnel). */
  readonly local: string;
  readonly remote: string;
  /** IPv6's pair, '' when its tunnel has none (absent from older controllers' statuses). */
  readonly local6?: string;
  readonly remote6?: string;
  readonly localDevice: string;
  readonly routes: readonly string[];
}

/** What would clash with another connected environment, naming both. */
export function clashWithOthers(env: EnvironmentConfig, others: readonly PeerHolding[]): string | undefined {
  const t = env.tunnel;
  if (!t) return undefined; // SSH only: nothing routed; a taken SOCKS or forward port says so itself
  const mine = t.local && t.remote ? [t.local, t.remote].map((a) => parseCidr(a)!) : [];
  const mine6 = [t.local6, t.remote6].filter((a) => a !== undefined);
  for (const o of others.filter((x) => x.local !== '' || !!x.local6)) {
    // a full tunnel's halves yield to any narrower route, another environment's too: only two full tunnels
    // of one family clash (status shows IPv4's as default, IPv6's as ::/0)
    if ((env.fullTunnel && o.routes.includes(DEFAULT_ROUTE)) || (env.fullTunnel6 && o.routes.includes('::/0')))
      return `${env.name} and ${o.env} both route everything (routes: [default]), and ${o.env} is connected`;
    // their routes by family, full tunnels aside
    const routes4 = o.routes.filter((r) => r !== DEFAULT_ROUTE && !r.includes(':'));
    const routes6 = o.routes.filter((r) => r !== '::/0' && r.includes(':'));
    const theirs = o.local ? [o.local, o.remote].map((a) => parseCidr(a)!) : [];
    if (mine.some((m) => theirs.some((x) => cidrsOverlap(m, x))) || mine6.some((m) => m === o.local6 || m === o.remote6)) {
      return `tunnel addresses of ${env.name} (${shownPairs(t)}) clash with ${o.env}'s (${shownPairs(o)}), which is connected`;
    }
    if (o.localDevice === t.device) return `${o.env} uses interface ${o.localDevice} already (tunnel.device)`;
    for (const r of env.routes) {
      const clash = [...routes4, ...(o.local ? [o.local, o.remote] : [])].find((q) => cidrsOverlap(parseCidr(q)!, parseCidr(r)!));
      if (clash) return `route ${r} of ${env.name} overlaps ${clash} of ${o.env}, which is connected`;
    }
    for (const r of env.routes6) {
      const clash = routes6.find((q) => cidrs6Overlap(parseCidr6(q)!, parseCidr6(r)!));
      if (clash) return `route ${r} of ${env.name} overlaps ${clash} of ${o.env}, which is connected`;
    }
    for (const q of routes4) {
      const hit = mine.find((m) => cidrsOverlap(m, parseCidr(q)!));
      if (hit) return `tunnel address ${formatCidr(hit)} of ${env.name} lies in route ${q} of ${o.env}, which is connected`;
    }
  }
  return undefined;
}

/** What was read off this host for `localProblem`. */
export interface LocalFacts {
  readonly platform: PlatformName;
  /** Route even where routes overlap the host's own networks (--force). */
  readonly force: boolean;
  /** Linux: the tunnel's interface exists already. */
  readonly deviceExists: boolean;
  /** macOS: an /etc/resolver file for one of the split domains that exists already. */
  readonly resolverTaken: string | undefined;
  readonly interfaceNetworks: readonly RouteInfo[];
  readonly routes: readonly RouteInfo[];
  /** IPv6's networks and routes (read when the tunnel carries IPv6). */
  readonly networks6?: readonly RouteInfo[];
}

/** What would break the host's own networking or another tool's files. */
export function localProblem(env: EnvironmentConfig, facts: LocalFacts): string | undefined {
  if (facts.platform === 'darwin' && env.dns.domains.length > 0 && env.dns.servers.length === 0) {
    return `${env.source}: environments.${env.name}.dns.servers: on macOS name the resolvers (reached through the tunnel) for /etc/resolver`;
  }
  if (facts.platform === 'darwin' && env.dns.all && !env.fullTunnel && !env.fullTunnel6) {
    // macOS sends every name through the tunnel by pointing the network services at it, which only a full tunnel does
    return `${env.source}: environments.${env.name}.dns.all: on macOS every name goes through the tunnel with a full tunnel only (routes: [default]); list dns.domains instead`;
  }
  if (facts.platform === 'darwin' && env.dns.all && env.tunnel && env.tunnel.local === undefined) {
    // configd (ip_plugin.c) leaves out an IPv6 resolver of a service with no routable IPv6 and falls back to DHCP's: names would leave by the LAN
    return `${env.source}: environments.${env.name}.dns.all: on macOS a tunnel with IPv6 addresses only cannot take every name: on a LAN without IPv6 macOS drops an IPv6 resolver and asks the LAN's; give the tunnel an IPv4 pair too (tunnel.local, tunnel.remote)`;
  }
  if (facts.resolverTaken) return `${facts.resolverTaken} exists already and is not cloudbridge's; refusing to replace it`;
  const t = env.tunnel;
  if (!t) return undefined;
  if (facts.deviceExists) return `interface ${t.device} already exists (is ${env.name} connected already?)`;
  for (const ip of t.local && t.remote ? [t.local, t.remote] : []) {
    const addr = parseIPv4(ip)!;
    const hit = facts.interfaceNetworks.find((n) => n.cidr !== '127.0.0.0/8' && cidrContains(parseCidr(n.cidr)!, addr) && parseCidr(n.cidr)!.prefix < 32);
    if (hit && !facts.force) {
      return `tunnel address ${ip} lies in ${hit.cidr} on ${hit.dev}; pick tunnel addresses outside the host's networks (or --force)`;
    }
  }
  for (const r of env.routes) {
    const c = parseCidr(r)!;
    const clash = [...facts.interfaceNetworks, ...facts.routes].find((n) => cidrsOverlap(parseCidr(n.cidr)!, c) && !LOOPBACK.has(n.dev));
    if (clash && !facts.force) {
      return `route ${r} overlaps ${clash.cidr} on ${clash.dev}; refusing to take it over (use --force to route it through the tunnel anyway)`;
    }
  }
  // IPv6 the same way: the tunnel's addresses outside the host's networks, its routes clear of the host's
  const nets6 = (facts.networks6 ?? []).filter((n) => !LOOPBACK.has(n.dev));
  for (const ip of [t.local6, t.remote6].filter((a) => a !== undefined)) {
    const hit = nets6.find((n) => cidr6Contains(parseCidr6(n.cidr)!, parseIPv6(ip)!));
    if (hit && !facts.force) return `tunnel address ${ip} lies in ${hit.cidr} on ${hit.dev}; pick tunnel addresses outside the host's networks (or --force)`;
  }
  for (const r of env.routes6) {
    const clash = nets6.find((n) => cidrs6Overlap(parseCidr6(n.cidr)!, parseCidr6(r)!));
    if (clash && !facts.force) {
      return `route ${r} overlaps ${clash.cidr} on ${clash.dev}; refusing to take it over (use --force to route it through the tunnel anyway)`;
    }
  }
  return undefined;
}
