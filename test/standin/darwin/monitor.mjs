// `route -n monitor` for the stand-in (see darwin.mjs): route.c's monitor()
// reads the routing socket forever and prints each message (print_rtmsg):
// "\ngot message of size N on CTIME" and then "MSGTYPE: len N, ..." with
// msgtypes[]'s names, flushed after each (pmsg_addrs's fflush), so a pipe
// sees each one as it comes. Here the "kernel" is the state file: each
// change of it is diffed and printed as the messages XNU would have sent
// (rtsock.c: RTM_ADD/RTM_DELETE for routes, RTM_NEWADDR/RTM_DELADDR for
// addresses, RTM_IFINFO for an interface's flags).
import fs from 'node:fs';

const ctime = () => {
  const d = new Date();
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()];
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()];
  const t = [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  return `${day} ${mon} ${String(d.getDate()).padStart(2, ' ')} ${t} ${d.getFullYear()}\n`;
};

/** What a state holds that the routing socket reports, as one key per thing. */
function keys(s) {
  const routes = new Map();
  for (const r of s.routes ?? []) routes.set(`${r.dst}/${r.mask} ${r.gateway} ${r.iface}`, r);
  for (const r of s.routes6 ?? []) routes.set(`${r.dst}/${r.prefix} ${r.gateway} ${r.iface}`, r);
  const addrs = new Map();
  for (const [name, i] of Object.entries(s.interfaces ?? {})) {
    for (const a of i.addrs ?? []) addrs.set(`${name} ${a.addr}/${a.mask}`, i);
    for (const a of i.addrs6 ?? []) addrs.set(`${name} ${a.addr}/${a.prefix}`, i);
  }
  const ifs = new Map(Object.entries(s.interfaces ?? {}).map(([name, i]) => [name, i]));
  return { routes, addrs, ifs };
}

const routeFlags = (r) =>
  `<UP${r.gateway && !r.gateway.startsWith('link#') && r.flags.includes('G') ? ',GATEWAY' : ''}${r.host ? ',HOST' : ''},DONE${r.flags.includes('S') ? ',STATIC' : ''}>`;

function print(lines) {
  for (const l of lines) process.stdout.write(`\ngot message of size ${l.len} on ${ctime()}${l.text}\n`);
}

export function monitor(stateFile, load) {
  let before = keys(load());
  const look = () => {
    const now = keys(load());
    const out = [];
    for (const [k, r] of before.routes)
      if (!now.routes.has(k)) out.push({ len: 132, text: `RTM_DELETE: Delete Route: len 132, pid: 0, seq 0, errno 0, flags:${routeFlags(r)}` });
    for (const [k, r] of now.routes)
      if (!before.routes.has(k)) out.push({ len: 132, text: `RTM_ADD: Add Route: len 132, pid: 0, seq 0, errno 0, flags:${routeFlags(r)}` });
    for (const k of before.addrs.keys())
      if (!now.addrs.has(k)) out.push({ len: 64, text: 'RTM_DELADDR: address being removed from iface: len 64, metric 0, flags:' });
    for (const k of now.addrs.keys())
      if (!before.addrs.has(k)) out.push({ len: 64, text: 'RTM_NEWADDR: address being added to iface: len 64, metric 0, flags:' });
    for (const [name, i] of now.ifs) {
      const was = before.ifs.get(name);
      if (!was || was.flags !== i.flags) out.push({ len: 112, text: `RTM_IFINFO: iface status change: len 112, if# ${i.link}, flags:<${i.flags}>` });
    }
    before = now;
    print(out);
  };
  // the kernel's messages come as it changes: here, as the state file does
  fs.watchFile(stateFile, { interval: 50 }, look);
}
