import { formatEndpoint, parseEndpoint, ForwardProblem, type ForwardConfig } from '../config/forwards.js';

export const EXPOSE_LABEL = 'cloudbridge.expose';
export const EXPOSE_LOCAL_LABEL = 'cloudbridge.expose.local';
export const EXPOSE_TLS_LABEL = 'cloudbridge.expose.tls';

/**
 * The forwards a container's labels ask for: `cloudbridge.expose=80[,443]`
 * (container ports), optionally `cloudbridge.expose.local=ADDR:PORT[,…]`
 * (one per port, default 127.0.0.1 and the same port) and
 * `cloudbridge.expose.tls=true`. `target` is the container's address as
 * the remote host reaches it. Returns the forwards or what is wrong.
 */
export function exposeForwards(labels: Readonly<Record<string, string>>, target: string): ForwardConfig[] | string {
  const portsText = labels[EXPOSE_LABEL];
  if (portsText === undefined) return [];
  const ports = portsText.split(',').map((p) => p.trim());
  const bad = ports.find((p) => !/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535);
  if (bad !== undefined) return `${EXPOSE_LABEL}=${portsText}: "${bad}" is not a port`;
  const locals = labels[EXPOSE_LOCAL_LABEL]?.split(',').map((l) => l.trim());
  if (locals && locals.length !== ports.length) return `${EXPOSE_LOCAL_LABEL} needs one address per port in ${EXPOSE_LABEL} (${ports.length})`;
  const tlsText = labels[EXPOSE_TLS_LABEL];
  if (tlsText !== undefined && tlsText !== 'true' && tlsText !== 'false') return `${EXPOSE_TLS_LABEL} is true or false, not "${tlsText}"`;
  try {
    return ports.map((p, i) => {
      const listen = parseEndpoint(locals?.[i] ?? p, EXPOSE_LOCAL_LABEL, '127.0.0.1');
      if (listen.kind !== 'inet') throw new ForwardProblem(EXPOSE_LOCAL_LABEL, 'is ADDR:PORT or PORT');
      return {
        name: formatEndpoint(listen),
        protocol: 'tcp' as const,
        listen,
        to: { kind: 'inet' as const, host: target, port: Number(p) },
        maxConnections: 256,
        tls: tlsText === 'true' ? ('self-signed' as const) : undefined,
        health: undefined,
      };
    });
  } catch (err) {
    if (err instanceof ForwardProblem) return `${err.field ?? EXPOSE_LABEL}: ${err.message}`;
    throw err;
  }
}

/** What the Docker API says of a container, as far as exposure cares. */
export interface ContainerFacts {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Its address on the remote host: the first network's, 127.0.0.1 with host networking, undefined without. */
  readonly address: string | undefined;
}

interface ApiNetworks {
  Networks?: Record<string, { IPAddress?: string }>;
}

/** From GET /containers/json entries and GET /containers/ID/json answers alike. */
export function containerFacts(raw: unknown): ContainerFacts {
  const c = raw as {
    Id: string;
    Names?: string[];
    Name?: string;
    Labels?: Record<string, string>;
    Config?: { Labels?: Record<string, string> };
    HostConfig?: { NetworkMode?: string };
    NetworkSettings?: ApiNetworks;
  };
  const name = (c.Name ?? c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');
  const nets = Object.values(c.NetworkSettings?.Networks ?? {});
  const ip = nets.map((n) => n.IPAddress).find((a) => a);
  return {
    id: c.Id,
    name,
    labels: c.Labels ?? c.Config?.Labels ?? {},
    address: ip ?? (c.HostConfig?.NetworkMode === 'host' ? '127.0.0.1' : undefined),
  };
}
