import { parseCidr } from '../config/ipv4.js';
import type { EnvironmentConfig } from '../config/types.js';
import { planHalves, planLanThroughTunnel } from '../plan/fullTunnel.js';
import type { Step } from '../plan/steps.js';
import type { LocalNet } from '../platform/types.js';

export interface FullTunnelDeps {
  readonly net: () => LocalNet | undefined;
  readonly dev: () => string;
  readonly applyLocal: (steps: Step[]) => Promise<void>;
  /** Undoes the journaled local steps `which` selects; returns what failed. */
  readonly undoLocal: (which: (s: Step) => boolean) => Promise<string[]>;
  /** DNS for every name through the tunnel: steps (systemd-resolved's ~.) and the forwarder's switch. */
  /** With dns.all: the steps sending every name through the tunnel (read off the host now), and the forwarder's switch. */
  readonly dns: { readonly steps: () => Promise<Step[]>; readonly all: (on: boolean) => void };
  readonly progress: (line: string) => void;
  readonly log: (line: string) => void;
}

/**
 * routes: [default]. The halves (plan/fullTunnel.ts) and, with dns.all, DNS
 * for every name are made once the first session is attached (after its
 * pins). When a session is lost:
 * - onLoss: block (the default) keeps them: traffic still enters the tun
 *   device and goes nowhere, names are still asked only through the tunnel
 *   (and fail), until the session is back or the user disconnects. Someone
 *   who cuts the pinned SSH flow gets nothing in the clear. The reconnect
 *   goes along the pins; the hops' own names are asked of this host's
 *   resolvers (dns/forwarder.ts, `direct`).
 * - onLoss: direct withdraws them: the host's own routes and resolvers
 *   carry everything until the session is back, then the tunnel takes over
 *   again.
 */
export class FullTunnel {
  private readonly made = new Set<Step>();
  /** lan: tunnel: the steps of the LAN of the moment (among `made`). */
  private lan: Step[] = [];
  private withdrawn: Promise<void> = Promise.resolve();
  /** onLoss: block, no session: everything held in the tunnel and dropped. */
  private blockedNow = false;

  constructor(
    private readonly env: EnvironmentConfig,
    private readonly deps: FullTunnelDeps,
  ) {}

  get active(): boolean {
    return this.made.size > 0;
  }

  /** Whether traffic is blocked now, waiting for a session (onLoss: block). */
  get blocked(): boolean {
    return this.blockedNow && this.active;
  }

  /** The session is gone: block (keep everything in place) or hand the host back, as onLoss says. */
  lost(why: string): Promise<void> {
    if (this.env.onLoss === 'direct') return this.withdraw(why);
    if (this.active && !this.blockedNow) {
      this.blockedNow = true;
      this.deps.log(`full tunnel: ${why}; traffic and DNS blocked until the session is back (onLoss: block)`);
    }
    return this.withdrawn;
  }

  /** Before a reconnect: onLoss: direct dials along the host's own routes; block keeps everything (the pins carry the connection). */
  reconnecting(): Promise<void> {
    return this.env.onLoss === 'direct' ? this.withdraw('reconnecting') : this.withdrawn;
  }

  /** Takes every address over (after any withdrawal still under way). */
  async up(): Promise<void> {
    await this.withdrawn;
    this.blockedNow = false;
    if (this.active) return;
    const { deps } = this;
    const dev = deps.dev();
    const lan = await this.lanSteps(dev);
    const steps = [...lan, ...planHalves(dev, { v4: this.env.fullTunnel, v6: this.env.fullTunnel6 }), ...(await deps.dns.steps())];
    await deps.applyLocal(steps);
    for (const s of steps) this.made.add(s);
    this.lan = lan;
    deps.dns.all(true);
    deps.progress(
      `full tunnel: everything through ${dev}${this.env.lan === 'tunnel' ? ', the local network too' : '; the networks this host is on stay direct'}`,
    );
  }

  /** Hands the machine's traffic back to its own network; safe to call at any time. */
  withdraw(why: string): Promise<void> {
    if (!this.active) return this.withdrawn;
    this.deps.dns.all(false);
    const made = new Set(this.made);
    this.made.clear();
    this.lan = [];
    this.withdrawn = this.withdrawn.then(async () => {
      const errors = await this.deps.undoLocal((s) => made.has(s));
      this.deps.log(`full tunnel: withdrawn (${why}); traffic takes this host's own network until the session is back`);
      if (errors.length) this.deps.log(`full tunnel: could not undo: ${errors.join('; ')}`);
    });
    return this.withdrawn;
  }

  /**
   * The host moved to another network (daemon/roam.ts). With lan: tunnel the
   * LAN's halves and its gateway's pin were the old network's: the new LAN
   * would go straight, around the tunnel. They are made again for the LAN
   * of the moment, the old ones taken away first.
   */
  roamed(): Promise<void> {
    this.withdrawn = this.withdrawn.then(async () => {
      if (this.env.lan !== 'tunnel' || !this.active) return;
      const next = await this.lanSteps(this.deps.dev());
      if (next.length === this.lan.length && next.every((s, i) => s.title === this.lan[i]!.title)) return;
      const old = new Set(this.lan);
      const errors = await this.deps.undoLocal((s) => old.has(s));
      if (errors.length) this.deps.log(`full tunnel: could not undo: ${errors.join('; ')}`);
      for (const s of old) this.made.delete(s);
      this.lan = [];
      await this.deps.applyLocal(next);
      for (const s of next) this.made.add(s);
      this.lan = next;
      this.deps.log(`full tunnel: the local network moved; through the tunnel now: ${lanNetworks(next) || 'none (no gateway)'}`);
    });
    return this.withdrawn;
  }

  /** lan: tunnel: the default route's networks, but for its gateway. */
  private async lanSteps(dev: string): Promise<Step[]> {
    const net = this.deps.net();
    if (this.env.lan !== 'tunnel' || !net) return [];
    const out = await net.outsidePath('default', dev);
    if (out === undefined || out === 'local' || out === 'unreachable' || !out.via) return [];
    const networks = (await net.interfaceNetworks()).filter((n) => n.dev === out.dev && parseCidr(n.cidr)!.prefix < 31).map((n) => n.cidr);
    return planLanThroughTunnel(dev, { networks, gateway: out.via, dev: out.dev });
  }
}

/** The networks lan steps send through the tunnel, for a log line. */
const lanNetworks = (steps: readonly Step[]): string =>
  steps
    .map((s) => /\(half of (\S+) on/.exec(s.title)?.[1])
    .filter((n, i, all): n is string => n !== undefined && all.indexOf(n) === i)
    .join(', ');

/** The environment's full tunnel, if it has one (either family). */
export function fullTunnelFor(env: EnvironmentConfig, deps: FullTunnelDeps): FullTunnel | undefined {
  return env.fullTunnel || env.fullTunnel6 ? new FullTunnel(env, deps) : undefined;
}
