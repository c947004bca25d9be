import { formatIPv6, parseIPv6 } from '../../config/ipv6.js';
import type { NetAction } from '../../plan/steps.js';
import type { LocalNet, RouteInfo, ServiceDns } from '../types.js';
import { darwinCommand } from './commands.js';
import {
  interfaceNetworks,
  parseIfconfig,
  parseLsofPeers,
  parseNetstatRoutes,
  parsePsParents,
  parseRouteGet,
  prefixOfMask,
  type DarwinInterface,
} from './parse.js';
import { processTree } from '../processTree.js';
import type { OutsidePath } from '../../plan/fullTunnel.js';
import { lazyExeca } from '../../util/lazyExeca.js';
import { NETWORKSETUP_REFUSED, parseDnsServers, parseServices } from './networksetup.js';
import { interfaceNetworks6, parseNetstatRoutes6 } from './parse6.js';
import { onceEach } from '../networks6.js';
import { watchDarwinPaths } from './watch.js';

/**
 * What Apple's `route` prints when the kernel refused (it exits 0 all the
 * same): "route: writing to routing socket: File exists", "... not in
 * table", "... Network is unreachable".
 */
export const ROUTE_REFUSED = /writing to routing socket|File exists|not in table|Network is unreachable|bad address/i;

async function run(argv: readonly string[]): Promise<string> {
  const [file, ...args] = argv;
  const execa = await lazyExeca();
  const r = await execa(file!, args, { reject: false });
  const said = `${String(r.stdout)}\n${String(r.stderr)}`;
  if (r.exitCode !== 0 || (file === 'route' && ROUTE_REFUSED.test(said)) || (file === 'networksetup' && NETWORKSETUP_REFUSED.test(said))) {
    throw new Error(
      `${argv.join(' ')}: ${
        String(r.stderr || r.stdout)
          .trim()
          .split('\n')[0] ?? `exit ${r.exitCode}`
      }`,
    );
  }
  return String(r.stdout);
}

/**
 * The route(8) words that name exactly `cidr`: `-host ADDR` for a /32 (or
 * /128), else `-net CIDR`. A bare address would be read as a network when
 * its classful host part is zero (route.c's getaddr: inet_lnaof() == 0 →
 * inet_makenetandmask), so 192.168.5.0 is asked as -host.
 */
export function routeDestination(cidr: string): string[] {
  const r = routeKey(cidr);
  return [r.v6 ? '-inet6' : '-inet', ...(r.prefix === r.width ? ['-host', r.addr] : ['-net', cidr])];
}

/** A route's key as XNU keeps it: destination and prefix (a bare address is a host). */
function routeKey(cidr: string): { v6: boolean; addr: string; prefix: number; width: number } {
  const v6 = cidr.includes(':');
  const [addr, bits] = cidr.split('/');
  const width = v6 ? 128 : 32;
  return { v6, addr: addr!, prefix: bits === undefined ? width : Number(bits), width };
}

/** Whether `route -n get` answered with the route `a` names (XNU answers a missed exact lookup with a less specific route). */
function isThisRoute(got: ReturnType<typeof parseRouteGet>, a: Extract<NetAction, { op: 'route-add' | 'route-del' }>): boolean {
  const { v6, addr, prefix, width } = routeKey(a.cidr);
  const dest = got.destination === 'default' ? (v6 ? '::' : '0.0.0.0') : got.destination;
  const same = v6 ? formatIPv6(parseIPv6(dest) ?? -1n) === formatIPv6(parseIPv6(addr) ?? -2n) : dest === addr;
  const gotPrefix = got.mask === undefined || got.mask === 'default' ? (got.destination === 'default' ? 0 : width) : prefixOfMask(got.mask);
  if (!same || gotPrefix !== prefix) return false;
  return a.reject ? got.flags.includes('REJECT') : got.interface === a.dev;
}

/** Whether `route -n get` answered with the host route a pin of ours made for `addr` (route.c prints no mark of who made it). */
function isPin(got: ReturnType<typeof parseRouteGet>, addr: string, pinned: OutsidePath | undefined): boolean {
  if (typeof pinned !== 'object') return false;
  const host = { side: 'local', op: 'route-del', dev: pinned.dev, cidr: `${addr}/${addr.includes(':') ? 128 : 32}` } as const;
  return isThisRoute(got, host) && (pinned.via === undefined || got.gateway === pinned.via);
}

/** macOS: ifconfig, route and netstat through execa, arguments as arrays. */
/** An interface's addresses as ifconfig lists them, IPv4 then IPv6. */
const addressesOf = (i: DarwinInterface): string[] => [...i.inet.map((a) => a.addr), ...i.inet6.map((a) => a.addr)];

export class DarwinNet implements LocalNet {
  async apply(a: NetAction): Promise<void> {
    if (a.op === 'route-del' && !(await this.routeIs(a))) {
      // XNU deletes by destination and mask whatever the interface (rtrequest_locked): a route there now is
      // another's (a VPN that took the same utun unit), or ours is gone with its device; either way none of ours to delete
      return;
    }
    await run(darwinCommand(a));
    if (a.op === 'route-add' && !a.reject && !(await this.routeIs(a))) {
      // asked by the route's own destination and mask: a pin or a more specific route inside it (the
      // gateway's /32 when it is the network's first host) changes nothing of what this checks
      await run(darwinCommand({ ...a, op: 'route-del' })).catch(() => undefined);
      throw new Error(`route ${a.cidr} was not taken by ${a.dev}: the kernel holds another route there`);
    }
  }

  /** Whether the routing table holds exactly the route `a` names, through its device (or rejecting). */
  private async routeIs(a: Extract<NetAction, { op: 'route-add' | 'route-del' }>): Promise<boolean> {
    try {
      return isThisRoute(parseRouteGet(await run(['route', '-n', 'get', ...routeDestination(a.cidr)])), a);
    } catch {
      return false; // "not in table"
    }
  }

  async addressesOn(dev: string): Promise<string[] | undefined> {
    const i = parseIfconfig(await run(['ifconfig'])).find((x) => x.name === dev);
    return i && addressesOf(i);
  }

  async addresses(): Promise<string[]> {
    return parseIfconfig(await run(['ifconfig'])).flatMap(addressesOf);
  }

  async dnsServices(): Promise<ServiceDns[]> {
    const services = parseServices(await run(['networksetup', '-listallnetworkservices']));
    const out: ServiceDns[] = [];
    for (const service of services) out.push({ service, servers: parseDnsServers(await run(['networksetup', '-getdnsservers', service])) });
    return out;
  }

  async networks6(): Promise<RouteInfo[]> {
    return onceEach([...interfaceNetworks6(parseIfconfig(await run(['ifconfig']))), ...parseNetstatRoutes6(await run(['netstat', '-rn', '-f', 'inet6']))]);
  }

  async interfaceNetworks(): Promise<RouteInfo[]> {
    return interfaceNetworks(parseIfconfig(await run(['ifconfig'])));
  }

  async routes(): Promise<RouteInfo[]> {
    return parseNetstatRoutes(await run(['netstat', '-rn', '-f', 'inet']));
  }

  async outsidePath(addr: string | 'default', ourDev: string, pinned?: OutsidePath): Promise<OutsidePath | 'local' | undefined> {
    if (addr.startsWith('127.')) return 'local';
    const family = addr.includes(':') ? '-inet6' : '-inet';
    if (addr === '::1') return 'local';
    const get = async (what: string): Promise<ReturnType<typeof parseRouteGet> | undefined> => {
      try {
        // an address as a host (-host): 192.168.5.0 alone would be asked as the network 192.168.5.0/24
        return parseRouteGet(await run(['route', '-n', 'get', family, ...(what === 'default' ? [what] : ['-host', what])]));
      } catch {
        return undefined; // "not in table": no route
      }
    };
    let got = await get(addr);
    // our own route (the tunnel's, or the pin itself) answers: the path outside it is the default route's
    if (got?.interface === ourDev || (got && isPin(got, addr, pinned))) got = await get('default');
    if (!got?.interface) return undefined;
    if (got.interface === 'lo0' && !got.flags.includes('REJECT') && !got.flags.includes('BLACKHOLE')) return 'local';
    if (got.flags.includes('REJECT') || got.flags.includes('BLACKHOLE')) return 'unreachable';
    // an address (IPv6's may carry a %zone); link#N is on the link
    const via = got.gateway && /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+(%\w+)?)$/i.test(got.gateway) ? got.gateway : undefined;
    return { via, dev: got.interface };
  }

  /** `route -n monitor` carries no mark of whose route changed: every change counts (Pins.recheck is a no-op when nothing moved). */
  watchPaths(_ourDev: () => string, changed: () => void): { close(): void } {
    return watchDarwinPaths(changed);
  }

  async tcpPeersOf(pid: number): Promise<string[]> {
    const pids = processTree(parsePsParents(await run(['ps', '-A', '-o', 'pid=', '-o', 'ppid='])), pid);
    // lsof exits 1 when it finds nothing
    const execa = await lazyExeca();
    const r = await execa('lsof', ['-nP', '-a', '-iTCP', '-sTCP:ESTABLISHED', '-p', pids.join(','), '-Fn'], { reject: false });
    return parseLsofPeers(String(r.stdout));
  }

  close(): void {}
}
