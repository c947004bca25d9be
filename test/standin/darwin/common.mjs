// What the stand-in's tools share (see darwin.mjs): failing as they do, IPv4 text, route get's listing.

export const die = (msg, code = 1) => {
  process.stderr.write(`${msg}\n`);
  process.exit(code);
};

export const ip = (s) => {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (!m || m.slice(1).some((o) => +o > 255)) return undefined;
  return ((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0;
};

/** What `route -n get` prints (route.c's print_getmsg): the route found for `to`, its gateway, interface and flags. */
export function printGet(s, found, to, destination, mask) {
  const gw = found.gateway.startsWith('link#') ? undefined : found.gateway;
  const lines = [
    `   route to: ${to}`,
    `destination: ${destination}`,
    ...(found.host ? [] : [`       mask: ${mask}`]),
    ...(gw ? [`    gateway: ${gw}`] : []),
    `  interface: ${found.iface}`,
    `      flags: <UP${gw ? ',GATEWAY' : ''}${found.host ? ',HOST' : ''}${found.reject ? ',REJECT' : ''},DONE,STATIC>`,
    ' recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire',
    `       0         0         0         0         0         0 ${String(s.interfaces[found.iface].mtu).padStart(8)}         0 `,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
