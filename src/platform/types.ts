import type { NetAction } from '../plan/steps.js';

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
  close(): void;
}
