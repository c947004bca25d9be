import fs from 'node:fs';
import type tls from 'node:tls';
import { formatEndpoint, type Endpoint, type ForwardConfig } from '../config/forwards.js';
import { asUser, type InvokingUser } from '../util/user.js';
import type { Dialer } from './dial.js';
import { checkStream } from './health.js';
import { listenProblem, listenStream, listenUdp, type Listener, type ListenerStats, type StreamTraffic } from './listeners.js';
import { selfSignedPair } from './tls.js';

export type HealthState = 'unknown' | 'healthy' | 'unhealthy';

export interface ForwardStatus {
  readonly listen: string;
  readonly to: string;
  readonly protocol: 'tcp' | 'udp';
  readonly tls: boolean;
  /** "config", or the remote container a label exposed it for. */
  readonly source: string;
  readonly stats: ListenerStats;
  readonly health: { readonly check: string; readonly state: HealthState; readonly detail: string; readonly checkedAt: string | null } | null;
}

export interface ForwardDeps {
  readonly env: string;
  readonly user: InvokingUser;
  /** Opens a stream over the SSH session, making one first if need be. */
  readonly dial: Dialer;
  /** The same over the current session only (health checks must not wake an on-demand tunnel). */
  readonly dialIfUp: Dialer;
  readonly admits: (to: Endpoint) => boolean;
  readonly traffic: StreamTraffic;
  readonly log: (line: string) => void;
}

interface Live {
  readonly fwd: ForwardConfig;
  readonly source: string;
  readonly listener: Listener;
  readonly timer: NodeJS.Timeout | undefined;
  health: { state: HealthState; detail: string; checkedAt: string | null };
}

/**
 * The environment's forwards: from the config (for the controller's
 * lifetime) and from container labels (while the container runs). Each is
 * a listener plus, optionally, a health check on a timer.
 */
export class Forwards {
  private readonly live = new Map<string, Live>();

  constructor(private readonly deps: ForwardDeps) {}

  static key(fwd: ForwardConfig): string {
    return `${fwd.protocol} ${formatEndpoint(fwd.listen)}`;
  }

  /** Starts listening; throws (naming the forward) when the address is taken or TLS cannot be set up. */
  async add(fwd: ForwardConfig, source: string): Promise<void> {
    const key = Forwards.key(fwd);
    if (this.live.has(key)) throw new Error(`${fwd.name} (${fwd.protocol}) is forwarded already`);
    let listener: Listener;
    try {
      listener =
        fwd.protocol === 'udp'
          ? await listenUdp(fwd, this.deps.traffic)
          : await listenStream(fwd, {
              dial: this.deps.dial,
              admits: this.deps.admits,
              owner: this.deps.user,
              tls: await this.tlsFor(fwd),
              traffic: this.deps.traffic,
            });
    } catch (err) {
      throw new Error(`forward ${fwd.name} -> ${formatEndpoint(fwd.to)}: ${listenProblem(err as NodeJS.ErrnoException)}`, { cause: err });
    }
    const check = fwd.health;
    const timer = check ? setInterval(() => void this.check(key), check.interval * 1000) : undefined;
    this.live.set(key, { fwd, source, listener, timer, health: { state: 'unknown', detail: 'not checked yet', checkedAt: null } });
    if (check) void this.check(key);
  }

  private async tlsFor(fwd: ForwardConfig): Promise<tls.SecureContextOptions | undefined> {
    if (!fwd.tls) return undefined;
    const pair = fwd.tls === 'self-signed' ? await selfSignedPair(this.deps.user, this.deps.env) : fwd.tls;
    try {
      // the user's files (named in their config, or made for them): read with their rights
      return asUser(this.deps.user, () => ({ cert: fs.readFileSync(pair.cert), key: fs.readFileSync(pair.key) }));
    } catch (err) {
      throw new Error(`tls: ${(err as Error).message}`, { cause: err });
    }
  }

  private async check(key: string): Promise<void> {
    const l = this.live.get(key);
    if (!l?.fwd.health) return;
    const check = l.fwd.health;
    let state: HealthState;
    let detail: string;
    try {
      const stream = await this.deps.dialIfUp(l.fwd.to);
      detail = await checkStream(stream, check, l.fwd.to.kind === 'inet' ? l.fwd.to.host : 'localhost');
      state = 'healthy';
    } catch (err) {
      detail = (err as Error).message;
      state = detail === NO_SESSION ? 'unknown' : 'unhealthy';
    }
    if (this.live.get(key) !== l) return; // removed meanwhile
    if (state !== l.health.state && state !== 'unknown') this.deps.log(`forward ${l.fwd.name}: ${state} (${detail})`);
    l.health = { state, detail, checkedAt: new Date().toISOString() };
  }

  async remove(key: string): Promise<void> {
    const l = this.live.get(key);
    if (!l) return;
    this.live.delete(key);
    if (l.timer) clearInterval(l.timer);
    await l.listener.close();
  }

  /** Keys of the forwards a source made (a container's, say). */
  keysOf(source: string): string[] {
    return [...this.live.entries()].filter(([, l]) => l.source === source).map(([k]) => k);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.live.keys()].map((k) => this.remove(k)));
  }

  status(): ForwardStatus[] {
    return [...this.live.values()].map((l) => ({
      listen: formatEndpoint(l.fwd.listen),
      to: formatEndpoint(l.fwd.to),
      protocol: l.fwd.protocol,
      tls: l.fwd.tls !== undefined,
      source: l.source,
      stats: { ...l.listener.stats },
      health: l.fwd.health ? { check: l.fwd.health.kind, ...l.health } : null,
    }));
  }
}

/** What dialIfUp rejects with when there is no session: health then reads "unknown", not "unhealthy". */
export const NO_SESSION = 'no SSH session';
