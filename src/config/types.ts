import type { AllowRule } from './allow.js';
import type { Endpoint, ForwardConfig } from './forwards.js';
import type { Cipher } from './ciphers.js';

export type StrictHostKeyChecking = 'yes' | 'accept-new' | 'no';
export type DockerMode = 'socket' | 'tcp' | 'off';
/** Full tunnel: whether the networks this host is on stay reachable directly (local) or go through the tunnel too. */
export type LanMode = 'local' | 'tunnel';
/** What a full tunnel does while its session is lost. */
export type OnLoss = 'block' | 'direct';

export interface TunnelConfig {
  /** Local point-to-point IPv4 address; undefined: the tunnel carries IPv6 only (local6 is set). */
  readonly local: string | undefined;
  /** Remote point-to-point IPv4 address, set with `local`. */
  readonly remote: string | undefined;
  /** The MTU to set; with mtuAuto, the ceiling the probe starts from. */
  readonly mtu: number;
  /** Probe the largest packet sshd carries at connect time and use that. */
  readonly mtuAuto: boolean;
  /** Remote tun unit (tunN); undefined picks the lowest free one. */
  readonly remoteUnit: number | undefined;
  /** Local interface name. */
  readonly device: string;
  /** IPv6 point-to-point addresses (RFC 5952 text); undefined: the tunnel carries IPv4 only. One family at least. */
  readonly local6: string | undefined;
  readonly remote6: string | undefined;
}

export interface DockerConfig {
  readonly mode: DockerMode;
  /** tcp mode: the daemon's address as reached through the tunnel. */
  readonly host: string | undefined;
  /** socket mode: the daemon's socket on the remote host. */
  readonly remoteSocket: string;
  /** The daemon's API as the remote host reaches it (its socket, or tcp's address); undefined with mode off. */
  readonly api: Endpoint | undefined;
  /** labels: remote containers labelled cloudbridge.expose get local forwards while they run. */
  readonly expose: 'labels' | 'off';
  /**
   * Where labels may make root listen: loopback only, ports from 1024, unless
   * these allow more (a remote container must not squat 0.0.0.0:443 here).
   */
  readonly exposeAddresses: readonly string[];
  readonly exposeLowPorts: boolean;
  /** socket mode: keep a channel to the daemon open ahead of the next command, with its /_ping answer. */
  readonly warm: boolean;
  /** A daemon that does not answer /_ping at connect fails the connect (default: a warning, and the tunnel stays). */
  readonly required: boolean;
}

export interface DnsConfig {
  /** Names resolved through the tunnel (split DNS), e.g. vpc.internal. */
  readonly domains: readonly string[];
  /** Resolvers for those names as the remote host reaches them; empty: the remote host's own (its resolv.conf). */
  readonly servers: readonly string[];
  /** Answer NAME.ENV.docker with the remote containers' addresses. */
  readonly containers: boolean;
  /** Every name through the tunnel (a full tunnel's default), not only `domains`. */
  readonly all: boolean;
}

export interface SocksConfig {
  /** Addresses to listen on; a host that is not an address names an interface (docker0) whose address is used. */
  readonly listen: readonly { readonly host: string; readonly port: number }[];
  readonly auth: { readonly username: string; readonly password: string } | undefined;
}

export interface EnvironmentConfig {
  readonly name: string;
  /** File the environment was read from, for messages. */
  readonly source: string;
  readonly host: string;
  readonly user: string;
  readonly port: number;
  /** Keys to offer, in order; empty: what ssh_config names, else ~/.ssh/id_*. */
  readonly identityFiles: readonly string[];
  readonly knownHostsFile: string;
  readonly strictHostKeyChecking: StrictHostKeyChecking;
  /** Fields the cloudbridge config set itself: they win over ssh_config. */
  readonly explicit: {
    readonly user: boolean;
    readonly port: boolean;
    readonly knownHostsFile: boolean;
    readonly strictHostKeyChecking: boolean;
    readonly deadAfter: boolean;
    readonly localMasquerade: boolean;
  };
  /** ssh_config files consulted for `host`, in order. */
  readonly sshConfigFiles: readonly string[];
  readonly connectTimeout: number;
  /** SSH ciphers in order of preference; empty: AES-GCM first where the CPU has AES, else ChaCha20-Poly1305. */
  readonly ciphers: readonly Cipher[];
  /** Seconds without an answer to keepalives before the SSH connection counts as dead. */
  readonly deadAfter: number;
  /** Make the SSH connection when the first packet (or docker connection) arrives. */
  readonly onDemand: boolean;
  /** With onDemand: seconds without traffic before the SSH side is taken down. */
  readonly idleTimeout: number;
  /** Undefined with tunnel: false: no tun devices, routes or remote steps; SSH forwarding only. */
  readonly tunnel: TunnelConfig | undefined;
  /** Routed through the tunnel while the controller runs; a full tunnel's halves are planned apart (fullTunnel). */
  readonly routes: readonly string[];
  /** IPv6 networks routed through the tunnel (needs tunnel.local6). */
  readonly routes6: readonly string[];
  /** A full tunnel for IPv6 too (default with IPv6 tunnel addresses, or ::/0). */
  readonly fullTunnel6: boolean;
  /** TCP MSS limits for IPv6 routes (path MTU less 60). */
  readonly mssClamps6: readonly { readonly cidr: string; readonly mss: number }[];
  /** routes: [default]: everything through the tunnel while a session stands, the SSH path pinned outside it. */
  readonly fullTunnel: boolean;
  /** Networks that keep the path they had before the tunnel (sshuttle's -x). */
  readonly exclude: readonly string[];
  readonly lan: LanMode;
  /** A full tunnel without a session: block (fail closed: routes and DNS stay, traffic is dropped) or direct (both withdrawn until it is back). */
  readonly onLoss: OnLoss;
  /**
   * Routes whose path MTU is below the tunnel's: TCP SYNs to and from them get
   * their MSS lowered to fit, so a large-MTU tunnel cannot black-hole them.
   */
  readonly mssClamps: readonly { readonly cidr: string; readonly mss: number }[];
  readonly nat: boolean;
  /** Linux: masquerade what leaves through the local tun device (containers on Docker bridges), so replies come back. */
  readonly localMasquerade: boolean;
  readonly docker: DockerConfig;
  readonly dns: DnsConfig;
  /**
   * When non-empty, only traffic matching an entry enters the tunnel (or a
   * forward); the rest is refused on the spot. Empty: everything routed.
   */
  readonly allow: readonly AllowRule[];
  readonly forwards: readonly ForwardConfig[];
  /** A SOCKS5 server whose connections leave from the remote host, names resolved there (socks5h). */
  readonly socks: SocksConfig | undefined;
}

export interface Config {
  readonly source: string;
  readonly environments: ReadonlyMap<string, EnvironmentConfig>;
}
