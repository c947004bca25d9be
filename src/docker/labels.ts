import { formatIPv6, parseIPv6 } from '../config/ipv6.js';
import { isIP } from 'node:net';
import { formatEndpoint, isLoopback, parseEndpoint, ForwardProblem, type ForwardConfig } from '../config/forwards.js';

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
/** Where labels may ask root to listen (docker.exposeAddresses, docker.exposeLowPorts): loopback and ports from 1024 by default. */
export interface ExposePolicy {
  readonly addresses: readonly string[];
  readonly lowPorts: boolean;
}

export function exposeForwards(
  labels: Readonly<Record<string, string>>,
  target: string,
  policy: ExposePolicy = { addresses: [], lowPorts: false },
): ForwardConfig[] | string {
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
      // IPv6 compared in RFC 5952's form (the policy's is, config/validate.ts)
      const host = listen.host.includes(':') ? formatIPv6(parseIPv6(listen.host)!) : listen.host;
      // an IP literal only: a name would let the remote host's DNS choose where root listens
      if (!isIP(listen.host)) {
        throw new ForwardProblem(EXPOSE_LOCAL_LABEL, `${formatEndpoint(listen)}: labels name an IP address, not a host name`);
      }
      if (!isLoopback(host) && !policy.addresses.includes(host)) {
        throw new ForwardProblem(
          EXPOSE_LOCAL_LABEL,
          `${formatEndpoint(listen)}: labels may listen on loopback addresses only (allow more with docker.exposeAddresses)`,
        );
      }
      if (listen.port !== 0 && listen.port < 1024 && !policy.lowPorts) {
        throw new ForwardProblem(
          EXPOSE_LOCAL_LABEL,
          `${formatEndpoint(listen)}: labels may listen on ports from 1024 only (allow lower with docker.exposeLowPorts)`,
        );
      }
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
  /** Its IPv6 address: the first network's GlobalIPv6Address, when a network has IPv6. */
  readonly address6?: string | undefined;
}

/** A container id as the Docker API writes it. */
export const isContainerId = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{12,64}$/.test(v);

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Only the string-valued entries of a labels object: the remote daemon's JSON is not trusted to be well formed. */
function stringLabels(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v) ?? {})) if (typeof x === 'string') out[k] = x;
  return out;
}

/**
 * From GET /containers/json entries and GET /containers/ID/json answers
 * alike; undefined for anything that is not a container as the API
 * describes one (what a broken or hostile daemon may send).
 */
export function containerFacts(raw: unknown): ContainerFacts | undefined {
  const c = obj(raw);
  const id = c?.['Id'];
  if (!c || !isContainerId(id)) return undefined;
  const names = Array.isArray(c['Names']) ? c['Names'] : [];
  const name = (str(c['Name']) ?? str(names[0]) ?? id.slice(0, 12)).replace(/^\//, '');
  const nets = Object.values(obj(obj(c['NetworkSettings'])?.['Networks']) ?? {});
  const ip = nets.map((n) => str(obj(n)?.['IPAddress'])).find((a) => a);
  const ip6 = nets.map((n) => str(obj(n)?.['GlobalIPv6Address'])).find((a) => a && parseIPv6(a) !== undefined);
  const hostNet = str(obj(c['HostConfig'])?.['NetworkMode']) === 'host';
  return {
    id,
    name,
    labels: stringLabels(c['Labels'] ?? obj(c['Config'])?.['Labels']),
    address: ip ?? (hostNet ? '127.0.0.1' : undefined),
    ...(ip6 ? { address6: ip6 } : {}),
  };
}
