import { formatIPv4, parseCidr } from '../../config/ipv4.js';
import type { NetAction } from '../../plan/steps.js';
import type { LocalNet, RouteInfo, ServiceDns } from '../types.js';
import { darwinCommand } from './commands.js';
import { interfaceNetworks, parseIfconfig, parseLsofPeers, parseNetstatRoutes, parsePsParents, parseRouteGet } from './parse.js';
import { processTree } from '../processTree.js';
import type { OutsidePath } from '../../plan/fullTunnel.js';
import { lazyExeca } from '../../util/lazyExeca.js';
import { NETWORKSETUP_REFUSED, parseDnsServers, parseServices } from './networksetup.js';
import { interfaceNetworks6, parseNetstatRoutes6 } from './parse6.js';
import { onceEach } from '../networks6.js';

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

/** macOS: ifconfig, route and netstat through execa, arguments as arrays. */
export class DarwinNet implements LocalNet {
  async apply(a: NetAction): Promise<void> {
    await run(darwinCommand(a));
    if (a.op === 'route-add' && !a.reject && !a.cidr.includes(':')) {
      // `route add` can succeed and still leave another, more specific route in charge
      // asked for a host inside it: a network address alone is read with a classful mask (172.16.0.0 as /16)
      const c = parseCidr(a.cidr)!;
      const got = parseRouteGet(await run(['route', '-n', 'get', '-inet', formatIPv4(hostInside(c.addr, c.prefix))]));
      if (got.interface !== a.dev && c.prefix > 0) {
        throw new Error(`route ${a.cidr} added but traffic still goes to ${got.interface ?? 'nowhere'}`);
      }
    }
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

  async outsidePath(addr: string | 'default', ourDev: string): Promise<OutsidePath | 'local' | undefined> {
    if (addr.startsWith('127.')) return 'local';
    const family = addr.includes(':') ? '-inet6' : '-inet';
    if (addr === '::1') return 'local';
    const get = async (what: string): Promise<ReturnType<typeof parseRouteGet> | undefined> => {
      try {
        return parseRouteGet(await run(['route', '-n', 'get', family, what]));
      } catch {
        return undefined; // "not in table": no route
      }
    };
    let got = await get(addr);
    // our own route (the tunnel's) answers: the path outside it is the default route's
    if (got?.interface === ourDev) got = await get('default');
    if (!got?.interface) return undefined;
    if (got.interface === 'lo0' && !got.flags.includes('REJECT') && !got.flags.includes('BLACKHOLE')) return 'local';
    if (got.flags.includes('REJECT') || got.flags.includes('BLACKHOLE')) return 'unreachable';
    // an address (IPv6's may carry a %zone); link#N is on the link
    const via = got.gateway && /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+(%\w+)?)$/i.test(got.gateway) ? got.gateway : undefined;
    return { via, dev: got.interface };
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

/** An address inside the network (its first host; the address itself for /31 and /32). */
export function hostInside(addr: number, prefix: number): number {
  return prefix >= 31 ? addr : (addr + 1) >>> 0;
}
