#!/usr/bin/env node
// A stand-in for macOS's ifconfig, route, netstat and networksetup, for running
// cloudbridge's darwin side on Linux (test/unit/darwinStandin.test.ts).
// Written from Apple's sources (network_cmds-741.100.2: route.tproj/route.c,
// netstat.tproj/route.c, ifconfig.tproj/ifconfig.c and af_inet.c) and the
// manual pages, not from cloudbridge's code. What it reproduces:
// - ifconfig: `IF inet ADDR[/PFX] PEER alias` (no /PFX: the classful mask, as
//   XNU's in_ifinit gives), `IF inet ADDR -alias`, `IF mtu N up`, a listing
//   in macOS's format; "interface X does not exist" (exit 1).
// - route: `-n add|delete [-net|-host] DST[/PFX] (-interface IF | GATEWAY)
//   [-reject]` and `-n get
//   [-inet] DST`. A DST without /PFX whose classful host part is zero is a
//   network, its mask guessed from its trailing zero bytes
//   (inet_makenetandmask); get with a mask is an exact lookup, of a host the
//   longest prefix. Kernel refusals print "route: writing to routing socket:
//   File exists|not in table" on stderr and exit 0, as Apple's route does; an
//   -interface that does not exist is "route: bad address: IF" (exit 68). A
//   GATEWAY address must be on a connected network (else "Network is
//   unreachable"), and the route goes out of that network's interface;
//   -reject marks it RTF_REJECT (route get: REJECT among the flags).
// - netstat -rn [-f inet]: destinations abbreviated as netstat's netname()
//   does (10.8/16, 192.168.1, 127); $STANDIN_NETSTAT_REFS=1 prints the Refs
//   and Use columns older releases print.
// - IPv6 (af_inet6.c, route.c with -inet6, netstat's Internet6 table):
//   `ifconfig IF inet6 ADDR [PEER] [prefixlen N] alias|-alias` (64 unless
//   told, in6_postproc), listed as in6_status prints it; `route -n
//   add|delete|get -inet6 [-net|-host] DST[/PFX] (-interface IF | GATEWAY)
//   [-reject]`, every address read as IPv6 (else "bad address", exit 68), a
//   link-local gateway's %zone naming its link; en0 has a global address and
//   a default router at fe80::1%en0.
// - networksetup: -listallnetworkservices, -getdnsservers, -setdnsservers
//   (networksetup.mjs). IPv6's parts are in inet6.mjs.
// - the device: `darwin.mjs utun open|close N` stands for opening and closing
//   a utun control socket; closing takes its addresses and routes with it.
// - `route -n monitor` (monitor.mjs): each change of the state printed as
//   route.c's monitor() prints the routing socket's messages.
// - a roam: `darwin.mjs roam IF ADDR/PFX GATEWAY` is what joining another
//   network does to IF (see roam()).
// State lives in $STANDIN_DARWIN_STATE/state.json.
import fs from 'node:fs';
import path from 'node:path';
import { die, ip, printGet } from './common.mjs';
import { ensure6, ip6, linkLocalFor, route6, text6 } from './inet6.mjs';
import { networksetup } from './networksetup.mjs';
import { monitor } from './monitor.mjs';

const stateFile = path.join(process.env.STANDIN_DARWIN_STATE ?? '/tmp/standin-darwin', 'state.json');
const tool = path.basename(process.argv[1]) === 'darwin.mjs' ? process.argv[2] : path.basename(process.argv[1]);
const args = path.basename(process.argv[1]) === 'darwin.mjs' ? process.argv.slice(3) : process.argv.slice(2);

const dotted = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
const maskBits = (bits) => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
const classMask = (a) => (a >>> 31 === 0 ? 0xff000000 : a >>> 30 === 2 ? 0xffff0000 : 0xffffff00) >>> 0;
const hex = (n) => `0x${n.toString(16).padStart(8, '0')}`;

function initial() {
  return {
    nextLink: 25,
    interfaces: {
      lo0: { link: 1, flags: 'UP,LOOPBACK,RUNNING,MULTICAST', code: 8049, mtu: 16384, addrs: [{ addr: ip('127.0.0.1'), mask: 0xff000000 }] },
      en0: {
        link: 6,
        flags: 'UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST',
        code: 8863,
        mtu: 1500,
        ether: '3c:22:fb:12:34:56',
        addrs: [{ addr: ip('192.168.1.23'), mask: 0xffffff00, broadcast: ip('192.168.1.255') }],
      },
    },
    routes: [
      { dst: 0, mask: 0, gateway: '192.168.1.1', iface: 'en0', flags: 'UGScg' },
      { dst: ip('127.0.0.0'), mask: 0xff000000, gateway: '127.0.0.1', iface: 'lo0', flags: 'UCS' },
      { dst: ip('127.0.0.1'), mask: 0xffffffff, gateway: '127.0.0.1', iface: 'lo0', flags: 'UH', host: true },
      { dst: ip('192.168.1.0'), mask: 0xffffff00, gateway: 'link#6', iface: 'en0', flags: 'UCS' },
    ],
  };
}
const load = () => (fs.existsSync(stateFile) ? JSON.parse(fs.readFileSync(stateFile, 'utf8')) : initial());
const save = (s) => {
  fs.mkdirSync(path.dirname(stateFile), { recursive: true });
  // whole or not at all: route -n monitor reads it as it changes
  fs.writeFileSync(`${stateFile}.tmp`, JSON.stringify(s));
  fs.renameSync(`${stateFile}.tmp`, stateFile);
};
/**
 * route.c's getaddr for a destination: [address, mask, isHost]. A bare
 * address whose classful host part is zero is a network (inet_lnaof() ==
 * INADDR_ANY → inet_makenetandmask), unless -host (forcehost) says it is a
 * host (network_cmds route.tproj/route.c, getaddr).
 */
function destination(s, forceNet, forceHost = false) {
  if (s === 'default') return [0, 0, false];
  const slash = s.indexOf('/');
  if (slash >= 0) {
    // inet_network accepts abbreviations (10.8 is 10.8.0.0 once shifted up)
    const parts = s.slice(0, slash).split('.').map(Number);
    if (parts.some((p) => !Number.isInteger(p) || p > 255) || parts.length > 4) die(`route: bad address: ${s}`, 68);
    let net = parts.reduce((a, p) => ((a << 8) | p) >>> 0, 0);
    if (net > 0) while ((net & 0xff000000) === 0) net = (net << 8) >>> 0;
    const bits = Number(s.slice(slash + 1));
    return [(net & maskBits(bits)) >>> 0, maskBits(bits), false];
  }
  const a = ip(s);
  if (a === undefined) die(`route: bad address: ${s}`, 68);
  const hostPart = a & ~classMask(a);
  if (!forceNet && (forceHost || hostPart !== 0)) return [a, 0xffffffff, true];
  // inet_makenetandmask without bits: the mask ends where the trailing zero bytes begin
  let i = 0;
  for (let j = 0xff; i < 4 && (a & j) === 0; i++) j = (j << 8) >>> 0;
  const bits = a === 0 ? 0 : 32 - i * 8;
  return [a, maskBits(bits), false];
}

function netname(addr, mask) {
  const o = [addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255];
  const cm = classMask(addr);
  let text;
  if (cm === 0xff000000 && (addr & 0x00ffffff) === 0) text = `${o[0]}`;
  else if (cm !== 0xffffff00 && (addr & 0xffff) === 0) text = `${o[0]}.${o[1]}`;
  else if ((addr & 0xff) === 0) text = `${o[0]}.${o[1]}.${o[2]}`;
  else text = o.join('.');
  if (mask && mask !== cm) text += `/${32 - Math.log2((~mask >>> 0) + 1)}`;
  return text;
}

function ifconfig(s) {
  if (args.length === 0 || args[0] === '-a') {
    for (const [name, i] of Object.entries(s.interfaces)) {
      process.stdout.write(`${name}: flags=${i.code}<${i.flags}> mtu ${i.mtu}\n`);
      if (i.ether) process.stdout.write(`\tether ${i.ether}\n`);
      for (const a of i.addrs) {
        let line = `\tinet ${dotted(a.addr)}`;
        if (a.peer !== undefined) line += ` --> ${dotted(a.peer)}`;
        line += ` netmask ${hex(a.mask)}`;
        if (a.broadcast !== undefined) line += ` broadcast ${dotted(a.broadcast)}`;
        process.stdout.write(`${line}\n`);
      }
      // af_inet6.c's in6_status: "inet6 ADDR[%zone] [--> PEER ]prefixlen N [flags ][scopeid 0xN ]"
      for (const a of i.addrs6 ?? []) {
        const zone = a.zone ? `%${a.zone}` : '';
        process.stdout.write(
          `\tinet6 ${a.addr}${zone} ${a.peer ? `--> ${a.peer} ` : ''}prefixlen ${a.prefix} ${a.flags ?? ''}${a.scopeid ? `scopeid 0x${a.scopeid.toString(16)} ` : ''}\n`,
        );
      }
    }
    return;
  }
  const [name, ...rest] = args;
  const i = s.interfaces[name];
  if (!i) die(`ifconfig: interface ${name} does not exist`);
  let k = 0;
  while (k < rest.length) {
    const w = rest[k++];
    if (w === 'inet6') {
      // IF inet6 ADDR [PEER] [prefixlen N] [alias], or IF inet6 ADDR -alias
      const a = ip6(rest[k++]);
      if (!a) die(`ifconfig: ${rest[k - 1]}: bad value`);
      i.addrs6 ??= [];
      const addr = text6(a.value);
      if (rest[k] === '-alias' || rest[k] === 'delete') {
        k++;
        const at = i.addrs6.findIndex((x) => x.addr === addr);
        // ifconfig.c's setifaddr: Perror("ioctl (SIOCDIFADDR)") whatever the family, err(1) with strerror(EADDRNOTAVAIL)
        if (at < 0) die("ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address");
        const [gone] = i.addrs6.splice(at, 1);
        if (gone.peer) s.routes6 = s.routes6.filter((r) => !(r.host && r.dst === gone.peer && r.iface === name));
        continue;
      }
      let peer;
      if (rest[k] && ip6(rest[k])) peer = text6(ip6(rest[k++]).value);
      let prefix = 64; // in6_postproc: 64 unless told
      if (rest[k] === 'prefixlen') {
        prefix = Number(rest[k + 1]);
        k += 2;
      }
      if (rest[k] === 'alias' || rest[k] === 'add') k++;
      linkLocalFor(s, name);
      i.addrs6.push({ addr, prefix, ...(peer ? { peer } : {}) });
      if (peer) s.routes6.push({ dst: peer, prefix: 128, gateway: addr, iface: name, flags: 'UH', host: true });
    } else if (w === 'inet') {
      const spec = rest[k++];
      const [addrText, pfx] = spec.split('/');
      const addr = ip(addrText);
      if (addr === undefined) die(`ifconfig: ${spec}: bad value`);
      if (rest[k] === '-alias' || rest[k] === 'delete') {
        k++;
        const at = i.addrs.findIndex((a) => a.addr === addr);
        if (at < 0) die("ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address");
        const [gone] = i.addrs.splice(at, 1);
        if (gone.peer !== undefined) s.routes = s.routes.filter((r) => !(r.host && r.dst === gone.peer && r.iface === name));
        continue;
      }
      let peer;
      if (rest[k] && ip(rest[k]) !== undefined) peer = ip(rest[k++]);
      if (rest[k] === 'alias' || rest[k] === 'add') k++;
      // no mask given: XNU's in_ifinit takes the address's class
      const mask = pfx !== undefined ? maskBits(Number(pfx)) : classMask(addr);
      i.addrs.push({ addr, mask, ...(peer !== undefined ? { peer } : {}) });
      if (peer !== undefined) s.routes.push({ dst: peer, mask: 0xffffffff, gateway: dotted(addr), iface: name, flags: 'UH', host: true });
    } else if (w === 'mtu') i.mtu = Number(rest[k++]);
    else if (w === 'up') i.flags = i.flags.includes('UP') ? i.flags : `UP,${i.flags}`;
    else if (w === 'down') i.flags = i.flags.replace(/(^|,)UP(,|$)/, '$1').replace(/^,/, '');
    else die(`ifconfig: ${w}: bad value`);
  }
}

function route(s) {
  if (args.includes('-inet6'))
    return route6(
      s,
      args.filter((x) => x !== '-n' && x !== '-inet6'),
    );
  const a = args.filter((x) => x !== '-n' && x !== '-inet');
  const cmd = a.shift();
  let forceNet = false;
  let forceHost = false;
  let iface;
  let dstText;
  let gateway;
  let reject = false;
  for (let k = 0; k < a.length; k++) {
    if (a[k] === '-net') forceNet = true;
    else if (a[k] === '-host') forceHost = true;
    else if (a[k] === '-reject') reject = true;
    else if (dstText !== undefined && iface === undefined && gateway === undefined && ip(a[k]) !== undefined) gateway = a[k];
    else if (a[k] === '-interface') {
      iface = a[++k];
      if (!s.interfaces[iface]) die(`route: bad address: ${iface}`, 68);
    } else if (dstText === undefined) dstText = a[k];
    else if (iface === undefined) iface = a[k];
  }
  if (!dstText) die('usage: route [-dnqtv] command [[modifiers] args]', 64);
  const [dst, mask, isHost] = destination(dstText, forceNet, forceHost);
  // what add and delete print: getaddr cuts an IPv4 destination at its "/" (*q = '\0', never put back), so
  // "add net 10.8.0.0: gateway utun4"; "default" stays the word (route.c newroute's printf of dest)
  const shown = dstText.split('/')[0];
  const refuse = (why) => {
    process.stderr.write(`route: writing to routing socket: ${why}\n`);
    const via = gateway ?? iface;
    if (cmd !== 'get') process.stdout.write(`${cmd} ${isHost ? 'host' : 'net'} ${shown}${via ? `: gateway ${via}` : ''}: ${why}\n`);
    process.exit(0); // as Apple's route: the kernel's refusal is only in what it prints
  };
  if (cmd === 'add') {
    if (s.routes.some((r) => r.dst === dst && r.mask === mask)) refuse('File exists');
    if (gateway !== undefined) {
      const g = ip(gateway);
      const on = reject
        ? 'lo0'
        : Object.entries(s.interfaces).find(([, i]) => i.addrs.some((x) => x.mask !== 0xffffffff && (x.addr & x.mask) >>> 0 === (g & x.mask) >>> 0))?.[0];
      if (!on) refuse('Network is unreachable');
      const flags = `UG${isHost ? 'H' : ''}S${reject ? 'R' : ''}`;
      s.routes.push({ dst, mask, gateway, iface: on, flags, ...(isHost ? { host: true } : {}), ...(reject ? { reject: true } : {}) });
      process.stdout.write(`add ${isHost ? 'host' : 'net'} ${shown}: gateway ${gateway}\n`);
      return;
    }
    s.routes.push({ dst, mask, gateway: `link#${s.interfaces[iface].link}`, iface, flags: isHost ? 'UHS' : 'UCS', ...(isHost ? { host: true } : {}) });
    process.stdout.write(`add ${isHost ? 'host' : 'net'} ${shown}: gateway ${iface}\n`);
  } else if (cmd === 'delete') {
    // XNU deletes by destination and mask alone (route_output → rtrequest_locked(RTM_DELETE) → rnh_deladdr(dst, netmask)): the interface named is not checked
    const at = s.routes.findIndex((r) => r.dst === dst && r.mask === mask);
    if (at < 0) refuse('not in table');
    s.routes.splice(at, 1);
    process.stdout.write(`delete ${isHost ? 'host' : 'net'} ${shown}: gateway ${iface}\n`);
  } else if (cmd === 'get') {
    // a host by longest prefix; a network (a mask given or guessed) exactly (the radix tree's rn_lookup wants
    // the same mask), and when that misses xnu's rt_lookup_common (bsd/net/route.c) falls back to
    // node_lookup_default: the default route answers for a network nobody routes as such
    const found = isHost
      ? s.routes.filter((r) => (dst & r.mask) >>> 0 === r.dst).sort((x, y) => y.mask - x.mask)[0]
      : (s.routes.find((r) => r.dst === dst && r.mask === mask) ?? s.routes.find((r) => r.mask === 0));
    if (!found) refuse('not in table');
    printGet(s, found, dotted(dst), found.mask === 0 ? 'default' : dotted(found.dst), found.mask === 0 ? 'default' : dotted(found.mask));
  } else die(`route: unknown command ${cmd}`, 64);
}

function netstat(s) {
  if (!args.includes('-r')) {
    if (!args.some((x) => /^-[a-z]*r/.test(x))) die('netstat: this stand-in only prints routes (-rn)', 64);
  }
  const refs = process.env.STANDIN_NETSTAT_REFS === '1';
  const pad = (x, n) => String(x).padEnd(n);
  // -f inet6: the IPv6 table, destinations as netstat's routename6/netname6 write them
  if (args.includes('-f') && args[args.indexOf('-f') + 1] === 'inet6') {
    // netstat's route.c with -n: WID_DST and WID_GW are 39 for AF_INET6 ("%-*s "), flags "%-10.10s ",
    // Netif "%14.14s" right-aligned, Expire only for routes that expire; the header's "%6s" Expire
    const row = (d, g, f, i) => `${d.padEnd(39)} ${g.padEnd(39)} ${f.slice(0, 10).padEnd(10)} ${i.slice(0, 14).padStart(14)}`;
    const lines = [
      'Routing tables',
      '',
      'Internet6:',
      `${'Destination'.padEnd(39)} ${'Gateway'.padEnd(39)} ${'Flags'.padEnd(10)} ${'Netif'.padStart(14)} Expire`,
    ];
    for (const r of s.routes6) lines.push(row(r.prefix === 0 ? 'default' : r.host ? r.dst : `${r.dst}/${r.prefix}`, r.gateway, r.flags, r.iface));
    lines.push(row('ff00::/8', '::1', 'UmCI', 'lo0'));
    process.stdout.write(`${lines.join('\n')}\n`);
    return;
  }
  const out = ['Routing tables', '', 'Internet:'];
  out.push(
    refs
      ? `${pad('Destination', 18)} ${pad('Gateway', 18)} ${pad('Flags', 10)} ${'Refs'.padStart(6)} ${'Use'.padStart(8)} ${'Netif'.padStart(14)} ${'Expire'.padStart(6)}`
      : `${pad('Destination', 18)} ${pad('Gateway', 18)} ${pad('Flags', 10)} ${'Netif'.padStart(14)} ${'Expire'.padStart(6)}`,
  );
  const sorted = [...s.routes].sort((x, y) => x.dst - y.dst || x.mask - y.mask);
  for (const r of sorted) {
    const dst = r.mask === 0 ? 'default' : r.host ? dotted(r.dst) : netname(r.dst, r.mask);
    const mid = refs ? ` ${'0'.padStart(6)} ${'0'.padStart(8)}` : '';
    out.push(`${pad(dst, 18)} ${pad(r.gateway, 18)} ${pad(r.flags, 10)}${mid} ${r.iface.padStart(14)}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

function utun(s) {
  const [what, unit] = args;
  const name = `utun${unit}`;
  if (what === 'open') {
    if (s.interfaces[name]) die(`utun: ${name} is open already`);
    s.interfaces[name] = { link: s.nextLink++, flags: 'UP,POINTOPOINT,RUNNING,MULTICAST', code: 8051, mtu: 1500, addrs: [] };
  } else if (what === 'close') {
    // the kernel takes the device's addresses and every route through it
    delete s.interfaces[name];
    s.routes = s.routes.filter((r) => r.iface !== name);
    s.routes6 = s.routes6.filter((r) => r.iface !== name);
  } else die('usage: darwin.mjs utun open|close N', 64);
}

/**
 * Another network on IF (a Wi-Fi roam, a new DHCP lease): configd's
 * IPConfiguration removes the old address and adds the new one (XNU's
 * in_ifscrub takes the old network's interface route, in_ifinit adds the
 * new one), and its ip_plugin replaces the default route. Static routes
 * through the old gateway stay (XNU keeps an RTF_STATIC route whose gateway
 * is no longer on a link): a pin made along the old path is still there.
 */
function roam(s) {
  const [name, spec, gateway] = args;
  const i = s.interfaces[name];
  if (!i) die(`roam: no interface ${name}`);
  const [addrText, bits] = spec.split('/');
  const addr = ip(addrText);
  const mask = maskBits(Number(bits));
  const net = (addr & mask) >>> 0;
  const old = i.addrs.filter((a) => a.mask !== 0xffffffff);
  s.routes = s.routes.filter((r) => !(r.mask === 0 || (r.iface === name && old.some((a) => r.dst === (a.addr & a.mask) >>> 0 && r.mask === a.mask))));
  i.addrs = [{ addr, mask, broadcast: (net | ~mask) >>> 0 }];
  s.routes.push({ dst: net, mask, gateway: `link#${i.link}`, iface: name, flags: 'UCS' });
  s.routes.push({ dst: 0, mask: 0, gateway, iface: name, flags: 'UGScg' });
}

if (tool === 'route' && args.includes('monitor')) {
  monitor(stateFile, load);
} else {
  run();
}

function run() {
  const state = load();
  ensure6(state);
  const tools = { ifconfig, route, netstat, utun, roam, networksetup: (st) => networksetup(st, args) };
  if (!tools[tool]) die(`darwin.mjs: unknown tool ${tool}`, 64);
  tools[tool](state);
  save(state);
}
