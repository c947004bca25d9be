import type { OutsidePath } from '../plan/fullTunnel.js';
import type { NetAction } from '../plan/steps.js';

/** A macOS network service and the DNS servers set on it ([]: none set, the ones DHCP gives apply). */
export interface ServiceDns {
  readonly service: string;
  readonly servers: readonly string[];
}

export interface RouteInfo {
  readonly cidr: string;
  readonly dev: string;
}

/** The local host's network configuration, behind one interface per platform. */
export interface LocalNet {
  apply(action: NetAction): Promise<void>;
  /** Networks of addresses assigned to local interfaces. */
  interfaceNetworks(): Promise<RouteInfo[]>;
  /** Non-default IPv4 routes in the main table. */
  routes(): Promise<RouteInfo[]>;
  /** IPv6's networks on local interfaces and routes in the main table (link-local, multicast and hosts left out). */
  networks6(): Promise<RouteInfo[]>;
  /**
   * Where `addr` goes (or the default route goes) with cloudbridge's own
   * routes left out (`ourDev`: its tun device): the path a pin keeps.
   * 'local': an address of this host. Undefined: no route. `pinned`: the
   * path of a pin of ours for `addr`, looked past (Linux knows its routes by
   * their protocol; macOS's carry no such mark).
   */
  outsidePath(addr: string | 'default', ourDev: string, pinned?: OutsidePath): Promise<OutsidePath | 'local' | undefined>;
  /**
   * Calls `changed` when the host's routes, addresses or links change (not
   * those of `ourDev`, nor routes of ours where the platform marks them):
   * rtnetlink's groups on Linux, `route -n monitor` on macOS.
   */
  watchPaths(ourDev: () => string, changed: () => void): { close(): void };
  /** The addresses on device `dev` (IPv6 without a %zone), or undefined when there is no such device. */
  addressesOn(dev: string): Promise<string[] | undefined>;
  /**
   * Every address assigned on this host, whatever its link's state. Not
   * os.networkInterfaces(): libuv leaves out a link without carrier, as
   * docker0 is until its first container runs, and the helper refused the
   * DNS forwarder's port 53 there for it.
   */
  addresses(): Promise<string[]>;
  /** macOS: every network service's DNS servers as set now (networksetup); Linux has none. */
  dnsServices(): Promise<ServiceDns[]>;
  /** The remote addresses of the TCP connections of process `pid` and its children: a ProxyCommand's or jump process's far end. */
  tcpPeersOf(pid: number): Promise<string[]>;
  close(): void;
}
