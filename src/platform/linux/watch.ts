import fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as Netlink from 'netlink';

const require = createRequire(import.meta.url);
const { createRtNetlink } = require('netlink/dist/rt/rt.js') as Pick<typeof Netlink, 'createRtNetlink'>;
const { parseMessage } = require('netlink/dist/rt/structs.js') as { parseMessage: (type: number, data: Buffer) => Netlink.rt.Message };

/** rtm_protocol for our routes ("proto 203" in `ip route`), so they can be told apart from everyone else's. */
export const RTPROT_CLOUDBRIDGE = 203;

// rtnetlink message types (linux/rtnetlink.h)
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_DELADDR = 21;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;

/**
 * rtnetlink's notifications of links, addresses and routes (both families),
 * as wg-quick's monitor and `ip monitor` read them. `changed` is called for
 * what can take a connection's path away: an address or a route removed, a
 * default route made or replaced, a link that was up gone or down (IPv4
 * drops a downed link's routes without a word). New links, addresses and
 * networks are not (CI's namespaces come and go by the dozen), nor anything
 * of our device or a route of ours. Listening needs no privilege (rtnetlink
 * lets anyone join these groups): the unprivileged controller watches itself.
 */
export function watchLinuxPaths(ourDev: () => string, changed: () => void): { close(): void } {
  const sock = createRtNetlink();
  for (const group of ['LINK', 'IPV4_IFADDR', 'IPV6_IFADDR', 'IPV4_ROUTE', 'IPV6_ROUTE'] as const) sock.addMembership(group);
  const known = { name: '', index: -1 };
  /** Our device's index, read once per name (its routes and addresses come by index). */
  const ourIndex = (): number => {
    const name = ourDev();
    if (name !== known.name) {
      known.name = name;
      try {
        known.index = name ? Number(fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')) : -1;
      } catch {
        known.index = -1;
      }
    }
    return known.index;
  };
  /** Links seen up: one of them going down or away is a change; one made (down) is not. */
  const up = new Set<number>();
  sock
    .getLinks()
    .then((links) => {
      for (const l of links) if (l.data.flags?.up && l.data.index !== undefined) up.add(l.data.index);
    })
    .catch(() => undefined);
  const matters = (type: number, m: Netlink.rt.Message): boolean => {
    switch (m.kind) {
      case 'route': {
        if (Number(m.data.protocol) === RTPROT_CLOUDBRIDGE || m.attrs.oif === ourIndex()) return false;
        return type === RTM_DELROUTE || (type === RTM_NEWROUTE && !m.data.dstLen);
      }
      case 'address':
        return type === RTM_DELADDR && m.data.index !== ourIndex();
      case 'link': {
        const index = m.data.index ?? -1;
        if (index === ourIndex()) return false;
        const isUp = type === RTM_NEWLINK && m.data.flags?.up === true;
        const was = up.has(index);
        if (isUp) up.add(index);
        else up.delete(index);
        return was && (type === RTM_DELLINK || !isUp);
      }
      default:
        return false;
    }
  };
  // the raw messages: the parsed ones lose their type (new or deleted)
  sock.socket.on('message', (msgs) => {
    let yes = false;
    for (const x of msgs) {
      try {
        if (matters(x.type, parseMessage(x.type, x.data))) yes = true;
      } catch {
        yes = true; // a notification the parser does not know is still one
      }
    }
    if (yes) changed();
  });
  // ENOBUFS (notifications lost while the socket was full): whatever was lost may have mattered
  sock.socket.on('error', () => changed());
  return { close: () => sock.socket.close() };
}
