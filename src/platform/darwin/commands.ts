import type { LocalAction } from '../../plan/steps.js';
import { shellQuote } from '../../util/quote.js';
import { contextCommand } from '../../plan/contextCommand.js';
import { setDnsServers } from './networksetup.js';

/** macOS asks /etc/resolver/DOMAIN for names under DOMAIN (resolver(5)). */
export const resolverFile = (domain: string): string => `/etc/resolver/${domain}`;

/** The macOS command for a local action: ifconfig and route, as arrays (no shell). */
export function darwinCommand(a: LocalAction): string[] {
  switch (a.op) {
    case 'addr-add':
      // ifconfig(8): a point-to-point IPv6 pair with its prefix length, as for gif(4)
      if (a.local.includes(':')) return ['ifconfig', a.dev, 'inet6', a.local, a.peer, 'prefixlen', '128', 'alias'];
      // /32: with no mask XNU gives the address its classful one (10.x: /8). It still routes only the peer's host
      // route, but ifconfig (and our preflight) would show the utun holding 10.0.0.0/8: every other 10.x environment would clash
      return ['ifconfig', a.dev, 'inet', `${a.local}/32`, a.peer, 'alias'];
    case 'addr-del':
      return ['ifconfig', a.dev, a.local.includes(':') ? 'inet6' : 'inet', a.local, '-alias'];
    case 'link-up':
      return ['ifconfig', a.dev, 'mtu', String(a.mtu), 'up'];
    case 'route-add':
    case 'route-del': {
      const verb = a.op === 'route-add' ? 'add' : 'delete';
      // a pin is a host route; a network address alone would be read with a classful mask, so always /N
      const v6 = a.cidr.includes(':');
      const host = v6 ? a.cidr.endsWith('/128') : a.cidr.endsWith('/32');
      const dst = [...(v6 ? ['-inet6'] : []), ...(host ? ['-host', a.cidr.split('/')[0]!] : ['-net', a.cidr])];
      // route(8): -reject answers "unreachable" (RTF_REJECT), its gateway only a formality, but of
      // the route's family (route.c reads it as one: 127.0.0.1 is a "bad address" for -inet6)
      if (a.reject) return ['route', '-n', verb, ...dst, v6 ? '::1' : '127.0.0.1', '-reject'];
      return ['route', '-n', verb, ...dst, ...(a.via ? [a.via] : ['-interface', a.dev])];
    }
    case 'resolver-add': {
      // one small script so the plan shows exactly what runs; every value is quoted
      const lines = a.servers.map((s) => shellQuote(`nameserver ${s}`)).join(' ');
      return ['/bin/sh', '-c', `umask 022 && mkdir -p /etc/resolver && printf '%s\\n' ${lines} > ${shellQuote(resolverFile(a.domain))}`];
    }
    case 'resolver-del':
      return ['rm', '-f', resolverFile(a.domain)];
    case 'service-dns':
      return setDnsServers(a.service, a.servers);
    case 'resolv-conf':
      throw new Error('macOS splits DNS with /etc/resolver files, not resolv.conf');
    case 'resolvectl':
      throw new Error('macOS splits DNS with /etc/resolver files, not systemd-resolved');
    case 'iptables':
      throw new Error("iptables is Linux only (macOS containers run in a VM whose traffic leaves with the host's address)");
    case 'context-create':
    case 'context-remove':
      return contextCommand(a);
  }
}
