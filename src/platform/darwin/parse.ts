import { formatCidr, maskOf, parseIPv4 } from '../../config/ipv4.js';
import { parseIPv6 } from '../../config/ipv6.js';
import type { RouteInfo } from '../types.js';

/**
 * macOS abbreviates destinations in `netstat -rn`: "10.8/16" is 10.8.0.0/16,
 * "192.168.1" is 192.168.1.0/24 (one octet per 8 bits given), "127" is
 * 127.0.0.0/8, four octets without a prefix is a host route.
 */
export function parseNetstatDestination(text: string): string | undefined {
  if (text === 'default') return '0.0.0.0/0';
  const [addr, prefixText] = text.split('/');
  if (!addr) return undefined;
  const octets = addr.split('.');
  if (octets.length > 4 || octets.some((o) => !/^\d{1,3}$/.test(o))) return undefined;
  while (octets.length < 4) octets.push('0');
  const value = parseIPv4(octets.join('.'));
  if (value === undefined) return undefined;
  const prefix = prefixText === undefined ? 8 * addr.split('.').length : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  return formatCidr({ addr: (value & maskOf(prefix)) >>> 0, prefix });
}

/** The rows of `netstat -rn` (either family), without default, link-layer (ARP/NDP) and multicast entries. */
export function netstatRows(text: string): { readonly dest: string; readonly netif: string }[] {
  const out: { dest: string; netif: string }[] = [];
  // the columns come from the header: older releases print Refs and Use between Flags and Netif
  let col: { flags: number; netif: number } | undefined;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'Destination') {
      const flags = f.indexOf('Flags');
      const netif = f.indexOf('Netif');
      col = flags > 0 && netif > 0 ? { flags, netif } : undefined;
      continue;
    }
    if (!col || f.length <= col.netif) continue;
    const [dest, gateway] = f as [string, string];
    const flags = f[col.flags]!;
    if (dest === 'default' || flags.includes('m') || /^([0-9a-f]{1,2}:){5}[0-9a-f]{1,2}$/i.test(gateway)) continue;
    out.push({ dest, netif: f[col.netif]! });
  }
  return out;
}

/** IPv4 routes from `netstat -rn -f inet`, without default, link-layer (ARP) and multicast entries. */
export function parseNetstatRoutes(text: string): RouteInfo[] {
  return netstatRows(text).flatMap(({ dest, netif }) => {
    const cidr = parseNetstatDestination(dest);
    return cidr ? [{ cidr, dev: netif }] : [];
  });
}

export interface RouteGet {
  readonly destination: string;
  readonly mask: string | undefined;
  readonly gateway: string | undefined;
  readonly interface: string | undefined;
  /** `<UP,GATEWAY,HOST,DONE,STATIC>` as a list. */
  readonly flags: readonly string[];
}

/** `route -n get ADDR`: which route and interface the kernel would use. */
export function parseRouteGet(text: string): RouteGet {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([a-z ]+):\s*(\S.*)$/.exec(line);
    if (m) fields.set(m[1]!.trim(), m[2]!.trim());
  }
  return {
    destination: fields.get('destination') ?? '',
    mask: fields.get('mask'),
    gateway: fields.get('gateway'),
    interface: fields.get('interface'),
    flags: (fields.get('flags') ?? '').replace(/[<>]/g, '').split(',').filter(Boolean),
  };
}

export interface DarwinInterface {
  readonly name: string;
  readonly flags: readonly string[];
  readonly mtu: number | undefined;
  readonly inet: readonly { readonly addr: string; readonly prefix: number; readonly peer: string | undefined }[];
  /** IPv6 addresses without their %scope (af_inet6.c's in6_status: `inet6 ADDR [--> PEER ]prefixlen N …`). */
  readonly inet6: readonly { readonly addr: string; readonly prefix: number }[];
}

/** A mask as macOS prints it (ifconfig's 0xffffff00, route get's 255.255.255.0 or ffff:ffff::) as its prefix length: its leading ones. */
export function prefixOfMask(mask: string): number {
  const [bits, width] = mask.includes(':')
    ? [parseIPv6(mask) ?? 0n, 128]
    : [BigInt(mask.startsWith('0x') ? Number.parseInt(mask.slice(2), 16) >>> 0 : (parseIPv4(mask) ?? 0)), 32];
  let n = 0;
  while (n < width && (bits >> BigInt(width - 1 - n)) & 1n) n++;
  return n;
}

/** `ifconfig` (all interfaces): names, flags, MTU and addresses. */
export function parseIfconfig(text: string): DarwinInterface[] {
  const out: { name: string; flags: string[]; mtu: number | undefined; inet: DarwinInterface['inet'][number][]; inet6: DarwinInterface['inet6'][number][] }[] =
    [];
  for (const line of text.split('\n')) {
    const head = /^([a-z][a-z0-9]*): flags=[0-9a-f]+<([^>]*)>(?: mtu (\d+))?/i.exec(line);
    if (head) {
      out.push({ name: head[1]!, flags: head[2] ? head[2].split(',') : [], mtu: head[3] ? Number(head[3]) : undefined, inet: [], inet6: [] });
      continue;
    }
    const inet = /^\s+inet (\d+\.\d+\.\d+\.\d+)(?: --> (\d+\.\d+\.\d+\.\d+))? netmask (0x[0-9a-f]+)/i.exec(line);
    const current = out[out.length - 1];
    if (inet && current) current.inet.push({ addr: inet[1]!, peer: inet[2], prefix: prefixOfMask(inet[3]!) });
    const inet6 = /^\s+inet6 ([0-9a-f:.]+)(?:%\S+)? (?:--> \S+ )?prefixlen (\d+)/i.exec(line);
    if (inet6 && current) current.inet6.push({ addr: inet6[1]!, prefix: Number(inet6[2]) });
  }
  return out;
}

/** The networks of the host's interface addresses, as overlap checks need them. */
export function interfaceNetworks(ifaces: readonly DarwinInterface[]): RouteInfo[] {
  const out: RouteInfo[] = [];
  for (const i of ifaces) {
    for (const a of i.inet) {
      const v = parseIPv4(a.addr)!;
      out.push({ cidr: formatCidr({ addr: (v & maskOf(a.prefix)) >>> 0, prefix: a.prefix }), dev: i.name });
    }
  }
  return out;
}

/** `ps -A -o pid= -o ppid=`: every process's (pid, parent pid). */
export function parsePsParents(psText: string): [number, number][] {
  const out: [number, number][] = [];
  for (const line of psText.split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (Number.isInteger(p) && Number.isInteger(pp)) out.push([p!, pp!]);
  }
  return out;
}

/** `lsof -nP -a -iTCP -sTCP:ESTABLISHED -p PIDS -Fn`: the remote addresses (`n10.0.0.5:50123->10.0.0.2:22`, `n[fd00::5]:50123->[fd00::2]:22`). */
export function parseLsofPeers(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^n.*->(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9a-fA-F:.%\w]+)\]):\d+$/.exec(line.trim());
    if (m) out.add(m[1] ?? m[2]!);
  }
  return [...out];
}
