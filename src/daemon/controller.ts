import fs from 'node:fs';
import type net from 'node:net';
import type { Client } from 'ssh2';
import { UserError } from '../cli/errors.js';
import { cidrContains, cidrsOverlap, parseCidr, parseIPv4 } from '../config/ipv4.js';
import type { InvokingUser } from '../config/load.js';
import type { EnvironmentConfig } from '../config/types.js';
import { Pump, type PumpStats } from '../datapath/pump.js';
import { dockerHostFor, pingDocker } from '../docker/endpoint.js';
import { forwardUnixSocket } from '../docker/socketForward.js';
import { currentPlatform, localNet, requestedDevice, type PlatformName } from '../platform/index.js';
import type { LocalNet } from '../platform/types.js';
import { runGrouped, StepJournal, type Executor } from '../plan/apply.js';
import { planLocal, planRemote } from '../plan/plan.js';
import type { LocalAction, RemoteAction } from '../plan/steps.js';
import { runRemote, runRemoteBatch } from '../ssh/exec.js';
import { connectSsh } from '../ssh/session.js';
import { openTunChannel, TunChannelError, type TunChannel } from '../ssh/tunChannel.js';
import { TunDevice } from '../tun/device.js';
import { serveControl } from './control.js';
import { controlSocket, dockerSocket, envRunDir, journalFile } from './paths.js';

export interface ControllerOptions {
  readonly user: InvokingUser;
  /** Route even where routes overlap the host's own networks. */
  readonly force: boolean;
  readonly agent?: string | undefined;
  readonly progress: (line: string) => void;
}

export interface Status {
  readonly env: string;
  readonly state: 'up';
  readonly pid: number;
  readonly since: string;
  readonly uptimeSeconds: number;
  readonly host: string;
  readonly localDevice: string;
  readonly remoteDevice: string;
  readonly local: string;
  readonly remote: string;
  readonly mtu: number;
  readonly routes: readonly string[];
  readonly nat: boolean;
  readonly dockerHost: string | null;
  readonly stats: PumpStats;
}

const SSH_TUNID_MAX = 0x7ffffffe;

/**
 * One environment's tunnel, in wg-quick's shape: check, plan, apply, and
 * undo everything in reverse on the way down (or when bringing it up fails
 * half way).
 */
export class Controller {
  private client: Client | undefined;
  private channel: TunChannel | undefined;
  private tun: TunDevice | undefined;
  private pump: Pump | undefined;
  private net: LocalNet | undefined;
  private readonly servers: net.Server[] = [];
  private readonly journal: StepJournal;
  private remoteDevice = '';
  private readonly platform: PlatformName = currentPlatform();
  private startedAt = new Date();
  private stopping: Promise<string[]> | undefined;
  /** Resolves when the controller has gone down, for whatever reason. */
  readonly done: Promise<string>;
  private markDone!: (reason: string) => void;

  constructor(
    private readonly env: EnvironmentConfig,
    private readonly opts: ControllerOptions,
  ) {
    this.journal = new StepJournal(journalFile(env.name));
    this.done = new Promise((resolve) => (this.markDone = resolve));
  }

  private get sudo(): boolean {
    return this.env.user !== 'root';
  }

  private readonly exec: Executor = {
    run: (actions, keepGoing) =>
      runGrouped<LocalAction, RemoteAction>(
        actions,
        keepGoing,
        (a) => this.net!.apply(a),
        (group) => {
          if (!this.client) throw new Error('no SSH connection');
          return runRemoteBatch(this.client, group.map((a) => a.argv), { sudo: this.sudo, keepGoing });
        },
      ),
  };

  async up(): Promise<void> {
    const { env, opts } = this;
    try {
      fs.mkdirSync(envRunDir(env.name), { recursive: true, mode: 0o755 });
      this.net = await localNet(this.platform);
      await this.checkLocal();

      this.client = await connectSsh(env, { user: opts.user, agent: opts.agent });
      opts.progress(`ssh: connected to ${env.user}@${env.host}:${env.port}`);

      const facts = await this.remoteFacts();
      this.channel = await this.openChannel(facts.unit);
      this.remoteDevice = `tun${facts.unit}`;
      opts.progress(`ssh: tunnel channel open, remote device ${this.remoteDevice}`);

      this.tun = TunDevice.open(requestedDevice(this.platform, env));
      await this.journal.apply(planLocal(env, this.tun.name), this.exec, (s) => opts.progress(`local: ${s.title}`));
      await this.journal.apply(planRemote(env, this.remoteDevice, facts), this.exec, (s) => opts.progress(`remote: ${s.title.replace(/^remote /, '')}`));

      this.pump = new Pump(this.tun, this.channel, env.tunnel.mtu);
      this.pump.start((err) => void this.down(err.message));
      const rtt = await this.pump
        .ping(parseIPv4(env.tunnel.local)!, parseIPv4(env.tunnel.remote)!, 5000)
        .catch((err: Error) => {
          throw new UserError(`tunnel does not pass traffic: ping ${env.tunnel.remote}: ${err.message}`);
        });
      opts.progress(`tunnel: ${env.tunnel.local} -> ${env.tunnel.remote} answers in ${rtt.toFixed(2)} ms`);

      await this.startDocker();
      this.servers.push(await serveControlFor(this));
      this.startedAt = new Date();
      this.client.on('close', () => void this.down('SSH connection closed'));
      this.channel.onClose = () => void this.down('sshd closed the tunnel channel');
    } catch (err) {
      const leftovers = await this.down(err instanceof Error ? err.message : String(err));
      if (leftovers.length) opts.progress(`warning: could not undo: ${leftovers.join('; ')}`);
      throw err;
    }
  }

  /** Refuses what would break the host's own networking, before anything is changed. */
  private async checkLocal(): Promise<void> {
    const { env, opts } = this;
    const nets = await this.net!.interfaceNetworks();
    const routes = await this.net!.routes();
    if (this.platform === 'linux' && fs.existsSync(`/sys/class/net/${env.tunnel.device}`)) {
      throw new UserError(`interface ${env.tunnel.device} already exists (is ${env.name} connected already?)`);
    }
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

  /** What the remote host looks like, in one round trip. */
  private async remoteFacts(): Promise<{ unit: number; ipForward: string }> {
    const script = [
      'ls /sys/class/net',
      'echo @@',
      'cat /proc/sys/net/ipv4/ip_forward',
      'echo @@',
      this.env.nat
        ? 'if command -v iptables >/dev/null; then iptables -w -t nat -n -L POSTROUTING >/dev/null 2>&1 && echo ok || echo broken; else echo missing; fi'
        : 'echo ok',
    ].join('\n');
    const out = await runRemote(this.client!, ['sh', '-c', script], { sudo: this.sudo });
    const [namesText = '', ipForward = '', iptables = ''] = out.split('@@\n');
    const names = namesText.split(/\s+/);
    if (iptables.trim() !== 'ok') {
      throw new UserError(`nat: true needs a working iptables on ${this.env.host} (iptables is ${iptables.trim()})`);
    }
    let unit = this.env.tunnel.remoteUnit;
    if (unit === undefined) {
      unit = 0;
      while (names.includes(`tun${unit}`) && unit < SSH_TUNID_MAX) unit++;
    } else if (names.includes(`tun${unit}`)) {
      throw new UserError(`remote tun${unit} is in use on ${this.env.host} (tunnel.remoteUnit)`);
    }
    return { unit, ipForward: ipForward.trim() };
  }

  private async openChannel(unit: number): Promise<TunChannel> {
    try {
      return await openTunChannel(this.client!, unit);
    } catch (err) {
      const says = err instanceof TunChannelError ? err.serverSays : undefined;
      if (says && /rejected tunnel/i.test(says)) {
        throw new UserError(`sshd on ${this.env.host} refused the tunnel ("${says}"): it needs "PermitTunnel yes" (or point-to-point) in sshd_config`);
      }
      const detail = says ? `"${says}"` : (err as Error).message;
      throw new UserError(`sshd on ${this.env.host} could not open tun${unit} (${detail}): the remote user needs root or CAP_NET_ADMIN, and /dev/net/tun`);
    }
  }

  private async startDocker(): Promise<void> {
    const { env, opts } = this;
    const host = dockerHostFor(env);
    if (!host) return;
    if (env.docker.mode === 'socket') {
      this.servers.push(await forwardUnixSocket(this.client!, dockerSocket(env.name), env.docker.remoteSocket, opts.user));
    }
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
      state: 'up',
      pid: process.pid,
      since: this.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      host: `${env.user}@${env.host}:${env.port}`,
      localDevice: this.tun?.name ?? '',
      remoteDevice: this.remoteDevice,
      local: env.tunnel.local,
      remote: env.tunnel.remote,
      mtu: env.tunnel.mtu,
      routes: env.routes,
      nat: env.nat,
      dockerHost: dockerHostFor(env) ?? null,
      stats: { ...(this.pump?.stats ?? emptyStats()) },
    };
  }

  /** Takes everything down in reverse; safe to call more than once. Returns what could not be undone. */
  down(reason: string): Promise<string[]> {
    this.stopping ??= this.teardown(reason);
    return this.stopping;
  }

  private async teardown(reason: string): Promise<string[]> {
    this.pump?.stop();
    for (const s of this.servers.reverse()) s.close();
    // Remote undo needs the SSH connection; local undo needs only netlink.
    const errors = await this.journal.undo(this.exec, 0, (s) => s.apply.side === 'local' || this.client !== undefined);
    this.channel?.close();
    this.tun?.close();
    this.client?.end();
    this.net?.close();
    this.journal.remove();
    fs.rmSync(envRunDir(this.env.name), { recursive: true, force: true });
    this.markDone(reason);
    return errors;
  }
}

function emptyStats(): PumpStats {
  return { txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, rxMalformed: 0, rxDropped: 0, txDropped: 0 };
}

function serveControlFor(c: Controller): Promise<net.Server> {
  return serveControl(controlSocket(c.status().env), async (req) => {
    if (req.cmd === 'status') return c.status();
    if (req.cmd === 'down') {
      const errors = await c.down('disconnect requested');
      return { down: true, errors };
    }
    throw new Error(`unknown command ${String(req.cmd)}`);
  });
}
