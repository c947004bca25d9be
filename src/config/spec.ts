/**
 * The config's shape, declared once: validate.ts, forwards.ts and allow.ts
 * take their field names, ranges, choices and defaults from here, and
 * schema.ts turns it into the JSON Schema editors use (config.schema.json,
 * `cloudbridge config schema`). What a schema cannot say (addresses that
 * parse, routes that do not overlap, fields that depend on each other) stays
 * in the validator, with its one-line messages.
 */
import { CIPHERS } from './ciphers.js';
import { ENV_NAME_PATTERN } from './names.js';

interface Base {
  readonly doc: string;
}
export interface StringSpec extends Base {
  readonly kind: 'string';
  readonly default?: string;
  readonly pattern?: string;
  readonly format?: 'ipv4' | 'cidr' | 'ipv6' | 'cidr6' | 'path' | 'endpoint' | 'hostname';
}
export interface IntSpec extends Base {
  readonly kind: 'integer';
  readonly min: number;
  readonly max: number;
  readonly default?: number;
}
export interface SecondsSpec extends Base {
  readonly kind: 'seconds';
  readonly max: number;
  readonly default?: number;
}
export interface BoolSpec extends Base {
  readonly kind: 'boolean';
  readonly default?: boolean;
}
export interface EnumSpec<T extends string = string> extends Base {
  readonly kind: 'enum';
  readonly values: readonly T[];
  readonly default?: T;
}
export interface ConstSpec extends Base {
  readonly kind: 'const';
  readonly value: boolean | string;
}
export interface ListSpec extends Base {
  readonly kind: 'list';
  readonly items: Spec;
}
export interface MapSpec<F extends Record<string, Spec> = Record<string, Spec>> extends Base {
  readonly kind: 'map';
  readonly fields: F;
  readonly required?: readonly string[];
  /** Keys that go in pairs, of which one pair at least is there (the tunnel's IPv4 and IPv6 addresses). */
  readonly pairs?: readonly (readonly [string, string])[];
}
/** Free keys (environment names) to values of one shape. */
export interface DictSpec extends Base {
  readonly kind: 'dict';
  readonly keyPattern: string;
  readonly values: Spec;
}
export interface EitherSpec extends Base {
  readonly kind: 'either';
  readonly options: readonly Spec[];
}
export type Spec = StringSpec | IntSpec | SecondsSpec | BoolSpec | EnumSpec | ConstSpec | ListSpec | MapSpec | DictSpec | EitherSpec;

const str = (doc: string, more: Omit<StringSpec, 'kind' | 'doc'> = {}): StringSpec => ({ kind: 'string', doc, ...more });
const int = (doc: string, min: number, max: number, def?: number): IntSpec => ({
  kind: 'integer',
  doc,
  min,
  max,
  ...(def === undefined ? {} : { default: def }),
});
const bool = (doc: string, def?: boolean): BoolSpec => ({ kind: 'boolean', doc, ...(def === undefined ? {} : { default: def }) });
const oneOf = <T extends string>(doc: string, values: readonly T[], def?: T): EnumSpec<T> => ({
  kind: 'enum',
  doc,
  values,
  ...(def === undefined ? {} : { default: def }),
});
const list = (doc: string, items: Spec): ListSpec => ({ kind: 'list', doc, items });
const map = <F extends Record<string, Spec>>(doc: string, fields: F, required?: readonly (keyof F & string)[]): MapSpec<F> => ({
  kind: 'map',
  doc,
  fields,
  ...(required ? { required } : {}),
});
const either = (doc: string, ...options: Spec[]): EitherSpec => ({ kind: 'either', doc, options });
const constant = (value: boolean | string, doc: string): ConstSpec => ({ kind: 'const', value, doc });

/** Largest tunnel MTU: a tun frame of 16 KiB or more ends the connection (ssh2 with OpenSSH 9.2: 16350 works, 16380 does not). */
export const MAX_MTU = 16000;
export const MIN_MTU = 576;

const ipv4 = (doc: string): StringSpec => str(doc, { format: 'ipv4' });
const filePath = (doc: string, def?: string): StringSpec => str(doc, { format: 'path', ...(def ? { default: def } : {}) });

/** The tunnel's MTU when a number (the other choice is auto). */
export const TUNNEL_MTU = int('an MTU', MIN_MTU, MAX_MTU);
/** A Linux interface name: at most 15 bytes (IFNAMSIZ 16 with its NUL). */
export const DEVICE = str('the local interface name (default: cb-NAME, shortened to fit 15 bytes)', { pattern: '^[A-Za-z0-9_.-]{1,15}$' });

export const TUNNEL = {
  ...map('the point-to-point tunnel: its two addresses, MTU, and the devices on each end', {
    local: ipv4("this host's IPv4 tunnel address (left out with local6 and remote6 set: the tunnel carries IPv6 only)"),
    remote: ipv4("the remote host's IPv4 tunnel address"),
    local6: str("this host's IPv6 tunnel address (with remote6: the tunnel carries IPv6)", { format: 'ipv6' }),
    remote6: str("the remote host's IPv6 tunnel address", { format: 'ipv6' }),
    mtu: either('the tunnel MTU, or auto: the largest packet sshd carries, probed at connect', TUNNEL_MTU, constant('auto', 'probe it')),
    remoteUnit: int('the remote tun unit (tunN); unset: the lowest free one', 0, 0x7ffffffe),
    device: DEVICE,
  }),
  // one family at least, each family's two addresses together
  pairs: [
    ['local', 'remote'],
    ['local6', 'remote6'],
  ],
} as const satisfies MapSpec;

export const ROUTE = map('a route with the MTU of the path beyond the remote host (TCP MSS is clamped to it)', {
  cidr: either(
    'a CIDR (IPv4, or IPv6 with tunnel.local6) with zero host bits, or default',
    str('a CIDR', { format: 'cidr' }),
    str('an IPv6 CIDR', { format: 'cidr6' }),
    constant('default', 'everything: a full tunnel'),
  ),
  mtu: int('the path MTU beyond the remote host', MIN_MTU, MAX_MTU, 1500),
});

export const DOCKER = map('how docker on this host reaches the remote daemon', {
  mode: oneOf('socket: a local unix socket carried over SSH; tcp: the daemon over the tunnel; off: no docker', ['socket', 'tcp', 'off'] as const, 'socket'),
  host: str('tcp mode: the daemon as reached through the tunnel (default: tcp://REMOTE:2375)', { pattern: '^tcp://' }),
  remoteSocket: filePath("socket mode: the daemon's socket on the remote host", '/var/run/docker.sock'),
  expose: oneOf('labels: remote containers labelled cloudbridge.expose get local forwards while they run', ['labels', 'off'] as const, 'off'),
  exposeAddresses: list(
    'local addresses labels may listen on besides loopback',
    either('an address', ipv4('a local IPv4 address'), str('a local IPv6 address', { format: 'ipv6' })),
  ),
  exposeLowPorts: bool('let labels listen on local ports below 1024', false),
  warm: bool('socket mode: keep a channel to the daemon open ahead of the next command (default: true in socket mode)'),
  required: bool('a daemon that does not answer /_ping at connect fails the connect (default: a warning)', false),
});

export const DNS = map('split DNS through the tunnel', {
  domains: list('names resolved through the tunnel', str('a domain name', { format: 'hostname' })),
  servers: list(
    "resolvers as the remote host reaches them (default: the remote host's own)",
    either('an address', ipv4('an IPv4 address'), str('an IPv6 address', { format: 'ipv6' })),
  ),
  containers: bool("answer NAME.ENV.docker with the remote containers' addresses", false),
  all: bool("every name asked of the remote host's resolvers, over SSH (default: true with a full tunnel)"),
});

export const SOCKS = map('a SOCKS5 proxy whose connections leave from the remote host', {
  listen: either(
    'where it listens: ADDRESS:PORT, INTERFACE:PORT or PORT (default: 127.0.0.1:1080)',
    str('an endpoint', { format: 'endpoint' }),
    int('a port on 127.0.0.1', 1, 65535),
    list('several', either('an endpoint', str('an endpoint', { format: 'endpoint' }), int('a port', 1, 65535))),
  ),
  username: str('RFC 1929 user name (with password)'),
  password: str('RFC 1929 password (with username)'),
});

/** The health checks a forward's target can have. */
export const HEALTH_CHECK = oneOf('what to check', ['tcp', 'http', 'smtp'] as const);

/** A forward's own certificate and key for `tls`. */
export const FORWARD_TLS = map('a certificate and key', { cert: filePath('PEM certificate'), key: filePath('PEM key') }, ['cert', 'key']);

export const HEALTH = map('a health check of the target', {
  check: HEALTH_CHECK,
  path: str('http: the path to ask for', { default: '/' }),
  interval: { kind: 'seconds', doc: 'seconds between checks', max: 3600, default: 5 },
  timeout: { kind: 'seconds', doc: 'seconds a check may take (at most interval)', max: 3600, default: 2 },
});

export const FORWARD = map(
  'a local listener carried to a remote target',
  {
    listen: either('HOST:PORT, PORT, or an absolute socket path', str('an endpoint', { format: 'endpoint' }), int('a port', 1, 65535)),
    to: either('HOST:PORT or an absolute socket path on the remote side', str('an endpoint', { format: 'endpoint' })),
    protocol: oneOf('tcp or udp', ['tcp', 'udp'] as const, 'tcp'),
    maxConnections: int('connections open at once', 1, 65535, 256),
    tls: either('terminate TLS here: true for a self-signed pair, or { cert, key }', bool('a self-signed pair'), FORWARD_TLS),
    health: either('a health check: tcp, http, smtp or a mapping', HEALTH_CHECK, HEALTH),
  },
  ['listen', 'to'],
);

export const ALLOW_RULE = map(
  'an allow rule',
  {
    to: str('a CIDR, an address or a name resolved on the remote host'),
    proto: oneOf('the protocol', ['any', 'tcp', 'udp', 'icmp'] as const, 'any'),
    ports: either('tcp and udp: a port or a range, 443 or 8000-8100', str('a range', { pattern: '^[0-9]+(-[0-9]+)?$' }), int('a port', 1, 65535)),
  },
  ['to'],
);

export const ALLOW = either('TO [tcp|udp|icmp|any [PORTS]], or a mapping', str('TO (CIDR, address or name) [proto [ports]]'), ALLOW_RULE);

export const ENVIRONMENT = map(
  'one environment: the SSH host and what the tunnel carries',
  {
    host: str('the SSH host: a name, an ssh_config alias, or an address'),
    user: str('the SSH user (default: ssh_config, else root)'),
    port: int('the SSH port (default: ssh_config, else 22)', 1, 65535),
    identityFile: either('keys to offer, in order (default: ssh_config, else ~/.ssh/id_*)', filePath('a key file'), list('key files', filePath('a key file'))),
    knownHostsFile: filePath('known_hosts to check the host key against', '~/.ssh/known_hosts'),
    strictHostKeyChecking: oneOf("as ssh's StrictHostKeyChecking", ['yes', 'accept-new', 'no'] as const, 'yes'),
    sshConfig: filePath('the ssh_config file to read (default: ~/.ssh/config, /etc/ssh/ssh_config)'),
    connectTimeout: int('seconds to wait for the SSH handshake', 1, 300, 10),
    deadAfter: int('seconds without an answer before the session counts as lost', 3, 600, 15),
    onDemand: bool('connect at the first packet for the routes, drop after idleTimeout', false),
    idleTimeout: int('on demand: seconds without traffic before the session is dropped', 2, 86400, 300),
    tunnel: either('the L3 tunnel, or false: SSH forwarding only (SOCKS, forwards, docker socket)', TUNNEL, constant(false, 'no L3 tunnel')),
    routes: list(
      'networks routed through the tunnel; default: everything (a full tunnel, with the SSH path pinned outside it)',
      either(
        'a route',
        constant('default', 'everything: a full tunnel'),
        str('an IPv4 CIDR', { format: 'cidr' }),
        str('an IPv6 CIDR', { format: 'cidr6' }),
        ROUTE,
      ),
    ),
    exclude: list('networks that stay outside the tunnel, on the path they had (sshuttle -x)', str('an IPv4 CIDR', { format: 'cidr' })),
    lan: oneOf(
      "full tunnel: local: the networks this host is on stay reachable directly; tunnel: the default route's network goes through the tunnel too, all but its gateway",
      ['local', 'tunnel'] as const,
      'local',
    ),
    onLoss: oneOf(
      'full tunnel: when the session is lost, block: traffic and DNS stay in the tunnel and are dropped until it is back (fail closed); direct: the host takes its own routes and resolvers back meanwhile',
      ['block', 'direct'] as const,
      'block',
    ),
    nat: bool('masquerade tunnel traffic on the remote host', false),
    docker: DOCKER,
    dns: DNS,
    allow: list('an allow-list for the tunnel and SOCKS (default: everything routed passes)', ALLOW),
    forwards: list('local listeners carried to remote targets', FORWARD),
    socks: either('a SOCKS5 proxy: true for 127.0.0.1:1080, or a mapping', bool('on or off'), SOCKS),
    localMasquerade: bool("masquerade this host's containers into the tunnel", true),
    ciphers: list('SSH ciphers, in order of preference (default: AES-GCM first with AES instructions)', oneOf('a cipher', CIPHERS)),
  },
  ['host'],
);

export const CONFIG = map(
  'cloudbridge configuration',
  {
    environments: { kind: 'dict', doc: 'environments by name', keyPattern: ENV_NAME_PATTERN, values: ENVIRONMENT },
  },
  ['environments'],
);

export const keysOf = (m: MapSpec): string[] => Object.keys(m.fields);
