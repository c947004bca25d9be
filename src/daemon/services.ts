import type { Client } from 'ssh2';
import { UserError } from '../util/errors.js';
import type { AllowRule } from '../config/allow.js';
import { formatEndpoint, isLoopback, type Endpoint } from '../config/forwards.js';
import { formatIPv4 } from '../config/ipv4.js';
import { formatIPv6 } from '../config/ipv6.js';
import type { InvokingUser } from '../util/user.js';
import type { EnvironmentConfig } from '../config/types.js';
import { AllowList } from '../datapath/allowList.js';
import { LabelExposure } from '../docker/exposure.js';
import { ContainerNames } from '../docker/names.js';
import { ContainerWatcher } from '../docker/watch.js';
import type { Dialer } from '../forward/dial.js';
import { Forwards, type ForwardStatus } from '../forward/forwards.js';
import { listenProblem, type Listener, type ListenerStats, type StreamTraffic } from '../forward/listeners.js';
import { listenAddress, type PlatformName } from '../platform/index.js';
import type { ServiceDns } from '../platform/types.js';
import type { Step } from '../plan/steps.js';
import { listenSocks } from '../socks/server.js';
import { AllowNames } from './allowNames.js';
import { SplitDns, type DnsStatus } from './splitDns.js';

export interface AllowStatus {
  readonly rule: string;
  /** What the rule's destination stands for now (host names: as last resolved). */
  readonly addresses: readonly string[];
  readonly hits: number;
  readonly drops: number;
  /** Host names: where they were resolved, or why not. */
  readonly note: string | null;
}

/** What the services add to a controller's status. */
export interface ServicesStatus {
  /** null: no allow-list, everything routed passes. */
  readonly allow: readonly AllowStatus[] | null;
  /** Refused packets and connections that matched no rule's destination. */
  readonly refusedUnlisted: number;
  /** Inbound packets refused for belonging to no flow this side started (the allow-list is stateful). */
  readonly refusedUnsolicited: number;
  /** The allow-list's flow table: flows kept, and the most it keeps (the least recently used go first). */
  readonly flows: { readonly size: number; readonly capacity: number } | null;
  readonly forwards: readonly ForwardStatus[];
  readonly socks: readonly { readonly listen: string; readonly stats: ListenerStats }[];
  /** docker.expose: labels: containers whose labels could not be honoured, and why. */
  readonly exposeProblems: Readonly<Record<string, string>>;
  /** Split DNS, when on. */
  readonly dns: DnsStatus | null;
}

export interface ServicesDeps {
  readonly env: EnvironmentConfig;
  readonly user: InvokingUser;
  readonly platform: PlatformName;
  /** A stream from the remote host, making the session first if need be (on demand). */
  readonly dial: Dialer;
  /** The same over the current session only. */
  readonly dialIfUp: Dialer;
  readonly session: () => Client | undefined;
  readonly sudo: boolean;
  /** The names of the SSH hops (jump hosts, the server) this host dials: always resolved here, never through the tunnel. */
  readonly sshHosts: readonly string[];
  /** Port 53 sockets from the root helper, when the controller runs as the user. */
  readonly bind53?: ((address: string, proto: 'udp' | 'tcp') => Promise<number>) | undefined;
  /** Connections and chunks, counted for on-demand idle timeouts. */
  readonly traffic: StreamTraffic;
  /** Applies local steps through the controller's journal (so they are undone with the rest). */
  readonly applyLocal: (steps: Step[]) => Promise<void>;
  readonly progress: (line: string) => void;
  readonly log: (line: string) => void;
}

/**
 * Everything an environment offers besides the L3 tunnel itself: the
 * allow-list (which the data path applies), forwards, SOCKS, split DNS, and
 * the remote containers followed for exposure and names. sshuttle's split:
 * the controller owns the tunnel and the session, this owns what rides them.
 */
export class Services {
  readonly allow: AllowList;
  private readonly names: AllowNames;
  private readonly forwards: Forwards;
  private readonly exposure: LabelExposure | undefined;
  private readonly containerNames: ContainerNames | undefined;
  private readonly watcher: ContainerWatcher | undefined;
  private readonly socks: { readonly listen: string; readonly listener: Listener }[] = [];
  private readonly dns: SplitDns;

  constructor(private readonly deps: ServicesDeps) {
    const { env } = deps;
    this.allow = new AllowList(allowRules(env));
    this.names = new AllowNames(this.allow, deps.session, deps.sudo, deps.log);
    this.forwards = new Forwards({
      env: env.name,
      user: deps.user,
      dial: deps.dial,
      dialIfUp: deps.dialIfUp,
      admits: (to) => this.admits(to),
      traffic: deps.traffic,
      log: deps.log,
    });
    const api = env.docker.api;
    this.watcher = api && (env.docker.expose === 'labels' || env.dns.containers) ? new ContainerWatcher(api, deps.dialIfUp, deps.log) : undefined;
    this.exposure =
      this.watcher && env.docker.expose === 'labels'
        ? new LabelExposure(this.forwards, deps.log, { addresses: env.docker.exposeAddresses, lowPorts: env.docker.exposeLowPorts })
        : undefined;
    this.containerNames = this.watcher && env.dns.containers ? new ContainerNames() : undefined;
    if (this.exposure) this.watcher!.add(this.exposure);
    if (this.containerNames) this.watcher!.add(this.containerNames);
    this.dns = new SplitDns({ ...deps, containerNames: this.containerNames });
  }

  /** The allow-list's word on a stream target (counted); unix sockets are not network endpoints. */
  private admits(to: Endpoint): boolean {
    return to.kind === 'unix' || this.allow.admitsStream(to.host, to.port);
  }

  /** Local listeners and DNS, before any session: a taken port fails connect before SSH is tried. */
  async start(): Promise<void> {
    const { env, progress } = this.deps;
    if (env.allow.length) {
      const named = this.allow.rules.slice(0, 5).map((r) => `"${r.text}"`);
      const more = this.allow.rules.length - named.length;
      progress(`datapath: only ${named.join(', ')}${more > 0 ? ` and ${more} more rules` : ''} allowed through`);
    }
    for (const f of env.forwards) {
      await this.forwards.add(f, 'config').catch((err: Error) => {
        throw new UserError(`${env.source}: environments.${env.name}.forwards: ${err.message}`);
      });
      progress(`forward: ${f.protocol} ${f.name}${f.tls ? ' (TLS)' : ''} -> ${formatEndpoint(f.to)} on the remote side`);
    }
    await this.serveSocks();
    await this.dns.start();
  }

  /** Without a session (on demand): host names resolved locally for now. */
  async startIdle(): Promise<void> {
    await this.names.refresh();
  }

  /** A session is up: names resolved on the remote host, its resolvers read, its containers followed. */
  async sessionUp(client: Client): Promise<void> {
    const { env, progress, log } = this.deps;
    await this.names.refresh();
    await this.dns.sessionUp(client);
    await this.watcher?.start().then(
      () => {
        if (this.exposure) progress('docker: exposing remote containers labelled cloudbridge.expose');
        if (this.containerNames) progress(`dns: remote containers answer as NAME.${env.name}.docker`);
      },
      (err: Error) => log(`docker: cannot watch the remote daemon's containers: ${err.message}`),
    );
  }

  /** SOCKS5 on each configured address; connections leave from the remote host, names resolved there. */
  private async serveSocks(): Promise<void> {
    const { env, progress } = this.deps;
    if (!env.socks) return;
    for (const l of env.socks.listen) {
      const host = await listenAddress(l.host);
      if (!host) throw new UserError(`${env.source}: environments.${env.name}.socks.listen: no interface or address "${l.host}" with an IPv4 address here`);
      const at = formatEndpoint({ kind: 'inet', host, port: l.port });
      const listener = await listenSocks(
        { kind: 'inet', host, port: l.port },
        {
          dial: this.deps.dial,
          admits: (h, p) => this.admits({ kind: 'inet', host: h, port: p }),
          auth: env.socks.auth,
          traffic: this.deps.traffic,
        },
        this.deps.user,
      ).catch((err: NodeJS.ErrnoException) => {
        throw new UserError(`socks on ${at}: ${listenProblem(err)}`);
      });
      this.socks.push({ listen: at, listener });
      progress(`socks: socks5h://${at}${env.socks.auth ? ' (username and password)' : ''}, names resolved on the remote side`);
      if (!isLoopback(host) && !env.socks.auth) {
        progress(
          `warning: socks on ${at} has no password: anyone who reaches that address can connect through ${env.host} (set socks.username and socks.password)`,
        );
      }
    }
  }

  /** A full tunnel's DNS for every name (splitDns.ts). */
  fullDnsSteps(readServices: () => Promise<readonly ServiceDns[]>): Promise<Step[]> {
    return this.dns.fullSteps(readServices);
  }

  dnsForAll(on: boolean): void {
    this.dns.forAll(on);
  }

  /** A DNS query sent to the tunnel's DNS address (see Pump's dns option); undefined when split DNS is off. */
  answerDns(query: Buffer): Promise<Buffer | undefined> {
    return this.dns.answer(query);
  }

  status(): ServicesStatus {
    return {
      allow:
        this.allow.rules.length === 0
          ? null
          : this.allow.rules.map((r, i) => {
              const st = this.names.state.get(i);
              return {
                rule: r.text,
                addresses: r.isName ? [...this.allow.addressesOf(i).map(formatIPv4), ...this.allow.addressesOf6(i).map(formatIPv6)] : [r.to],
                hits: this.allow.hits[i]!,
                drops: this.allow.drops[i]!,
                note: st ? (st.error ? `not resolved: ${st.error}` : `resolved ${st.via === 'remote' ? 'on the remote host' : 'locally'}`) : null,
              };
            }),
      refusedUnlisted: this.allow.unlisted,
      refusedUnsolicited: this.allow.unsolicited,
      flows: this.allow.rules.length === 0 ? null : { size: this.allow.trackedFlows, capacity: this.allow.flows.capacity },
      forwards: this.forwards.status(),
      socks: this.socks.map((x) => ({ listen: x.listen, stats: { ...x.listener.stats } })),
      exposeProblems: Object.fromEntries(this.exposure?.problems ?? []),
      dns: this.dns.status(),
    };
  }

  /** Stops listening and watching; resolv.conf goes back with the journal. */
  async close(): Promise<void> {
    this.names.stop();
    this.watcher?.stop();
    await this.exposure?.closeAll();
    await this.dns.close();
    await this.forwards.closeAll();
    await Promise.all(this.socks.map((x) => x.listener.close()));
  }
}

/**
 * The configured allow-list, plus, when there is one, the docker daemon in
 * tcp mode: it is reached through the tunnel and must stay reachable.
 */
export function allowRules(env: EnvironmentConfig): AllowRule[] {
  const api = env.docker.api;
  if (env.allow.length === 0 || api?.kind !== 'inet') return [...env.allow];
  const to = `${api.host}/${api.host.includes(':') ? 128 : 32}`;
  return [...env.allow, { text: `${api.host} tcp ${api.port} (docker)`, to, isName: false, proto: 'tcp', ports: [api.port, api.port] }];
}
