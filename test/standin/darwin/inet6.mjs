// IPv6 for the stand-in macOS (see darwin.mjs), from af_inet6.c, route.c with
// -inet6 and netstat's Internet6 table.
import { die, printGet } from './common.mjs';

// IPv6 as inet_pton reads it (a %zone kept apart) and inet_ntop writes it (RFC 5952: the longest run of
// two or more zero groups as ::, lower case); state keeps the text, arithmetic uses BigInt
export const ip6 = (s) => {
  const [text, zone] = String(s).split('%');
  if (!/^[0-9a-f:]+$/i.test(text) || (text.match(/::/g) ?? []).length > 1) return undefined;
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  const groups = tail === undefined ? hs : [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return { value: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n), zone };
};
export const text6 = (n) => {
  const g = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = [-1, 0];
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > best[1] && j - i >= 2) best = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hexes = g.map((x) => x.toString(16));
  if (best[0] < 0) return hexes.join(':');
  return `${hexes.slice(0, best[0]).join(':')}::${hexes.slice(best[0] + best[1]).join(':')}`;
};
export const mask6 = (bits) => (bits === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - bits)) - 1n));
export const within6 = (addr, dst, prefix) => (addr & mask6(prefix)) === (ip6(dst).value & mask6(prefix));
/** IPv6 state, added to a state file that has none: lo0's ::1, en0's global address and its router. */
export function ensure6(s) {
  if (s.routes6) return;
  s.interfaces.lo0.addrs6 ??= [
    { addr: '::1', prefix: 128 },
    { addr: 'fe80::1', zone: 'lo0', prefix: 64, scopeid: 1 },
  ];
  if (s.interfaces.en0)
    s.interfaces.en0.addrs6 ??= [
      { addr: 'fe80::1c2b:3d4e:5f60:7182', zone: 'en0', prefix: 64, scopeid: 6, flags: 'secured ' },
      { addr: '2001:db8:42::1c2b', prefix: 64, flags: 'autoconf secured ' },
    ];
  s.routes6 = [
    { dst: '::', prefix: 0, gateway: 'fe80::1%en0', iface: 'en0', flags: 'UGcg' },
    { dst: '::1', prefix: 128, gateway: '::1', iface: 'lo0', flags: 'UHL', host: true },
    { dst: '2001:db8:42::', prefix: 64, gateway: 'link#6', iface: 'en0', flags: 'UC' },
  ];
}

/**
 * The link-local address XNU gives an interface with its first IPv6
 * address (in6.c: in6_aifaddr → in6_domifattach → in6_ifattach_aliasreq,
 * in6_ifattach.c): fe80::IID/64, the IID from the interface's own hardware
 * address or, for a utun that has none, borrowed from another interface's
 * universal EUI-64 (in6_select_iid_from_all_hw): en0's MAC with the U/L bit
 * flipped and ff:fe in the middle. Its network route comes with it.
 */
export function linkLocalFor(s, name) {
  const i = s.interfaces[name];
  if ((i.addrs6 ?? []).some((a) => a.zone)) return;
  const mac = (s.interfaces.en0?.ether ?? '3c:22:fb:12:34:56').split(':').map((x) => parseInt(x, 16));
  mac[0] ^= 0x02;
  const iid = [(mac[0] << 8) | mac[1], (mac[2] << 8) | 0xff, 0xfe00 | mac[3], (mac[4] << 8) | mac[5]].map((x) => x.toString(16)).join(':');
  i.addrs6 ??= [];
  i.addrs6.unshift({ addr: `fe80::${iid}`, zone: name, prefix: 64, scopeid: i.link });
  s.routes6.push({ dst: `fe80::%${name}`, prefix: 64, gateway: `link#${i.link}`, iface: name, flags: 'UCI' });
}

/** route(8) with -inet6: add, delete and get of IPv6 routes (route.c reads every address as the family's). */
export function route6(s, a) {
  const cmd = a.shift();
  let net;
  let iface;
  let dstText;
  let gateway;
  let reject = false;
  for (let k = 0; k < a.length; k++) {
    if (a[k] === '-net') net = true;
    else if (a[k] === '-host') net = false;
    else if (a[k] === '-reject') reject = true;
    else if (a[k] === '-interface') {
      iface = a[++k];
      // getaddr reads it as an IPv6 address (AI_NUMERICHOST): a name that is no device fails there, "IF: gai_strerror", exit 1
      // (only route.c's IPv4 path says "bad address", exit 68)
      if (!s.interfaces[iface]) die(`${iface}: nodename nor servname provided, or not known`, 1);
    } else if (dstText === undefined) dstText = a[k];
    else if (gateway === undefined && iface === undefined) gateway = a[k];
  }
  if (!dstText) die('usage: route [-dnqtv] command [[modifiers] args]', 64);
  const [addrText, bits] = dstText === 'default' ? ['::', '0'] : dstText.split('/');
  const d = ip6(addrText);
  if (!d) die(`route: bad address: ${dstText}`, 68);
  const prefix = bits !== undefined ? Number(bits) : net ? 64 : 128;
  const dst = text6(d.value & mask6(prefix));
  const isHost = prefix === 128;
  const refuse = (why) => {
    process.stderr.write(`route: writing to routing socket: ${why}\n`);
    if (cmd !== 'get') process.stdout.write(`${cmd} ${isHost ? 'host' : 'net'} ${dstText}: gateway ${gateway ?? iface}: ${why}\n`);
    process.exit(0);
  };
  if (cmd === 'add') {
    if (s.routes6.some((r) => r.dst === dst && r.prefix === prefix)) refuse('File exists');
    if (gateway !== undefined) {
      const g = ip6(gateway);
      if (!g) die(`route: bad address: ${gateway}`, 68);
      // a link-local gateway names its link; a global one must lie in a network of an interface
      const on = reject
        ? 'lo0'
        : g.zone && s.interfaces[g.zone]
          ? g.zone
          : Object.entries(s.interfaces).find(([, i]) => (i.addrs6 ?? []).some((x) => !x.zone && x.prefix < 128 && within6(g.value, x.addr, x.prefix)))?.[0];
      if (!on) refuse('Network is unreachable');
      s.routes6.push({
        dst,
        prefix,
        gateway,
        iface: on,
        flags: `UG${isHost ? 'H' : ''}S${reject ? 'R' : ''}`,
        ...(isHost ? { host: true } : {}),
        ...(reject ? { reject: true } : {}),
      });
    } else {
      if (!iface) die('route: the interface or gateway is missing', 64);
      s.routes6.push({ dst, prefix, gateway: `link#${s.interfaces[iface].link}`, iface, flags: isHost ? 'UHS' : 'UCS', ...(isHost ? { host: true } : {}) });
    }
    process.stdout.write(`add ${isHost ? 'host' : 'net'} ${dstText}: gateway ${gateway ?? iface}\n`);
  } else if (cmd === 'delete') {
    // by destination and mask alone, as for IPv4 (rtrequest_locked(RTM_DELETE) → rnh_deladdr): the interface named is not checked
    const at = s.routes6.findIndex((r) => r.dst === dst && r.prefix === prefix);
    if (at < 0) refuse('not in table');
    s.routes6.splice(at, 1);
    process.stdout.write(`delete ${isHost ? 'host' : 'net'} ${dstText}: gateway ${gateway ?? iface}\n`);
  } else if (cmd === 'get') {
    const found = isHost
      ? s.routes6.filter((r) => within6(d.value, r.dst, r.prefix)).sort((x, y) => y.prefix - x.prefix)[0]
      : s.routes6.find((r) => r.dst === dst && r.prefix === prefix);
    if (!found) refuse('not in table');
    const isDefault = found.prefix === 0;
    printGet(s, found, text6(d.value), isDefault ? 'default' : found.dst, isDefault ? 'default' : text6(mask6(found.prefix)));
  } else die(`route: unknown command ${cmd}`, 64);
}
