import fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as Netlink from 'netlink';
import { formatCidr, formatIPv4, ipv4Bytes, maskOf, parseCidr, parseIPv4 } from '../../config/ipv4.js';
import { formatIPv6, ipv6Bytes, ipv6FromBytes, parseCidr6, parseIPv6 } from '../../config/ipv6.js';
import { hostNetwork6, onceEach } from '../networks6.js';
import type { NetAction } from '../../plan/steps.js';
import type { OutsidePath } from '../../plan/fullTunnel.js';
import type { LocalNet, RouteInfo, ServiceDns } from '../types.js';
import { choosePath, choosePath6 } from '../pathChoice.js';
import { tcpPeersOfTree } from './procNet.js';
import { linuxCommand } from './commands.js';
import { writeResolvConf } from './resolvConf.js';
import { runFile } from '../../util/runFile.js';
import { RTPROT_CLOUDBRIDGE, watchLinuxPaths } from './watch.js';

// netlink's index loads every family it speaks (nl80211, genl, wireguard): rtnetlink and the
// flags alone load in ~26 ms here instead of ~35, on connect's critical path
const require = createRequire(import.meta.url);
const { createRtNetlink } = require('netlink/dist/rt/rt.js') as Pick<typeof Netlink, 'createRtNetlink'>;
const { FlagsNew } = require('netlink/dist/constants.js') as Pick<typeof Netlink, 'FlagsNew'>;
type RtNetlinkSocket = Netlink.RtNetlinkSocket;

const AF_INET = 2;
const AF_INET6 = 10;
const RT_TABLE_MAIN = 254;

function bytesToIPv4(b: Buffer | undefined): number | undefined {
  if (!b || b.length !== 4) return undefined;
  return b.readUInt32BE(0);
}

/** Linux: rtnetlink through the `netlink` package; no `ip` processes. */
export class LinuxNet implements LocalNet {
  private readonly sock: RtNetlinkSocket = createRtNetlink();

  /** A device's index, or undefined when there is no such device. */
  private async indexOf(dev: string): Promise<number | undefined> {
    return (await this.sock.getLinks()).find((l) => l.attrs.ifname === dev)?.data.index;
  }

  private async ifindex(dev: string): Promise<number> {
    const index = await this.indexOf(dev);
    if (index === undefined) throw new Error(`no such interface: ${dev}`);
    return index;
  }

  private async ifnames(): Promise<Map<number, string>> {
    const map = new Map<number, string>();
    for (const l of await this.sock.getLinks()) {
      if (l.data.index !== undefined && l.attrs.ifname) map.set(l.data.index, l.attrs.ifname);
    }
    return map;
  }

  async apply(a: NetAction): Promise<void> {
    if (a.op === 'resolver-add' || a.op === 'resolver-del' || a.op === 'service-dns') throw new Error(`${a.op} is macOS only`);
    if (a.op === 'resolv-conf') {
      writeResolvConf(a.content, a.symlink);
      return;
    }
    if (a.op === 'iptables' || a.op === 'resolvectl') {
      const [file, ...args] = linuxCommand(a);
      await runFile(file!, args);
      return;
    }
    if (a.op === 'route-add' || a.op === 'route-del') {
      const p = routeParts(a.cidr, a.via);
      const data = {
        family: p.family,
        dstLen: p.dstLen,
        table: RT_TABLE_MAIN,
        protocol: RTPROT_CLOUDBRIDGE,
        scope: 'UNIVERSE' as const,
        type: a.reject ? ('UNREACHABLE' as const) : ('UNICAST' as const),
      };
      // an unreachable route goes through no device
      const oif = a.reject ? undefined : await this.indexOf(a.dev);
      if (!a.reject && oif === undefined) {
        if (a.op === 'route-del') return; // its device went, and every route through it
        throw new Error(`no such interface: ${a.dev}`);
      }
      const attrs = { dst: p.dst, ...(oif === undefined ? {} : { oif }), ...(p.gateway ? { gateway: p.gateway } : {}) };
      if (a.op === 'route-add') await this.sock.newRoute(data, attrs, { flags: FlagsNew.CREATE | FlagsNew.EXCL });
      else
        await this.sock.delRoute(data, attrs).catch((err: Error) => {
          // ESRCH: no such route, gone already (the kernel drops a link's routes when it goes down, a roam does)
          if (!/\bESRCH\b/.test(err.message)) throw err;
        });
      return;
    }
    const index = await this.ifindex(a.dev);
    switch (a.op) {
      case 'addr-add':
      case 'addr-del': {
        const v6 = a.local.includes(':');
        const data = { family: v6 ? AF_INET6 : AF_INET, prefixlen: v6 ? 128 : 32, index };
        const bytes = (s: string): Buffer => (v6 ? ipv6Bytes(parseIPv6(s)!) : ipv4Bytes(parseIPv4(s)!));
        const attrs = { local: bytes(a.local), address: bytes(a.peer) };
        if (a.op === 'addr-add') await this.sock.newAddress(data, attrs, { flags: FlagsNew.CREATE | FlagsNew.EXCL });
        else await this.sock.delAddress(data, attrs);
        return;
      }
      case 'link-up':
        // Without IPv6 addresses, IPv6 off: the kernel's own chatter (router
        // solicitations, MLD) would cross the tunnel and wake on-demand sessions.
        // With them, no router advertisements are taken from the far side.
        if (a.ipv6) fs.writeFileSync(`/proc/sys/net/ipv6/conf/${a.dev}/accept_ra`, '0');
        else fs.writeFileSync(`/proc/sys/net/ipv6/conf/${a.dev}/disable_ipv6`, '1');
        await this.sock.setLink({ index, change: { up: true }, flags: { up: true } }, { mtu: a.mtu });
        return;
    }
  }

  async interfaceNetworks(): Promise<RouteInfo[]> {
    const names = await this.ifnames();
    const out: RouteInfo[] = [];
    for (const a of await this.sock.getAddresses()) {
      if (a.data.family !== AF_INET) continue;
      const addr = bytesToIPv4(a.attrs.local ?? a.attrs.address);
      if (addr === undefined) continue;
      const prefix = a.data.prefixlen ?? 32;
      out.push({ cidr: formatCidr({ addr: (addr & maskOf(prefix)) >>> 0, prefix }), dev: names.get(a.data.index ?? -1) ?? '?' });
    }
    return out;
  }

  async routes(): Promise<RouteInfo[]> {
    const names = await this.ifnames();
    const out: RouteInfo[] = [];
    for (const r of await this.sock.getRoutes({ family: AF_INET })) {
      const table = r.attrs.table ?? r.data.table;
      // blackhole/unreachable/prohibit routes are policy, not networks someone uses
      const unicast = r.data.type === undefined || r.data.type === 1 || r.data.type === 'UNICAST';
      if (table !== RT_TABLE_MAIN || !r.data.dstLen || !unicast) continue;
      const dst = bytesToIPv4(r.attrs.dst);
      if (dst === undefined) continue;
      out.push({ cidr: formatCidr({ addr: dst, prefix: r.data.dstLen }), dev: names.get(r.attrs.oif ?? -1) ?? '?' });
    }
    return out;
  }

  async networks6(): Promise<RouteInfo[]> {
    const names = await this.ifnames();
    const out: RouteInfo[] = [];
    const add = (addr: bigint | undefined, prefix: number, dev: string): void => {
      const cidr = hostNetwork6(addr, prefix);
      if (cidr) out.push({ cidr, dev });
    };
    for (const a of await this.sock.getAddresses()) {
      if (a.data.family === AF_INET6) add(ipv6FromBytes(a.attrs.address ?? a.attrs.local), a.data.prefixlen ?? 128, names.get(a.data.index ?? -1) ?? '?');
    }
    for (const r of await this.mainTable(AF_INET6)) if (!r.reject && !r.ours) add(ipv6FromBytes(r.dst), r.dstLen, r.dev);
    return onceEach(out);
  }

  async addressesOn(dev: string): Promise<string[] | undefined> {
    const index = await this.indexOf(dev);
    return index === undefined ? undefined : this.addressesWhere((i) => i === index);
  }

  addresses(): Promise<string[]> {
    return this.addressesWhere(() => true);
  }

  private async addressesWhere(onLink: (index: number | undefined) => boolean): Promise<string[]> {
    const out: string[] = [];
    for (const a of await this.sock.getAddresses()) {
      if (!onLink(a.data.index)) continue;
      const text =
        a.data.family === AF_INET6
          ? formatIPv6(ipv6FromBytes(a.attrs.local ?? a.attrs.address) ?? 0n)
          : formatIPv4(bytesToIPv4(a.attrs.local ?? a.attrs.address) ?? 0);
      out.push(text);
    }
    return out;
  }

  async outsidePath(addr: string | 'default'): Promise<OutsidePath | 'local' | undefined> {
    if (addr.includes(':')) {
      const a6 = parseIPv6(addr)!;
      if (a6 === 1n) return 'local';
      for (const x of await this.sock.getAddresses()) if (x.data.family === AF_INET6 && ipv6FromBytes(x.attrs.local ?? x.attrs.address) === a6) return 'local';
      const table = (await this.mainTable(AF_INET6)).map((r) => ({
        ...r,
        dst: { addr: ipv6FromBytes(r.dst) ?? 0n, prefix: r.dstLen },
        gateway: ipv6FromBytes(r.gateway),
      }));
      return choosePath6(table, a6);
    }
    const a = addr === 'default' ? 'default' : parseIPv4(addr)!;
    if (a !== 'default') {
      if (a >>> 24 === 127) return 'local';
      for (const x of await this.sock.getAddresses()) if (x.data.family === AF_INET && bytesToIPv4(x.attrs.local) === a) return 'local';
    }
    const table = (await this.mainTable(AF_INET)).map((r) => ({
      ...r,
      dst: { addr: bytesToIPv4(r.dst) ?? 0, prefix: r.dstLen },
      gateway: bytesToIPv4(r.gateway),
    }));
    return choosePath(table, a);
  }

  /** The main table's routes of one family, as they go into choosePath: unicast, and those that go nowhere. */
  private async mainTable(
    family: number,
  ): Promise<{ dst: Buffer | undefined; dstLen: number; gateway: Buffer | undefined; dev: string; metric: number; reject: boolean; ours: boolean }[]> {
    const names = await this.ifnames();
    const out = [];
    for (const r of await this.sock.getRoutes({ family })) {
      if ((r.attrs.table ?? r.data.table) !== RT_TABLE_MAIN) continue;
      const type = r.data.type;
      const unicast = type === undefined || type === 1 || type === 'UNICAST';
      if (!unicast && !['UNREACHABLE', 'BLACKHOLE', 'PROHIBIT', 6, 7, 8].includes(type as string | number)) continue;
      out.push({
        dst: r.attrs.dst,
        dstLen: r.data.dstLen ?? 0,
        gateway: r.attrs.gateway,
        dev: names.get(r.attrs.oif ?? -1) ?? '',
        metric: r.attrs.priority ?? 0,
        reject: !unicast,
        ours: Number(r.data.protocol) === RTPROT_CLOUDBRIDGE || r.data.protocol === String(RTPROT_CLOUDBRIDGE),
      });
    }
    return out;
  }

  watchPaths(ourDev: () => string, changed: () => void): { close(): void } {
    return watchLinuxPaths(ourDev, changed);
  }

  /** Network services are macOS's: Linux's DNS goes through resolv.conf or systemd-resolved. */
  dnsServices(): Promise<ServiceDns[]> {
    return Promise.resolve([]);
  }

  tcpPeersOf(pid: number): Promise<string[]> {
    return Promise.resolve(tcpPeersOfTree(pid));
  }

  close(): void {
    this.sock.socket.close();
  }
}

/** A route's destination and gateway as rtnetlink takes them, either family. */
function routeParts(cidr: string, via: string | undefined): { family: number; dstLen: number; dst: Buffer; gateway: Buffer | undefined } {
  if (cidr.includes(':')) {
    const c = parseCidr6(cidr)!;
    return { family: AF_INET6, dstLen: c.prefix, dst: ipv6Bytes(c.addr), gateway: via ? ipv6Bytes(parseIPv6(via)!) : undefined };
  }
  const c = parseCidr(cidr)!;
  return { family: AF_INET, dstLen: c.prefix, dst: ipv4Bytes(c.addr), gateway: via ? ipv4Bytes(parseIPv4(via)!) : undefined };
}
