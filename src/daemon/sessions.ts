import type { Client } from 'ssh2';
import type { EnvironmentConfig } from '../config/types.js';
import type { SshLink } from '../datapath/ssh/link.js';
import type { DockerSocket } from '../docker/socket.js';
import type { PlatformName } from '../platform/index.js';
import type { Executor, StepJournal } from '../plan/apply.js';
import { isRemote, type Step } from '../plan/steps.js';
import { expectedUp } from '../plan/plan.js';
import { describeRoute } from '../ssh/route.js';
import { connectSsh } from '../ssh/session.js';
import { runRemote } from '../ssh/exec.js';
import { stepExecutor, type LocalChanges } from './executor.js';
import type { FullTunnel } from './fullTunnel.js';
import type { Session } from './keeper.js';
import type { L3Side } from './l3.js';
import { mtuLine, pickMtu } from './mtu.js';
import type { Pins } from './pins.js';
import { remoteSide } from './remote.js';
import type { Services } from './services.js';
import type { ControllerOptions } from './options.js';

/** What a controller's sessions work with: its parts, some made after the sessions are (getters). */
export interface SessionParts {
  readonly env: EnvironmentConfig;
  readonly opts: ControllerOptions;
  readonly journal: StepJournal;
  readonly pins: Pins;
  readonly services: Services;
  readonly platform: PlatformName;
  readonly full: FullTunnel | undefined;
  /** Where this host's changes go: the platform's code, or the root helper. */
  readonly local: () => LocalChanges;
  readonly l3: () => L3Side | undefined;
  readonly dockerSocket: () => DockerSocket | undefined;
}

/**
 * How a controller makes, rides and ends an SSH session (what the keeper
 * calls): connect (pins first), the tun channel and the remote steps, the
 * MTU probe, and the way back, each remote step journaled and undone over
 * the session's own connection.
 */
export class Sessions {
  /** The first SSH connection, started while the local side is set up (Controller.up). */
  early: Promise<SshLink> | undefined;
  /** The MTUs in force: this end's device (upstream) and the remote one's (probed per session with mtu: auto). */
  mtu: number;
  remoteMtu: number;
  /** The remote tun device of the last session (a lost one's sshd may still hold it). */
  private lastRemoteDevice = '';

  constructor(private readonly parts: SessionParts) {
    this.mtu = parts.env.tunnel?.mtu ?? 0;
    this.remoteMtu = this.mtu;
  }

  /** Who we are on the remote host decides sudo. */
  get sudo(): boolean {
    return this.parts.opts.route.target.user !== 'root';
  }

  /** Local actions through the platform or the helper, remote ones over `client`. */
  executor(client: Client | undefined): Executor {
    return stepExecutor(this.parts.local(), client, this.sudo);
  }

  async connect(): Promise<SshLink> {
    const { env, opts, full, pins } = this.parts;
    await full?.reconnecting();
    await pins.beforeConnect(opts.route);
    return connectSsh(env, opts.route, { user: opts.user, agent: opts.agent, passphrases: opts.passphrases, debug: opts.debug, warn: opts.progress });
  }

  private applyRemote(steps: Step[], client: Client): Promise<void> {
    return this.parts.journal.apply(steps, this.executor(client), (s) => this.parts.opts.progress(`remote: ${s.title.replace(/^remote /, '')}`));
  }

  /** SSH, the tun channel and the remote steps. */
  async open(): Promise<Session> {
    const { env, opts, journal, pins } = this.parts;
    const early = this.early;
    this.early = undefined;
    const link = await (early ?? this.connect());
    const { client } = link;
    try {
      opts.progress(`ssh: connected to ${describeRoute(opts.route)}`);
      opts.phases?.mark('session begun');
      await pins.connected(link.carrier, opts.route);
      // A previous session's remote steps (a reconnect): undo them first, so nothing is doubled.
      const stale = await journal.undo(this.executor(client), isRemote);
      if (stale.length) opts.log(`could not undo the previous session's remote steps: ${stale.join('; ')}`);
      const { tunnel } = env;
      if (!tunnel) return { link, channel: undefined, remoteDevice: '' };
      const { channel, remoteDevice, advertised } = await remoteSide(link, env, tunnel, {
        sudo: this.sudo,
        lastDevice: this.lastRemoteDevice,
        apply: (steps) => this.applyRemote(steps, client),
        progress: opts.progress,
        mark: (phase) => opts.phases?.mark(phase),
        expectedUp: (maxPacket) => expectedUp(tunnel, this.parts.platform, maxPacket),
      });
      this.lastRemoteDevice = remoteDevice;
      opts.phases?.mark('remote side set up');
      return { link, channel, remoteDevice, advertised };
    } catch (err) {
      // what this session made remotely is undone over its connection while it stands
      const left = await journal.undo(this.executor(client), isRemote);
      if (left.length) opts.log(`could not undo remote steps: ${left.join('; ')}`);
      link.end();
      throw err;
    }
  }

  /** The session stands: the pump rides its channel (MTU probed first), the services and the docker socket its connection. */
  async attach(s: Session): Promise<void> {
    const l3 = this.parts.l3();
    if (s.channel && l3) {
      l3.pump.attach(s.channel);
      if (l3.tunnel.mtuAuto) {
        await this.pickMtu(s, l3);
        this.parts.opts.phases?.mark('mtu probed');
      }
    }
    await this.parts.services.sessionUp(s.link.client);
    this.parts.dockerSocket()?.sessionUp();
    await this.parts.full?.up();
  }

  /** One round trip over the session (a remote `true` in its shell): the keeper's check() after a sleep or a change of network. */
  async probe(s: Session): Promise<void> {
    await runRemote(s.link.client, ['true'], { sudo: false });
  }

  /** Ends a session on purpose: its remote steps undone, then closed. */
  async close(s: Session): Promise<string[]> {
    this.parts.l3()?.pump.detach();
    await this.parts.full?.withdraw('session closed');
    const errors = await this.parts.journal.undo(this.executor(s.link.client), isRemote);
    s.channel?.close();
    s.link.end();
    return errors;
  }

  /** mtu: auto: probe (mtu.ts), and apply what it found as journaled steps on both ends. */
  private async pickMtu(s: Session, l3: L3Side): Promise<void> {
    const exec = this.executor(s.link.client);
    const probed = await pickMtu(
      l3,
      s.remoteDevice,
      s.channel!.maxPacket,
      this.parts.platform,
      (steps) => this.parts.journal.apply(steps, exec),
      s.advertised ?? 0,
    );
    [this.mtu, this.remoteMtu] = [probed.up, probed.down];
    this.parts.opts.progress(mtuLine(probed, s.remoteDevice));
  }
}
