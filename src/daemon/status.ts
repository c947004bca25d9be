import type { Phase } from '../util/phases.js';
import type { PumpStats } from '../datapath/pump.js';
import { shownRoutes } from '../config/routes.js';
import type { EnvironmentConfig } from '../config/types.js';
import { dockerHostFor } from '../docker/endpoint.js';
import { describeRoute, type SshRoute } from '../ssh/route.js';
import type { DockerSocketStatus } from '../docker/socket.js';
import type { DockerHealthStatus } from './dockerHealth.js';
import type { ServicesStatus } from './services.js';
import type { Resources } from '../util/resources.js';

/** up: SSH session live; connecting: lost and being remade; idle: on demand, no session. */
export type ControllerState = 'up' | 'connecting' | 'idle';

/** What a controller answers to `status` on its control socket. */
export interface Status extends ServicesStatus {
  readonly env: string;
  readonly state: ControllerState;
  readonly pid: number;
  readonly since: string;
  readonly uptimeSeconds: number;
  readonly host: string;
  readonly localDevice: string;
  readonly remoteDevice: string;
  /** The tunnel's IPv4 pair; '' without one (an IPv6-only tunnel, or none). */
  readonly local: string;
  readonly remote: string;
  /** The tunnel's IPv6 pair; '' without one. */
  readonly local6: string;
  readonly remote6: string;
  /** This end's device MTU (the largest packet towards the remote host), and the remote device's. */
  readonly mtu: number;
  readonly remoteMtu: number;
  /** Where tun packets are sealed (outbound) and opened (inbound) now: 'c' (the addon; AES-GCM on a direct connection) or 'js'. */
  readonly datapath: { readonly outbound: 'c' | 'js'; readonly inbound: 'c' | 'js' };
  /** As configured: default first for a full tunnel. */
  readonly routes: readonly string[];
  /** routes: [default]: whether its halves stand now, what the local networks do, and whether traffic is blocked while the session is remade (onLoss: block). */
  readonly fullTunnel: {
    readonly active: boolean;
    readonly lan: 'local' | 'tunnel';
    readonly onLoss: 'block' | 'direct';
    readonly blocked: boolean;
    readonly ipv6Blocked: boolean;
  } | null;
  /** Addresses the SSH connection depends on, held outside the tunnel, with their role. */
  readonly pins: readonly string[];
  readonly exclude: readonly string[];
  readonly nat: boolean;
  readonly onDemand: boolean;
  readonly dockerHost: string | null;
  /** docker.mode socket: connections, those that found a channel open ahead, version checks answered here. */
  readonly dockerSocket: DockerSocketStatus | null;
  /** Whether the remote daemon answered its last /_ping (null with docker off). */
  readonly docker: DockerHealthStatus | null;
  readonly reconnects: number;
  /** How long connect took, phase by phase: ms since the command started at which each ended (util/phases.ts). */
  readonly phases: readonly Phase[];
  readonly lastError: string | null;
  readonly stats: PumpStats;
  /** The controller's own memory (bytes): rss, heapTotal, heapUsed, external, arrayBuffers. */
  readonly memory: NodeJS.MemoryUsage;
  /** Its open descriptors, timers and other handles (`npm run soak` watches them for growth). */
  readonly resources: Resources;
}

export function emptyStats(): PumpStats {
  return { txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, rxMalformed: 0, rxDropped: 0, rxSpoofed: 0, txDropped: 0, refused: 0 };
}

export function nativeOrNot(native: { outbound: boolean; inbound: boolean } | undefined): Status['datapath'] {
  return { outbound: native?.outbound ? 'c' : 'js', inbound: native?.inbound ? 'c' : 'js' };
}

/** What a status says of the configuration alone. */
export function configuredStatus(
  env: EnvironmentConfig,
  route: SshRoute,
): Pick<Status, 'env' | 'host' | 'local' | 'remote' | 'local6' | 'remote6' | 'routes' | 'exclude' | 'nat' | 'onDemand' | 'dockerHost'> {
  return {
    env: env.name,
    host: describeRoute(route),
    local: env.tunnel?.local ?? '',
    remote: env.tunnel?.remote ?? '',
    local6: env.tunnel?.local6 ?? '',
    remote6: env.tunnel?.remote6 ?? '',
    routes: shownRoutes(env),
    exclude: env.exclude,
    nat: env.nat,
    onDemand: env.onDemand,
    dockerHost: dockerHostFor(env) ?? null,
  };
}
