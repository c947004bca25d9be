import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';
import { UserError } from '../util/errors.js';
import type { Endpoint } from '../config/forwards.js';
import { cidrContains, cidrsOverlap, formatCidr, maskOf, parseCidr, parseIPv4 } from '../config/ipv4.js';
import type { InvokingUser } from '../config/load.js';
import type { EnvironmentConfig } from '../config/types.js';
import { MAX_UPSTREAM_MTU } from '../config/validate.js';
import { FlowLog } from '../datapath/flows.js';
import { Pump, type PumpStats } from '../datapath/pump.js';
import { dockerCliPresent } from '../docker/context.js';
import { dockerHostFor, pingDocker } from '../docker/endpoint.js';
import { DockerSocket, type DockerSocketStatus } from '../docker/socket.js';
import { dialOver } from '../forward/dial.js';
import { NO_SESSION } from '../forward/forwards.js';
import { resolverFile } from '../platform/darwin/commands.js';
import { currentPlatform, localNet, requestedDevice, type PlatformName } from '../platform/index.js';
import type { LocalNet } from '../platform/types.js';
import { StepJournal, type Executor } from '../plan/apply.js';
import { IPTABLES_STATE, lowestFreeTun, planLocal, planRemote } from '../plan/plan.js';
import { isContextAction, type Step } from '../plan/steps.js';
import { runRemote } from '../ssh/exec.js';
import { describeRoute, sshRouteFor, type SshRoute } from '../ssh/route.js';
import { connectSsh } from '../ssh/session.js';
import { openTunChannel, TunChannelError, type TunChannel } from '../datapath/ssh/tunChannel.js';
import { TunDevice } from '../tun/device.js';
import { serveControl } from './control.js';
import { Services, type ServicesStatus } from './services.js';
import { otherEnvironments } from './peers.js';
import { stepExecutor } from './executor.js';
import { controlSocket, dockerSocket, envRunDir, journalFile, runDir } from '../util/paths.js';
import { lazyExeca } from '../util/lazyExeca.js';

export interface ControllerOptions {
  readonly user: InvokingUser;
  /** Route even where routes overlap the host's own networks. */
  readonly force: boolean;
  readonly agent?: string | undefined;
  readonly passphrases?: ReadonlyMap<string, string>;
  /** Give the control socket to the invoking user instead of root. */
  readonly controlUser?: boolean;
  readonly progress: (line: string) => void;
  /** Log lines after start-up (reconnects, idle). */
  readonly log: (line: string) => void;
  /** Log each new flow through the tunnel and the allow-list's verdict. */
  readonly logFlows?: boolean;
}

/** up: SSH session live; connecting: lost and being remade; idle: on demand, no session. */
export type ControllerState = 'up' | 'connecting' | 'idle';

export interface Status extends ServicesStatus {
  readonly env: string;
  readonly state: ControllerState;
  readonly pid: number;
  readonly since: string;
  readonly uptimeSeconds: number;
  readonly host: string;
  readonly localDevice: string;
  readonly remoteDevice: string;
  readonly local: string;
  readonly remote: string;
  /** This end's device MTU (the largest packet towards the remote host), and the remote device's. */
  readonly mtu: number;
  readonly remoteMtu: number;
  /** Where tun packets are sealed (outbound) and opened (inbound) now: 'c' (the addon; AES-GCM on a direct connection) or 'js'. */
  readonly datapath: { readonly outbound: 'c' | 'js'; readonly inbound: 'c' | 'js' };
  readonly routes: readonly string[];
  readonly nat: boolean;
  readonly onDemand: boolean;
  readonly dockerHost: string | null;
  /** docker.mode socket: connections, those that found a channel open ahead, version checks answered here. */
  readonly dockerSocket: DockerSocketStatus | null;
  readonly reconnects: number;
  readonly lastError: string | null;
  readonly stats: PumpStats;
  /** The controller's own memory (bytes): rss, heapTotal, heapUsed, external, arrayBuffers. */
  readonly memory: NodeJS.MemoryUsage;
}

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

interface Session {
  readonly client: Client;
  /** undefined with tunnel: false. */
  readonly channel: TunChannel | undefined;
  readonly remoteDevice: string;
}

const isRemote = (s: Step): boolean => s.apply.side === 'remote';

/**
 * One environment's tunnel, in wg-quick's shape: check, plan, apply, and
 * undo everything in reverse on the way down (or when bringing it up fails
 * half way).
 *
 * Two lifetimes: the local side (tun device, addresses, routes, sockets)
 * lasts as long as the controller; the SSH session (connection, channel,
 * remote steps) may be lost and remade, or, on demand, made at the first
 * packet and taken down when idle, while the local side stays in place.
 */
export class Controller {
  private session: Session | undefined;
  private sessionStarting: Promise<void> | undefined;
  private state: ControllerState = 'connecting';
  private tun: TunDevice | undefined;
  private pump: Pump | undefined;
  private net: LocalNet | undefined;
  /** Closes the control socket and the docker socket, newest first. */
  private readonly closers: (() => Promise<void>)[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly journal: StepJournal;
  /** The SSH route as ssh_config resolves it: who we are on the remote host decides sudo. */
  private readonly route: SshRoute;
  private readonly platform: PlatformName = currentPlatform();
  private reconnects = 0;
  /** Streams that ride SSH rather than the tun (docker socket, forwards, SOCKS) count as traffic too. */
  private readonly streamTraffic = { active: 0, chunks: 0 };
  private dockerSocket: DockerSocket | undefined;
  private sessionStartedAt = 0;
  /** The MTUs in force: this end's device (upstream) and the remote one's (probed per session with mtu: auto). */
  private mtu: number;
  private remoteMtu: number;
  /** On demand: no new attempt before this time after a failed one. */
  private retryAfter = 0;
  private lastError: string | null = null;
  private startedAt = new Date();
  private stopping: Promise<string[]> | undefined;
  private readonly services: Services;
  /** Resolves when the controller has gone down, for whatever reason. */
  readonly done: Promise<string>;
  private markDone!: (reason: string) => void;

  constructor(
    private readonly env: EnvironmentConfig,
    private readonly opts: ControllerOptions,
  ) {
    this.journal = new StepJournal(journalFile(env.name), env.name);
    this.route = sshRouteFor(env, opts.user);
    this.mtu = env.tunnel.mtu;
    this.remoteMtu = env.tunnel.mtu;
    this.done = new Promise((resolve) => (this.markDone = resolve));
    this.services = new Services({
      env,
      user: opts.user,
      platform: this.platform,
      dial: (to) => this.dial(to),
      dialIfUp: (to) => this.dialIfUp(to),
      session: () => this.session?.client,
      sudo: this.sudo,
      traffic: this.streamTraffic,
      applyLocal: (steps) => this.applyLocal(steps),
      progress: opts.progress,
      log: opts.log,
    });
  }

  /** A stream to a target as the remote host sees it, over the session (made first, on demand). */
  private async dial(to: Endpoint): Promise<Duplex> {
    await this.ensureSession();
    if (!this.session) throw new Error(NO_SESSION);
    return dialOver(this.session.client, to);
  }

  /** The same over the current session only: checks and watchers must not wake an on-demand tunnel. */
  private dialIfUp(to: Endpoint): Promise<Duplex> {
    return this.session ? dialOver(this.session.client, to) : Promise.reject(new Error(NO_SESSION));
  }

  private get sudo(): boolean {
    return this.route.target.user !== 'root';
  }

  private executor(client: Client | undefined): Executor {
    return stepExecutor(this.net, client, this.sudo);
  }

  private applyLocal(steps: Step[]): Promise<void> {
    return this.journal.apply(steps, this.executor(undefined), (s) => this.opts.progress(`local: ${s.title}`));
  }

  async up(): Promise<void> {
    const { env, opts } = this;
    try {
      fs.mkdirSync(envRunDir(env.name), { recursive: true, mode: 0o755 });
      this.net = await localNet(this.platform);
      await this.checkLocal();

      if (env.l3) this.tun = TunDevice.open(requestedDevice(this.platform, env));
      const host = dockerHostFor(env);
      const context = host && (await dockerCliPresent()) ? { host, owner: opts.user } : undefined;
      const local = await this.withoutMissingIptables(planLocal(env, this.tun?.name ?? '', this.platform, context));
      const isContext = (s: Step): boolean => s.apply.side === 'local' && isContextAction(s.apply);
      await this.applyLocal(local.filter((s) => !isContext(s)));
      // a docker context is a convenience: one the user's docker config will not take is a warning
      await this.applyLocal(local.filter(isContext))
        .catch((err: Error) => opts.progress(`warning: no docker context for ${env.name}: ${err.message}`));
      // with mtu: auto the local device may go up to the upstream ceiling: read whole packets of that size
      if (this.tun) this.pump = new Pump(this.tun, env.tunnel.mtuAuto ? MAX_UPSTREAM_MTU : env.tunnel.mtu, {
        clamps: env.mssClamps.map((m) => {
          const c = parseCidr(m.cidr)!;
          return { addr: c.addr, mask: maskOf(c.prefix), mss: m.mss };
        }),
        allow: this.services.allow,
        flows: opts.logFlows ? new FlowLog(opts.log) : undefined,
        dns: env.dns.domains.length > 0 || env.dns.containers
          ? { addr: parseIPv4(env.tunnel.remote)!, answer: (q) => this.services.answerDns(q) }
          : undefined,
      });
      if (env.mssClamps.length) opts.progress(`datapath: TCP MSS clamped for ${env.mssClamps.map((m) => `${m.cidr} (${m.mss})`).join(', ')}`);
      if (this.pump) {
        this.pump.onWake = () => this.wake();
        this.pump.start((err) => void this.down(err.message));
      }

      if (env.docker.mode === 'socket') await this.serveDocker();
      await this.services.start();
      if (env.onDemand) {
        this.state = 'idle';
        await this.services.startIdle();
        this.watchIdle();
        opts.progress(`on demand: SSH to ${env.host} starts with the first packet, stops after ${env.idleTimeout}s idle`);
      } else {
        await this.ensureSession();
        if (env.l3) {
          const rtt = await this.pingPeer();
          opts.progress(`tunnel: ${env.tunnel.local} -> ${env.tunnel.remote} answers in ${rtt.toFixed(2)} ms`);
        }
        await this.checkDocker();
      }
      this.closers.push(await serveControl(controlSocket(env.name), async (req) => {
        if (req.cmd === 'status') return this.status();
        if (req.cmd === 'down') return { down: true, errors: await this.down('disconnect requested') };
        throw new Error(`unknown command ${String(req.cmd)}`);
      }, opts.controlUser ? opts.user : undefined));
      this.startedAt = new Date();
    } catch (err) {
      const leftovers = await this.down(err instanceof Error ? err.message : String(err));
      if (leftovers.length) opts.progress(`warning: could not undo: ${leftovers.join('; ')}`);
      throw err;
    }
  }

  /** localMasquerade by default on a host without iptables: a warning, not a failure (explicitly asked for: a failure). */
  private async withoutMissingIptables(steps: Step[]): Promise<Step[]> {
    const isRule = (s: Step): boolean => s.apply.side === 'local' && s.apply.op === 'iptables';
    if (!steps.some(isRule)) return steps;
    const execa = await lazyExeca();
    const probe = await execa('iptables', ['-w', '-t', 'nat', '-n', '-L', 'POSTROUTING'], { reject: false });
    if (probe.exitCode === 0) return steps;
    const why = `iptables does not work here (${String(probe.stderr || probe.message).split('\n')[0]})`;
    if (this.env.explicit.localMasquerade) throw new UserError(`${this.env.source}: environments.${this.env.name}.localMasquerade: ${why}`);
    this.opts.progress(`warning: local containers will not reach the tunnel: ${why}`);
    return steps.filter((s) => !isRule(s));
  }

  /** Refuses what would clash with another connected environment, naming both. */
  private async checkOthers(): Promise<void> {
    const { env } = this;
    if (!env.l3) return; // SSH only: nothing routed; a taken SOCKS or forward port says so itself
    const mine = [env.tunnel.local, env.tunnel.remote].map((a) => parseCidr(a)!);
    for (const o of (await otherEnvironments(env.name)).filter((x) => x.local !== '')) {
      const theirs = [o.local, o.remote].map((a) => parseCidr(a)!);
      if (mine.some((m) => theirs.some((x) => cidrsOverlap(m, x)))) {
        throw new UserError(`tunnel addresses of ${env.name} (${env.tunnel.local} <-> ${env.tunnel.remote}) clash with ${o.env}'s (${o.local} <-> ${o.remote}), which is connected`);
      }
      if (o.localDevice === env.tunnel.device) throw new UserError(`${o.env} uses interface ${o.localDevice} already (tunnel.device)`);
      for (const r of env.routes) {
        const clash = [...o.routes, o.local, o.remote].find((q) => cidrsOverlap(parseCidr(q)!, parseCidr(r)!));
        if (clash) throw new UserError(`route ${r} of ${env.name} overlaps ${clash} of ${o.env}, which is connected`);
      }
      for (const q of o.routes) {
        const hit = mine.find((m) => cidrsOverlap(m, parseCidr(q)!));
        if (hit) throw new UserError(`tunnel address ${formatCidr(hit)} of ${env.name} lies in route ${q} of ${o.env}, which is connected`);
      }
    }
  }

  /** Refuses what would break the host's own networking, before anything is changed. */
  private async checkLocal(): Promise<void> {
    const { env, opts } = this;
    await this.checkOthers();
    if (this.platform === 'darwin' && env.dns.domains.length > 0 && env.dns.servers.length === 0) {
      throw new UserError(`${env.source}: environments.${env.name}.dns.servers: on macOS name the resolvers (reached through the tunnel) for /etc/resolver`);
    }
    if (this.platform === 'darwin') {
      const taken = env.dns.domains.map(resolverFile).find((f) => fs.existsSync(f));
      if (taken) throw new UserError(`${taken} exists already and is not cloudbridge's; refusing to replace it`);
    }
    if (!env.l3) return;
    if (this.platform === 'linux' && fs.existsSync(`/sys/class/net/${env.tunnel.device}`)) {
      throw new UserError(`interface ${env.tunnel.device} already exists (is ${env.name} connected already?)`);
    }
    const nets = await this.net!.interfaceNetworks();
    const routes = await this.net!.routes();
    for (const ip of [env.tunnel.local, env.tunnel.remote]) {
      const addr = parseIPv4(ip)!;
      const hit = nets.find((n) => n.cidr !== '127.0.0.0/8' && cidrContains(parseCidr(n.cidr)!, addr) && parseCidr(n.cidr)!.prefix < 32);
      if (hit && !opts.force) {
        throw new UserError(`tunnel address ${ip} lies in ${hit.cidr} on ${hit.dev}; pick tunnel addresses outside the host's networks (or --force)`);
      }
    }
    for (const r of env.routes) {
      const c = parseCidr(r)!;
      const clash = [...nets, ...routes].find((n) => cidrsOverlap(parseCidr(n.cidr)!, c) && n.dev !== 'lo');
      if (clash && !opts.force) {
        throw new UserError(`route ${r} overlaps ${clash.cidr} on ${clash.dev}; refusing to take it over (use --force to route it through the tunnel anyway)`);
      }
    }
  }

  /** SSH, the tun channel and the remote steps; the pump is attached once all of it stands. */
  private async startSession(): Promise<void> {
    const { env, opts } = this;
    const client = await connectSsh(env, { user: opts.user, agent: opts.agent, passphrases: opts.passphrases });
    try {
      opts.progress(`ssh: connected to ${describeRoute(this.route)}`);
      const exec = this.executor(client);
      // A previous session's remote steps (a reconnect): undo them first, so nothing is doubled.
      const stale = await this.journal.undo(exec, isRemote);
      if (stale.length) opts.log(`could not undo the previous session's remote steps: ${stale.join('; ')}`);
      let channel: TunChannel | undefined;
      let remoteDevice = '';
      if (env.l3) {
        const facts = await this.remoteFacts(client);
        channel = await this.openChannel(client, facts.unit);
        remoteDevice = `tun${facts.unit}`;
        opts.progress(`ssh: tunnel channel open, remote device ${remoteDevice}`);
        await this.journal.apply(planRemote(env, remoteDevice, facts), exec, (s) => opts.progress(`remote: ${s.title.replace(/^remote /, '')}`));
      }
      this.session = { client, channel, remoteDevice };
      client.on('close', () => this.sessionLost(client, 'SSH connection closed'));
      client.on('error', (err: Error) => this.sessionLost(client, `SSH: ${err.message}`));
      if (channel) {
        channel.onClose = () => this.sessionLost(client, 'sshd closed the tunnel channel');
        this.pump!.attach(channel);
        if (env.tunnel.mtuAuto) await this.pickMtu(client, channel, remoteDevice);
      }
      await this.services.sessionUp(client);
      this.dockerSocket?.sessionUp();
      this.sessionStartedAt = Date.now();
      this.state = 'up';
    } catch (err) {
      client.end();
      throw err;
    }
  }

  /** Packets wait and there is no session: on demand, make one (reconnects have their own loop). */
  private wake(): void {
    if (!this.env.onDemand || Date.now() < this.retryAfter) {
      this.pump?.dropHeld();
      return;
    }
    this.ensureSession().catch(() => {
      this.retryAfter = Date.now() + 5000;
    });
  }

  /**
   * mtu: auto, one size each way. Both tun devices start at MAX_MTU. The
   * largest ICMP echo that comes back through sshd (which reads its tun 16 KiB
   * at a time) becomes the remote device's MTU. Towards the remote host sshd
   * writes whatever fits its channel packet, so a larger echo is tried next:
   * the remote kernel takes it whole and answers in fragments of the remote
   * MTU. What crosses becomes this end's MTU, and the remote route back to us
   * advertises the matching MSS, so TCP towards the remote host sends segments
   * twice as large; the other way stays at the remote MTU. sshd moves about one
   * tun packet per loop turn, so packet size is throughput. Not journaled
   * steps: an MTU and a device route go with their device.
   */
  private async pickMtu(client: Client, channel: TunChannel, remoteDevice: string): Promise<void> {
    const src = parseIPv4(this.env.tunnel.local)!;
    const dst = parseIPv4(this.env.tunnel.remote)!;
    const rtt = await this.pingPeer();
    const timeout = Math.max(300, Math.ceil(rtt * 5));
    const sizes = [16000, 15000, 12000, 9000, 4000, 1500].filter((n) => n <= this.env.tunnel.mtu);
    const down = (await this.pump!.largestThatCrosses(src, dst, sizes, timeout)) ?? 1500;
    await runRemote(client, ['ip', 'link', 'set', 'dev', remoteDevice, 'mtu', String(down)], { sudo: this.sudo });
    // macOS utun devices are not known to take MTUs past 16 KiB: one size both ways there
    const ceiling = this.platform === 'linux' ? Math.min(MAX_UPSTREAM_MTU, channel.maxPacket - 4) : down;
    const upSizes = [ceiling, 24000].filter((n) => n > down && n <= ceiling);
    const up = (await this.pump!.largestThatCrosses(src, dst, upSizes, timeout)) ?? down;
    await this.net!.apply({ side: 'local', op: 'link-up', dev: this.tun!.name, mtu: up });
    if (up > down) {
      const { local, remote } = this.env.tunnel;
      await runRemote(client, ['ip', 'route', 'replace', local, 'dev', remoteDevice, 'proto', 'kernel', 'scope', 'link', 'src', remote, 'advmss', String(up - 40)], { sudo: this.sudo });
    }
    this.mtu = up;
    this.remoteMtu = down;
    this.opts.progress(up > down
      ? `tunnel: MTU ${up} here, ${down} on ${remoteDevice}: the largest packets sshd carries each way (probed)`
      : `tunnel: MTU ${down}, the largest packet sshd carries (probed)`);
  }

  /** An ICMP echo to the remote tunnel address through the channel: the round trip in ms, or a UserError. */
  private pingPeer(): Promise<number> {
    const { local, remote } = this.env.tunnel;
    return this.pump!.ping(parseIPv4(local)!, parseIPv4(remote)!, 5000).catch((err: Error) => {
      throw new UserError(`tunnel does not pass traffic: ping ${remote}: ${err.message}`);
    });
  }

  /** Makes the session if there is none; concurrent callers share one attempt. */
  private ensureSession(): Promise<void> {
    if (this.session || this.stopping) return Promise.resolve();
    this.sessionStarting ??= (async () => {
      this.state = 'connecting';
      try {
        await this.startSession();
        this.opts.log(`${this.env.name}: session up`);
      } catch (err) {
        this.lastError = (err as Error).message;
        this.state = this.env.onDemand ? 'idle' : 'connecting';
        if (this.env.onDemand) this.pump?.dropHeld();
        this.opts.log(`${this.env.name}: session failed: ${this.lastError}`);
        throw err;
      } finally {
        this.sessionStarting = undefined;
      }
    })();
    return this.sessionStarting;
  }

  private sessionLost(client: Client, reason: string): void {
    const lost = this.session;
    if (this.stopping || lost?.client !== client) return;
    // cleared first: closing the channel below reports back here
    this.session = undefined;
    this.lastError = reason;
    this.opts.log(`${this.env.name}: ${reason}; reconnecting`);
    this.pump?.detach();
    lost.channel?.close();
    client.end();
    this.state = 'connecting';
    void this.reconnect();
  }

  /** Remakes the session with exponential backoff; the local side stays as it is meanwhile. */
  private async reconnect(): Promise<void> {
    let delay = BACKOFF_MIN_MS;
    while (!this.stopping && !this.session) {
      await new Promise((r) => this.timers.push(setTimeout(r, delay)));
      if (this.stopping) return;
      try {
        await this.ensureSession();
        this.reconnects++;
        return;
      } catch {
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      }
    }
  }

  /** On demand: take the SSH side down when no packet moved for idleTimeout. */
  private watchIdle(): void {
    let lastPackets = -1;
    let lastMoved = Date.now();
    const every = Math.min(1000, (this.env.idleTimeout * 1000) / 4);
    this.timers.push(setInterval(() => {
      const moved = (this.pump?.packets ?? 0) + this.streamTraffic.chunks;
      if (moved !== lastPackets || this.streamTraffic.active > 0) {
        lastPackets = moved;
        lastMoved = Date.now();
        return;
      }
      const quietSince = Math.max(lastMoved, this.sessionStartedAt);
      if (this.session && !this.sessionStarting && Date.now() - quietSince >= this.env.idleTimeout * 1000) {
        void this.endSession('idle');
      }
    }, every));
  }

  /** Undoes the remote steps and closes the session; the local side stays. */
  private async endSession(why: string): Promise<string[]> {
    const s = this.session;
    if (!s) return [];
    this.session = undefined;
    this.pump?.detach();
    const errors = await this.journal.undo(this.executor(s.client), isRemote);
    s.channel?.close();
    s.client.end();
    if (!this.stopping) {
      this.state = 'idle';
      this.opts.log(`${this.env.name}: session down (${why})`);
    }
    return errors;
  }

  /** What the remote host looks like, in one round trip. */
  private async remoteFacts(client: Client): Promise<{ unit: number; ipForward: string }> {
    const script = [
      'ls /sys/class/net',
      'echo @@',
      'cat /proc/sys/net/ipv4/ip_forward',
      'echo @@',
      this.env.nat ? IPTABLES_STATE : 'echo ok',
    ].join('\n');
    const out = await runRemote(client, ['sh', '-c', script], { sudo: this.sudo });
    const [namesText = '', ipForward = '', iptables = ''] = out.split('@@\n');
    const names = namesText.split(/\s+/);
    if (iptables.trim() !== 'ok') {
      throw new UserError(`nat: true needs a working iptables on ${this.env.host} (iptables is ${iptables.trim()})`);
    }
    const unit = this.env.tunnel.remoteUnit ?? lowestFreeTun(names);
    if (this.env.tunnel.remoteUnit !== undefined && names.includes(`tun${unit}`)) {
      throw new UserError(`remote tun${unit} is in use on ${this.env.host} (tunnel.remoteUnit)`);
    }
    return { unit, ipForward: ipForward.trim() };
  }

  private async openChannel(client: Client, unit: number): Promise<TunChannel> {
    try {
      return await openTunChannel(client, unit);
    } catch (err) {
      const says = err instanceof TunChannelError ? err.serverSays : undefined;
      if (says && /rejected tunnel/i.test(says)) {
        throw new UserError(`sshd on ${this.env.host} refused the tunnel ("${says}"): it needs "PermitTunnel yes" (or point-to-point) in sshd_config`);
      }
      const detail = says ? `"${says}"` : (err as Error).message;
      throw new UserError(`sshd on ${this.env.host} could not open tun${unit} (${detail}): the remote user needs root or CAP_NET_ADMIN, and /dev/net/tun`);
    }
  }

  /** The local docker socket: each connection rides the current session, made on demand if need be. */
  private async serveDocker(): Promise<void> {
    const { env, opts } = this;
    const remote: Endpoint = { kind: 'unix', path: env.docker.remoteSocket };
    const served = await DockerSocket.serve({ kind: 'unix', path: dockerSocket(env.name) }, {
      dial: () => this.dial(remote),
      dialIfUp: () => this.dialIfUp(remote),
      owner: opts.user,
      traffic: this.streamTraffic,
      warm: env.docker.warm,
    });
    this.dockerSocket = served.socket;
    this.closers.push(() => served.close());
  }

  private async checkDocker(): Promise<void> {
    const { env, opts } = this;
    const host = dockerHostFor(env);
    if (!host) return;
    try {
      await pingDocker(host, 5000);
    } catch (err) {
      throw new UserError(`docker at ${host} (remote ${env.docker.mode === 'socket' ? env.docker.remoteSocket : env.docker.host}) did not answer /_ping: ${(err as Error).message}`);
    }
    opts.progress(`docker: ${host} answers /_ping`);
  }

  status(): Status {
    const { env } = this;
    return {
      env: env.name,
      state: this.state,
      pid: process.pid,
      since: this.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      host: describeRoute(this.route),
      localDevice: this.tun?.name ?? '',
      remoteDevice: this.session?.remoteDevice ?? '',
      local: env.l3 ? env.tunnel.local : '',
      remote: env.l3 ? env.tunnel.remote : '',
      mtu: env.l3 ? this.mtu : 0,
      remoteMtu: env.l3 ? this.remoteMtu : 0,
      datapath: nativeOrNot(this.pump?.native),
      routes: env.routes,
      nat: env.nat,
      onDemand: env.onDemand,
      dockerHost: dockerHostFor(env) ?? null,
      dockerSocket: this.dockerSocket?.status() ?? null,
      reconnects: this.reconnects,
      lastError: this.lastError,
      stats: { ...(this.pump?.stats ?? emptyStats()) },
      memory: process.memoryUsage(),
      ...this.services.status(),
    };
  }

  /** Takes everything down in reverse; safe to call more than once. Returns what could not be undone. */
  down(reason: string): Promise<string[]> {
    this.stopping ??= this.teardown(reason);
    return this.stopping;
  }

  private async teardown(reason: string): Promise<string[]> {
    for (const t of this.timers) clearTimeout(t);
    await this.sessionStarting?.catch(() => {});
    this.pump?.stop();
    await this.services.close();
    for (const close of this.closers.reverse()) await close();
    const errors = await this.endSession(reason);
    // Without a session the remote steps cannot be undone now; keep them in
    // the journal for `cloudbridge cleanup`.
    const remoteLeft = this.journal.steps.some(isRemote);
    errors.push(...(await this.journal.undo(this.executor(undefined), (s) => !isRemote(s))));
    this.tun?.close();
    this.net?.close();
    if (remoteLeft) {
      errors.push(`remote steps left for "cloudbridge cleanup ${this.env.name}": no SSH connection to undo them`);
      for (const f of fs.readdirSync(envRunDir(this.env.name))) {
        if (f !== 'journal.json') fs.rmSync(`${envRunDir(this.env.name)}/${f}`, { force: true });
      }
    } else {
      this.journal.remove();
      fs.rmSync(envRunDir(this.env.name), { recursive: true, force: true });
      try {
        fs.rmdirSync(runDir()); // only when no other environment is up
      } catch {
        // not empty: others are connected
      }
    }
    this.markDone(reason);
    return errors;
  }
}

function emptyStats(): PumpStats {
  return { txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, rxMalformed: 0, rxDropped: 0, txDropped: 0, refused: 0 };
}

function nativeOrNot(native: { outbound: boolean; inbound: boolean } | undefined): Status['datapath'] {
  return { outbound: native?.outbound ? 'c' : 'js', inbound: native?.inbound ? 'c' : 'js' };
}
