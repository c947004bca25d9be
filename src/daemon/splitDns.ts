import type { Client } from 'ssh2';
import type { EnvironmentConfig } from '../config/types.js';
import type { ContainerNames } from '../docker/names.js';
import { DnsForwarder, type ForwarderStats } from '../dns/forwarder.js';
import { fitUdp } from '../dns/message.js';
import type { Dialer } from '../forward/dial.js';
import { listenProblem } from '../forward/listeners.js';
import { DNS_LISTEN, parseResolvConf, planResolvConf, planResolvectl, planResolvedAll, planServiceDns, RESOLV_MARK } from '../plan/dns.js';
import type { Step } from '../plan/steps.js';
import { listenAddress, listenAddress6, type PlatformName } from '../platform/index.js';
import { readResolvConf } from '../platform/linux/resolvConf.js';
import type { ServiceDns } from '../platform/types.js';
import { runRemote } from '../ssh/exec.js';
import { UserError } from '../util/errors.js';
import { formatIPv4 } from '../config/ipv4.js';
import { remoteAddresses } from '../config/tunnelPair.js';
import { lazyExeca } from '../util/lazyExeca.js';

export interface SplitDnsDeps {
  readonly env: EnvironmentConfig;
  readonly platform: PlatformName;
  /** A stream from the remote host (the remote resolvers are asked over SSH, DNS over TCP). */
  readonly dial: Dialer;
  /** The names of the SSH hops: asked of this host's resolvers even under dns.all (a blocked full tunnel must still find its server). */
  readonly sshHosts: readonly string[];
  /** The remote containers' names, with dns.containers. */
  readonly containerNames: ContainerNames | undefined;
  /** Port 53 sockets from the root helper, when the controller runs as the user. */
  readonly bind53?: ((address: string, proto: 'udp' | 'tcp') => Promise<number>) | undefined;
  /** Applies local steps through the controller's journal. */
  readonly applyLocal: (steps: Step[]) => Promise<void>;
  readonly progress: (line: string) => void;
}

/** What split DNS adds to status, when on. */
export interface DnsStatus {
  readonly listen: readonly string[];
  readonly domains: readonly string[];
  /** Every name is asked remotely now (dns.all; a full tunnel's while it stands). */
  readonly all: boolean;
  readonly servers: readonly string[];
  /** NAME.ENV.docker -> address, with dns.containers. */
  readonly containers: Readonly<Record<string, string>> | null;
  readonly stats: ForwarderStats;
}

/**
 * Names through the tunnel: the forwarder (dns/forwarder.ts) and where this
 * host is told to ask it. Linux: a loopback address and docker0's, with
 * resolv.conf (or systemd-resolved's per-link DNS on the tun device) pointing
 * there; both platforms: the in-tunnel DNS address the pump answers, which a
 * full tunnel's dns.all points every name at while it stands.
 */
export class SplitDns {
  private forwarderNow: DnsForwarder | undefined;
  private listening: string[] = [];
  /** systemd-resolved's link (the tun device) and its zones, when split DNS went that way. */
  private resolvedLink: { readonly dev: string; readonly zones: readonly string[] } | undefined;
  /** dns.all: every name asked remotely now (a full tunnel's: only while it stands). */
  private allNames: boolean;
  /** The remote host's own resolvers (dns.servers empty), read at each session start. */
  private remoteResolvers: string[] = [];

  constructor(private readonly deps: SplitDnsDeps) {
    const { env } = deps;
    // a full tunnel (either family) switches it with its halves; otherwise dns.all holds throughout
    this.allNames = env.dns.all && !(env.fullTunnel || env.fullTunnel6);
  }

  /** A session is up: the remote host's own resolvers read, when they are the ones asked. */
  async sessionUp(client: Client): Promise<void> {
    const { env, progress } = this.deps;
    if (!this.forwarderNow || !asksRemotely(env) || env.dns.servers.length > 0) return;
    this.remoteResolvers = parseResolvConf(await runRemote(client, ['cat', '/etc/resolv.conf'], { sudo: false }).catch(() => '')).nameservers;
    progress(
      `dns: ${env.dns.all ? 'every name' : env.dns.domains.join(', ')} asked of ${this.remoteResolvers.join(', ') || '(no resolver in the remote /etc/resolv.conf)'} on the remote host`,
    );
  }

  /**
   * Linux split DNS: a forwarder on a loopback address (and on docker0's, for
   * containers), and resolv.conf pointing at it as a recorded step whose undo
   * puts back exactly what was there.
   */
  async start(): Promise<void> {
    const { env, progress } = this.deps;
    if (!forwarderWanted(env)) return;
    if (this.deps.platform === 'darwin') {
      // macOS: /etc/resolver files name dns.servers for the domains (plan.ts); a full tunnel's
      // every name is answered here at the in-tunnel address, which the network services are
      // pointed at while the tunnel stands (fullSteps)
      if (env.dns.all && env.tunnel) this.forwarderNow = this.forwarder([]);
      return;
    }
    const before = readResolvConf();
    const tunnel = env.tunnel;
    const resolved = tunnel !== undefined && (before.symlink?.includes('/run/systemd/resolve/') ?? false) && (await hasResolvectl());
    if (!resolved && before.content.includes(RESOLV_MARK)) {
      throw new UserError(`/etc/resolv.conf points at another environment's DNS forwarder already; split DNS works for one environment at a time`);
    }
    const { nameservers } = parseResolvConf(before.content);
    this.forwarderNow = this.forwarder(nameservers.filter((n) => n !== DNS_LISTEN));
    await this.forwarderNow.listen(DNS_LISTEN).catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`dns: cannot listen on ${DNS_LISTEN}:53 (${listenProblem(err)})`);
    });
    this.listening = [DNS_LISTEN];
    // containers cannot reach this host's loopback: the docker bridge's address serves them
    // and its IPv6 address, where docker has IPv6 (a container on an IPv6-only network asks there)
    for (const bridge of [await listenAddress('docker0'), listenAddress6('docker0')]) {
      if (!bridge) continue;
      await this.forwarderNow.listen(bridge).then(
        () => this.listening.push(bridge),
        (err: Error) => progress(`warning: dns: not on docker0 (${bridge}): ${err.message}`),
      );
    }
    const zones = [...env.dns.domains, ...(this.deps.containerNames ? [`${env.name}.docker`] : [])];
    if (resolved) this.resolvedLink = { dev: tunnel.device, zones };
    const shown = env.dns.all ? ['every name', ...zones.filter((z) => z === `${env.name}.docker`)] : zones;
    await this.deps.applyLocal(
      resolved ? planResolvectl(tunnel.device, remoteAddresses(tunnel), zones) : [planResolvConf(env.name, shown, this.listening, before)],
    );
  }

  /** The forwarder: what the environment asks remotely, the container zone, the rest to `upstream`. */
  private forwarder(upstream: readonly string[]): DnsForwarder {
    const { env } = this.deps;
    const names = this.deps.containerNames;
    return new DnsForwarder({
      domains: env.dns.domains,
      all: () => this.allNames,
      ipv6: env.tunnel?.local6 !== undefined,
      ipv4: env.tunnel?.local !== undefined || env.tunnel === undefined,
      remoteServers: () => (env.dns.servers.length ? env.dns.servers : this.remoteResolvers),
      dialRemote: (host, port) => this.deps.dial({ kind: 'inet', host, port }),
      upstream,
      direct: this.deps.sshHosts,
      bind53: this.deps.bind53,
      zone: names ? { domain: `${env.name}.docker`, lookup: (n) => names.lookup(n) } : undefined,
    });
  }

  /**
   * A full tunnel with dns.all: under systemd-resolved the tun device takes
   * every name (`~.`); on macOS every network service (as `readServices`
   * finds them now, through networksetup) asks the in-tunnel addresses.
   * While the tunnel stands.
   */
  async fullSteps(readServices: () => Promise<readonly ServiceDns[]>): Promise<Step[]> {
    const { env } = this.deps;
    if (!env.dns.all || !env.tunnel) return [];
    // networksetup is asked only here: a service at a time, each time the tunnel takes over
    if (this.deps.platform === 'darwin') return planServiceDns(await readServices(), remoteAddresses(env.tunnel));
    const link = this.resolvedLink;
    return link ? [planResolvedAll(link.dev, link.zones)] : [];
  }

  /** A full tunnel's dns.all: on while it stands; off, names go where they went before. */
  forAll(on: boolean): void {
    this.allNames = on && this.deps.env.dns.all;
  }

  /** A DNS query sent to the tunnel's DNS address (see Pump's dns option); undefined when split DNS is off. */
  async answer(query: Buffer): Promise<Buffer | undefined> {
    const r = await this.forwarderNow?.resolve(query, 'udp');
    return r && (r.q ? fitUdp(r.response, r.q) : r.response);
  }

  status(): DnsStatus | null {
    const { env, containerNames } = this.deps;
    if (!this.forwarderNow) return null;
    return {
      listen: this.listening,
      domains: env.dns.domains,
      all: this.allNames,
      servers: env.dns.servers.length ? env.dns.servers : this.remoteResolvers,
      containers: containerNames ? Object.fromEntries(Object.entries(containerNames.all()).map(([n, a]) => [`${n}.${env.name}.docker`, formatIPv4(a)])) : null,
      stats: { ...this.forwarderNow.stats },
    };
  }

  /** Stops listening; resolv.conf goes back with the journal. */
  async close(): Promise<void> {
    await this.forwarderNow?.close();
  }
}

async function hasResolvectl(): Promise<boolean> {
  const execa = await lazyExeca();
  return (await execa('resolvectl', ['status'], { reject: false })).exitCode === 0;
}

/** Names go to the remote host's resolvers: the split domains, or every name (dns.all). */
function asksRemotely(env: EnvironmentConfig): boolean {
  return env.dns.domains.length > 0 || env.dns.all;
}

/** The DNS forwarder runs (and the tunnel's DNS address answers): names asked remotely, or the container zone. */
export function forwarderWanted(env: EnvironmentConfig): boolean {
  return asksRemotely(env) || env.dns.containers;
}
