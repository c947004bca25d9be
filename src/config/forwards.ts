import { parseIPv4 } from './ipv4.js';
import { isIPv4, isIPv6 } from 'node:net';
import { formatIPv6, parseIPv6 } from './ipv6.js';
import { FORWARD, FORWARD_TLS, HEALTH, HEALTH_CHECK, keysOf } from './spec.js';

export type Endpoint = { readonly kind: 'inet'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

export type HealthKind = 'tcp' | 'http' | 'smtp';

export interface HealthCheck {
  readonly kind: HealthKind;
  /** http: the path to GET. */
  readonly path: string;
  /** Seconds between checks. */
  readonly interval: number;
  /** Seconds a check may take before it counts as failed. */
  readonly timeout: number;
}

/** TLS on the local side: given files, or a self-signed pair made once and kept for the user. */
export type TlsConfig = { readonly cert: string; readonly key: string } | 'self-signed';

/** A local listener whose connections (or datagrams) reach a target as the remote host sees it. */
export interface ForwardConfig {
  /** The listen address as written: how status and logs name the forward. */
  readonly name: string;
  readonly protocol: 'tcp' | 'udp';
  readonly listen: Endpoint;
  readonly to: Endpoint;
  /** tcp: open connections at most; udp: client addresses at most. */
  readonly maxConnections: number;
  readonly tls: TlsConfig | undefined;
  readonly health: HealthCheck | undefined;
}

/** A problem with one field of a forward (relative field name, or undefined for the whole entry). */
export class ForwardProblem extends Error {
  constructor(
    readonly field: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

const fail = (field: string | undefined, message: string): never => {
  throw new ForwardProblem(field, message);
};

/**
 * "PORT", "HOST:PORT", "[IPV6]:PORT" or an absolute unix socket path. A bare
 * port listens on 127.0.0.1: exposing a remote service to the LAN is a
 * choice to write out.
 */
export function parseEndpoint(text: string, field: string, bareHost?: string): Endpoint {
  if (text.startsWith('/')) return { kind: 'unix', path: text };
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]:|([A-Za-z0-9_.-]+):)?(\d{1,5})$/.exec(text);
  if (m?.[1] !== undefined && !isIPv6(m[1])) return fail(field, `"[${m[1]}]" is not an IPv6 address`);
  const host = m?.[1] ?? m?.[2] ?? bareHost;
  if (!m || host === undefined) return fail(field, `"${text}" is not HOST:PORT, [IPV6]:PORT${bareHost ? ', PORT' : ''} or an absolute socket path`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) fail(field, `port ${port} is not 1-65535`);
  return { kind: 'inet', host, port };
}

/**
 * A loopback address of either family (where a listener is this host's
 * alone): an IP literal only. A name is never one, whatever it looks like:
 * `127.evil.example` resolves, through somebody's DNS, to 0.0.0.0.
 */
export function isLoopback(host: string): boolean {
  return (isIPv4(host) && host.startsWith('127.')) || (isIPv6(host) && formatIPv6(parseIPv6(host)!) === '::1');
}

export function formatEndpoint(e: Endpoint): string {
  return e.kind === 'unix' ? e.path : e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

type Obj = Record<string, unknown>;
const isOneOf = <T extends string>(values: readonly T[], v: unknown): v is T => values.includes(v as T);
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function keys(o: Obj, field: string | undefined, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail(field ? `${field}.${k}` : k, `unknown field (expected one of: ${allowed.join(', ')})`);
  }
}

function text(v: unknown, field: string): string {
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string' || v === '') return fail(field, 'must be a non-empty string');
  return v;
}

function seconds(v: unknown, field: string, fallback: number, max: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(v > 0) || v > max) fail(field, `must be a number of seconds, more than 0 and at most ${max}`);
  return v as number;
}

function parseHealth(raw: unknown): HealthCheck | undefined {
  if (raw === undefined || raw === null || raw === false) return undefined;
  const o: Obj =
    typeof raw === 'string' ? { check: raw } : isObj(raw) ? raw : fail('health', 'must be tcp, http, smtp or a mapping { check, path, interval, timeout }');
  keys(o, 'health', keysOf(HEALTH));
  const kind = o['check'];
  if (!isOneOf(HEALTH_CHECK.values, kind)) return fail('health.check', `must be one of: ${HEALTH_CHECK.values.join(', ')}`);
  const path = o['path'] === undefined ? '/' : text(o['path'], 'health.path');
  if (kind !== 'http' && o['path'] !== undefined) fail('health.path', 'only applies to check: http');
  if (!path.startsWith('/') || /\s/.test(path)) fail('health.path', `"${path}" is not an absolute URL path`);
  const interval = seconds(o['interval'], 'health.interval', HEALTH.fields.interval.default!, HEALTH.fields.interval.max);
  const timeout = seconds(o['timeout'], 'health.timeout', Math.min(HEALTH.fields.timeout.default!, interval), interval);
  return { kind, path, interval, timeout };
}

/**
 * One `forwards:` entry. `file` turns a relative cert/key path into an
 * absolute one. Throws ForwardProblem.
 */
export function parseForward(raw: unknown, file: (p: string) => string): ForwardConfig {
  if (!isObj(raw)) return fail(undefined, 'must be a mapping like { listen: 127.0.0.1:8080, to: 127.0.0.1:80 }');
  keys(raw, undefined, keysOf(FORWARD));
  const name = text(raw['listen'], 'listen');
  const protocols = FORWARD.fields.protocol.values;
  const protocol = raw['protocol'] ?? FORWARD.fields.protocol.default;
  if (!isOneOf(protocols, protocol)) return fail('protocol', `must be ${protocols.join(' or ')}`);
  const listen = parseEndpoint(name, 'listen', '127.0.0.1');
  const to = parseEndpoint(text(raw['to'], 'to'), 'to');
  const { min, max, default: most } = FORWARD.fields.maxConnections;
  const mc = raw['maxConnections'] ?? most;
  if (typeof mc !== 'number' || !Number.isInteger(mc) || mc < min || mc > max) fail('maxConnections', `must be an integer from ${min} to ${max}`);
  let tls: TlsConfig | undefined;
  const tlsRaw = raw['tls'];
  if (tlsRaw === true) tls = 'self-signed';
  else if (isObj(tlsRaw)) {
    keys(tlsRaw, 'tls', keysOf(FORWARD_TLS));
    tls = { cert: file(text(tlsRaw['cert'], 'tls.cert')), key: file(text(tlsRaw['key'], 'tls.key')) };
  } else if (tlsRaw !== undefined && tlsRaw !== false) fail('tls', 'must be true (a self-signed pair) or { cert, key }');
  const health = parseHealth(raw['health']);
  if (protocol === 'udp') {
    if (listen.kind !== 'inet') fail('listen', 'a UDP forward listens on HOST:PORT');
    // UDP rides the L3 tunnel (SSH carries streams only): the target must be an address the tunnel routes.
    if (to.kind !== 'inet' || (parseIPv4(to.host) === undefined && !isIPv6(to.host))) {
      fail('to', 'a UDP forward goes to IPv4:PORT or [IPv6]:PORT, routed through the tunnel');
    }
    if (tls) fail('tls', 'does not apply to UDP');
    if (health) fail('health', 'checks are for TCP forwards');
  }
  return { name, protocol, listen, to, maxConnections: mc as number, tls, health };
}
