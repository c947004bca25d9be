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
   * 'local': an address of this host. Undefined: no route.
   */
  outsidePath(addr: string | 'default', ourDev: string): Promise<OutsidePath | 'local' | undefined>;
  /** macOS: every network service's DNS servers as set now (networksetup); Linux has none. */
  dnsServices(): Promise<ServiceDns[]>;
  /** The remote addresses of the TCP connections of process `pid` and its children: a ProxyCommand's or jump process's far end. */
  tcpPeersOf(pid: number): Promise<string[]>;
  close(): void;
}
