import { shownPairs } from '../config/tunnelPair.js';
import fs from 'node:fs';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../config/forwards.js';
import type { EnvironmentConfig } from '../config/types.js';
import { dockerCliPresent } from '../docker/context.js';
import { dockerHostFor } from '../docker/endpoint.js';
import { DockerSocket } from '../docker/socket.js';
import { dialOver } from '../forward/dial.js';
import { NO_SESSION } from '../forward/forwards.js';
import { currentPlatform, localNet, requestedDevice, type PlatformName } from '../platform/index.js';
import type { LocalNet } from '../platform/types.js';
import { StepJournal } from '../plan/apply.js';
import { masqueradeWanted, planLocal } from '../plan/plan.js';
import { isContextAction, type Step } from '../plan/steps.js';
import { unsupportedLines, userAtHost } from '../ssh/route.js';
import { TunDevice } from '../tun/device.js';
import { bootRecordFile, controlSocket, dockerSocket, envRunDir, journalFile, removeRunFiles, userBootRecordIfWritable } from '../util/paths.js';
import { serveControl } from './control.js';
import { RunFiles } from './runFiles.js';
import { SessionKeeper } from './keeper.js';
import { describeDown, teardown, type DownReason } from './teardown.js';
import { Sessions } from './sessions.js';
import type { ControllerOptions } from './options.js';

import { makePump, pingPeer, type L3Side } from './l3.js';
import { Pins } from './pins.js';
import { restoreLeftByBoot } from './cleanup.js';
import { followRoams } from './roam.js';
import { fullTunnelFor, type FullTunnel } from './fullTunnel.js';
import { blocksIPv6 } from '../plan/fullTunnel.js';
import { iptablesProbe, preflight, withoutMissingIptables } from './probes.js';
import { DockerHealth } from './dockerHealth.js';
import { Services } from './services.js';
import { configuredStatus, emptyStats, nativeOrNot, type Status } from './status.js';
import { monotonicMs } from '../util/clock.js';
import { processResources } from '../util/resources.js';

/**
 * One environment's tunnel, in wg-quick's shape: check, plan, apply, and
 * undo everything in reverse on the way down (or when bringing it up fails
 * half way).
 *
 * Two lifetimes: the local side (tun device, addresses, routes, sockets)
 * lasts as long as the controller; the SSH session (connection, channel,
 * remote steps; keeper.ts) may be lost and remade, or, on demand, made at
 * the first packet and taken down when idle, while the local side stays.
 */
export class Controller {
  private net: LocalNet | undefined;
  /** Held from the moment it is opened, so that a failure before the pump starts still closes it. */
  private tun: TunDevice | undefined;
  private l3: L3Side | undefined;
  /** The control and docker sockets, put back if /run is emptied under us. */
  private readonly runFiles: RunFiles;
  private readonly journal: StepJournal;
  private readonly platform: PlatformName = currentPlatform();
  /** Streams that ride SSH rather than the tun (docker socket, forwards, SOCKS) count as traffic too. */
  private readonly streamTraffic = { active: 0, chunks: 0 };
  private dockerSocket: DockerSocket | undefined;
  private startedAt = new Date();
  private startedMono = monotonicMs();
  private stopping: Promise<string[]> | undefined;
  private readonly sessions: Sessions;
  private readonly services: Services;
  private readonly keeper: SessionKeeper;
  private readonly dockerHealth: DockerHealth;
  private readonly pins: Pins;
  private unwatchPaths: () => void = () => undefined;
  /** routes: [default]: its halves and DNS, while a session stands. */
  private readonly full: FullTunnel | undefined;
  /** Resolves when the controller has gone down, for whatever reason. */
  readonly done: Promise<DownReason>;
  private markDone!: (reason: DownReason) => void;

  /**
   * The journal's boot record: root's; with the helper (whose own record has this host's side) the
   * user's, for the server's steps, where their state folder takes one.
   */
  private readonly bootRecord: string | undefined;

  constructor(
    private readonly env: EnvironmentConfig,
    private readonly opts: ControllerOptions,
  ) {
    this.bootRecord = opts.helper ? userBootRecordIfWritable(env.name, opts.user) : bootRecordFile(env.name);
    this.journal = new StepJournal(
      journalFile(env.name),
      env.name,
      {
        owner: { uid: opts.user.uid, name: opts.user.name },
        target: userAtHost(opts.route.target),
        ...(opts.helper ? { localBy: 'helper' as const } : {}),
      },
      this.bootRecord,
    );
    this.done = new Promise((resolve) => (this.markDone = resolve));
    this.dockerHealth = new DockerHealth(env, opts.log);
    this.runFiles = new RunFiles(this.journal, opts.log, opts.helper && (() => opts.helper!.claim()));
    this.keeper = new SessionKeeper({
      env,
      open: () => this.sessions.open(),
      attach: (s) => this.sessions.attach(s),
      detach: () => {
        this.l3?.pump.detach();
        void this.full?.lost('session lost');
      },
      close: (s) => this.sessions.close(s),
      moved: () => (this.l3?.pump.sent ?? 0) + this.streamTraffic.chunks,
      busy: () => this.streamTraffic.active > 0,
      dropHeld: () => this.l3?.pump.dropHeld(),
      log: opts.log,
      probe: (s) => this.sessions.probe(s),
    });
    this.services = new Services({
      env,
      user: opts.user,
      platform: this.platform,
      dial: (to) => this.dial(to),
      dialIfUp: (to) => this.dialIfUp(to),
      session: () => this.keeper.session?.link.client,
      sudo: opts.route.target.user !== 'root',
      sshHosts: [...opts.route.jumps, opts.route.target].map((h) => h.host).filter((h) => isIP(h) === 0),
      bind53: opts.helper && ((addr, proto) => opts.helper!.bind(addr, proto)),
      traffic: this.streamTraffic,
      applyLocal: (steps) => this.applyLocal(steps),
      progress: opts.progress,
      log: opts.log,
    });
    const outside = {
      net: () => this.net,
      dev: () => this.tun?.name ?? '',
      applyLocal: (s: Step[]) => this.applyLocal(s),
      undoLocal: (which: (s: Step) => boolean) => this.journal.undo(this.sessions.executor(undefined), which),
      log: opts.log,
    };
    this.pins = new Pins(env, outside);
    this.full = fullTunnelFor(env, {
      ...outside,
      dns: {
        steps: () => this.services.fullDnsSteps(() => this.net?.dnsServices() ?? Promise.resolve([])),
        all: (on) => this.services.dnsForAll(on),
      },
      progress: (line) => (this.keeper.state === 'up' ? opts.log(line) : opts.progress(line)),
    });
    this.sessions = new Sessions({
      env,
      opts,
      journal: this.journal,
      pins: this.pins,
      services: this.services,
      platform: this.platform,
      full: this.full,
      local: () => (opts.helper ? { helper: opts.helper } : { net: this.net }),
      l3: () => this.l3,
      dockerSocket: () => this.dockerSocket,
    });
  }

  /** A stream to a target as the remote host sees it, over the session (made first, on demand). */
  private async dial(to: Endpoint): Promise<Duplex> {
    await this.keeper.ensure();
    const s = this.keeper.session;
    if (!s) throw new Error(NO_SESSION);
    return dialOver(s.link.client, to);
  }

  /** The same over the current session only: checks and watchers must not wake an on-demand tunnel. */
  private dialIfUp(to: Endpoint): Promise<Duplex> {
    const s = this.keeper.session;
    return s ? dialOver(s.link.client, to) : Promise.reject(new Error(NO_SESSION));
  }

  private applyLocal(steps: Step[]): Promise<void> {
    return this.journal.apply(steps, this.sessions.executor(undefined), (s) => this.opts.progress(`local: ${s.title}`));
  }

  async up(): Promise<void> {
    const { env, opts } = this;
    for (const line of unsupportedLines(opts.route)) opts.progress(`warning: ${line}`);
    // The SSH handshake (~80 ms to the lab) runs while the local side is set
    // up (~90 ms) instead of after it; a connection that turns out not to be
    // needed is closed below.
    if (!env.onDemand) {
      this.sessions.early = opts.firstLink ?? this.sessions.connect();
      this.sessions.early.catch(() => undefined);
    }
    // started early to overlap the local set-up, and only when the plan has rules (a spawn costs ~15 ms of this thread)
    if (masqueradeWanted(env, this.platform).v4) void iptablesProbe().catch(() => undefined);
    try {
      // the helper's hello first: the installed one makes a user's run folder
      await opts.helper?.hello;
      fs.mkdirSync(envRunDir(env.name), { recursive: true, mode: 0o755 });
      // a reboot in the middle of the last run left its DNS settings and the server's rules (no journal: the run folder went with the boot)
      const record = this.bootRecord;
      if (!record) opts.progress(`warning: ${opts.user.home} cannot be written: a reboot mid-run would leave the server's steps (no boot record)`);
      const restore = record ? await restoreLeftByBoot(env, { ...opts, platform: this.platform }, opts.helper ? record : undefined) : [];
      for (const e of restore) opts.progress(`warning: ${e}`);
      this.journal.begin();
      // without its helper nothing this host changed is guarded: go down (its journal is root's, for cleanup)
      void opts.helper?.exited.then((code) => this.down({ kind: 'failed', detail: `the root helper exited (${code ?? 'killed'})` }));
      const net = (this.net = await localNet(this.platform));
      await preflight(env, net, this.platform, opts.force);
      // before any route of ours: the first connection is under way along the host's own paths
      await this.pins.beforeConnect(opts.route);
      await this.applyLocal(await this.pins.excludeSteps());

      const { tunnel } = env;
      const tun = (this.tun = tunnel ? await this.openTun(requestedDevice(this.platform, tunnel)) : undefined);
      const host = dockerHostFor(env);
      const context = host && (await dockerCliPresent()) ? { host, owner: opts.user } : undefined;
      const local = await withoutMissingIptables(env, planLocal(env, tun?.name ?? '', this.platform, context), opts.progress);
      const isContext = (s: Step): boolean => s.apply.side === 'local' && isContextAction(s.apply);
      await this.applyLocal(local.filter((s) => !isContext(s)));
      // a docker context is a convenience: one the user's docker config will not take is a warning
      await this.applyLocal(local.filter(isContext)).catch((err: Error) => opts.progress(`warning: no docker context for ${env.name}: ${err.message}`));
      opts.phases?.mark('local side set up');
      if (tunnel && tun) {
        const pump = makePump(env, tunnel, tun, { services: this.services, logFlows: opts.logFlows ?? false, progress: opts.progress, log: opts.log });
        pump.onWake = () => this.keeper.wake();
        pump.start((err) => void this.down({ kind: 'failed', detail: err.message }));
        this.l3 = { tunnel, tun, pump, net };
      }

      if (env.docker.mode === 'socket') await this.serveDocker();
      await this.services.start();
      if (env.onDemand) {
        this.keeper.state = 'idle';
        await this.services.startIdle();
        this.keeper.watchIdle();
        opts.progress(`on demand: SSH to ${env.host} starts with the first packet, stops after ${env.idleTimeout}s idle`);
      } else {
        await this.keeper.ensure();
        if (this.l3) {
          const rtt = await pingPeer(this.l3);
          opts.phases?.mark('tunnel answers');
          opts.progress(`tunnel: ${shownPairs(this.l3.tunnel).replaceAll('<->', '->')} answers in ${rtt.toFixed(2)} ms`);
        }
        await this.dockerHealth.atConnect(opts.progress);
        if (env.docker.mode !== 'off') opts.phases?.mark('docker answers');
      }
      // from here on a sleep or a change of network asks the session for a round trip (keeper.check)
      this.keeper.watchWake();
      this.unwatchPaths = followRoams(net, { env, dev: () => this.tun?.name ?? '', pins: this.pins, full: this.full, keeper: this.keeper, log: opts.log });
      await this.runFiles.serve(controlSocket(env.name), () =>
        serveControl(
          controlSocket(env.name),
          async (req) => {
            if (req.cmd === 'status') return this.status();
            if (req.cmd === 'down') return { down: true, errors: await this.down({ kind: 'requested' }) };
            throw new Error(`unknown command ${String(req.cmd)}`);
          },
          opts.controlUser ? opts.user : undefined,
        ),
      );
      this.runFiles.watch();
      this.startedAt = new Date();
      this.startedMono = monotonicMs();
    } catch (err) {
      void this.sessions.early?.then(
        (c) => c.end(),
        () => undefined,
      );
      const leftovers = await this.down({ kind: 'failed', detail: err instanceof Error ? err.message : String(err) });
      if (leftovers.length) opts.progress(`warning: could not undo: ${leftovers.join('; ')}`);
      throw err;
    }
  }

  /** The tun device: opened here as root, or by the root helper and handed over. */
  private async openTun(name: string): Promise<TunDevice> {
    const { helper } = this.opts;
    if (!helper) return TunDevice.open(name);
    const opened = await helper.openTun(name);
    return TunDevice.adopt(opened.fd, opened.name);
  }

  /** The local docker socket: each connection rides the current session, made on demand if need be. */
  private async serveDocker(): Promise<void> {
    const { env, opts } = this;
    const remote: Endpoint = { kind: 'unix', path: env.docker.remoteSocket };
    await this.runFiles.serve(dockerSocket(env.name), async () => {
      const served = await DockerSocket.serve(
        { kind: 'unix', path: dockerSocket(env.name) },
        {
          dial: () => this.dial(remote),
          dialIfUp: () => this.dialIfUp(remote),
          owner: opts.user,
          traffic: this.streamTraffic,
          warm: env.docker.warm,
        },
      );
      this.dockerSocket = served.socket;
      if (this.keeper.session) served.socket.sessionUp();
      return () => served.close();
    });
  }

  status(): Status {
    const { env, keeper } = this;
    return {
      ...configuredStatus(env, this.opts.route),
      state: keeper.state,
      pid: process.pid,
      since: this.startedAt.toISOString(),
      uptimeSeconds: Math.round((monotonicMs() - this.startedMono) / 1000),
      localDevice: this.l3?.tun.name ?? '',
      remoteDevice: keeper.session?.remoteDevice ?? '',
      mtu: this.sessions.mtu,
      remoteMtu: this.sessions.remoteMtu,
      datapath: nativeOrNot(this.l3?.pump.native),
      fullTunnel: this.full ? { active: this.full.active, lan: env.lan, onLoss: env.onLoss, blocked: this.full.blocked, ipv6Blocked: blocksIPv6(env) } : null,
      pins: this.pins.list(),
      dockerSocket: this.dockerSocket?.status() ?? null,
      docker: this.dockerHealth.status(),
      reconnects: keeper.reconnects,
      phases: this.opts.phases?.list() ?? [],
      lastError: keeper.lastError,
      stats: { ...(this.l3?.pump.stats ?? emptyStats()) },
      memory: process.memoryUsage(),
      resources: processResources(),
      ...this.services.status(),
    };
  }

  /** Takes everything down in reverse; safe to call more than once. Returns what could not be undone. */
  down(reason: DownReason): Promise<string[]> {
    this.stopping ??= this.teardown(reason);
    return this.stopping;
  }

  private async teardown(reason: DownReason): Promise<string[]> {
    const errors = await teardown(
      {
        env: this.env.name,
        journal: this.journal,
        keeper: this.keeper,
        stops: [() => this.dockerHealth.stop(), () => this.l3?.pump.stop(), () => this.services.close(), () => this.runFiles.close()],
        local: () => this.sessions.executor(undefined),
        release: async () => {
          this.unwatchPaths();
          this.tun?.close();
          this.net?.close();
          // the helper undoes whatever is left of its steps, and exits
          await this.opts.helper?.close();
        },
        removeRunFiles: (keepJournal) => removeRunFiles(this.env.name, keepJournal),
      },
      describeDown(reason),
    );
    this.markDone(reason);
    return errors;
  }
}
