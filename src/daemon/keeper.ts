import type { Client } from 'ssh2';
import type { SshLink } from '../datapath/ssh/link.js';
import type { EnvironmentConfig } from '../config/types.js';
import type { TunChannel } from '../datapath/ssh/tunChannel.js';
import type { ControllerState } from './status.js';
import { clip } from '../util/plain.js';
import { monotonicMs } from '../util/clock.js';

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
/** On demand: after a failed attempt, packets that wake the tunnel are dropped this long. */
const WAKE_RETRY_MS = 5000;
/**
 * How far the wall clock may run ahead of the monotonic one between two
 * ticks (a second apart) before the host counts as having slept: Linux's
 * CLOCK_MONOTONIC and macOS's mach clock stop in suspend, the wall clock
 * does not, and the keepalive timers, measured on the monotonic clock, would
 * notice a connection that died meanwhile only a whole deadAfter later.
 */
const SLEPT_MS = 5000;
/** How long a session has to answer check() (after a sleep, a change of network). */
const WAKE_ANSWER_MS = 3000;

/** One SSH session of a controller: the connection, its tun channel (none with tunnel: false), the remote device. */
export interface Session {
  readonly link: SshLink;
  readonly channel: TunChannel | undefined;
  readonly remoteDevice: string;
  /** mtu: auto: the MTU whose MSS the remote routes back to us advertise since the device came up (0: none). */
  readonly advertised?: number;
}

export interface KeeperDeps {
  readonly env: EnvironmentConfig;
  /** Connects and sets the remote side up: SSH, the tun channel, the remote steps. */
  readonly open: () => Promise<Session>;
  /** The session stands and is watched: attach what rides it (pump, MTU, services). */
  readonly attach: (s: Session) => Promise<void>;
  /** The session went away by itself: let go of what rode it. */
  readonly detach: () => void;
  /** Ends a session on purpose: undoes its remote steps and closes it; returns what could not be undone. */
  readonly close: (s: Session) => Promise<string[]>;
  /** Packets sent and stream chunks moved so far (for idle; see Pump.sent). */
  readonly moved: () => number;
  readonly busy: () => boolean;
  /** On demand: drop the packets that wait for a session that will not come now. */
  readonly dropHeld: () => void;
  readonly log: (line: string) => void;
  /** Reconnect backoff (ms): from `min`, doubling to `max`. Tests shorten it. */
  readonly backoff?: { readonly min: number; readonly max: number };
  /** check() (the host slept, its network changed): resolves when the session answers a round trip (a remote `true`). */
  readonly probe?: (s: Session) => Promise<void>;
  /** The clocks the sleep watch compares, its tick and how long a woken session has to answer (ms): tests move and shorten them. */
  readonly wake?: { readonly wall: () => number; readonly monotonic: () => number; readonly tickMs: number; readonly answerMs: number };
}

/**
 * The SSH session's lifetime, while the local side stays in place: made
 * once (or, on demand, at the first packet), remade with exponential
 * backoff when lost, and on demand taken down when idle.
 */
export class SessionKeeper {
  session: Session | undefined;
  state: ControllerState = 'connecting';
  reconnects = 0;
  lastError: string | null = null;
  /** When the current session was made (ms), for idle timeouts. */
  private startedAt = 0;
  private starting: Promise<void> | undefined;
  private stopping = false;
  /** On demand: no new attempt before this time after a failed one. */
  private retryAfter = 0;
  /** Pending timers (backoff waits, the idle watch): each leaves when it fires, all go on stop. */
  private readonly timers = new Set<NodeJS.Timeout>();
  /** When and why the session was lost, until it is back. */
  private lostAt: { at: number; why: string } | undefined;
  /** A round trip asked by check() is under way. */
  private checking = false;

  constructor(private readonly deps: KeeperDeps) {}

  /** Makes the session if there is none; concurrent callers share one attempt. */
  ensure(): Promise<void> {
    if (this.session || this.stopping) return Promise.resolve();
    this.starting ??= (async () => {
      const { env, log } = this.deps;
      this.state = 'connecting';
      try {
        await this.start();
        // a reconnect says how long the session was gone, and why
        if (this.lostAt) log(`${env.name}: session up again after ${((monotonicMs() - this.lostAt.at) / 1000).toFixed(1)}s (lost: ${this.lostAt.why})`);
        else log(`${env.name}: session up`);
        this.lostAt = undefined;
      } catch (err) {
        this.lastError = clip((err as Error).message);
        this.state = env.onDemand ? 'idle' : 'connecting';
        if (env.onDemand) this.deps.dropHeld();
        log(`${env.name}: session failed: ${this.lastError}`);
        throw err;
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }

  private async start(): Promise<void> {
    const s = await this.deps.open();
    const { client } = s.link;
    try {
      this.session = s;
      client.on('close', () => this.lost(client, 'SSH connection closed'));
      client.on('error', (err: Error) => this.lost(client, `SSH: ${err.message}`));
      if (s.channel) s.channel.onClose = () => this.lost(client, 'sshd closed the tunnel channel');
      await this.deps.attach(s);
      this.startedAt = monotonicMs();
      this.state = 'up';
    } catch (err) {
      // not a session: cleared before the close below reports back (lost() then ignores it), so a retry makes a new one
      if (this.session === s) this.session = undefined;
      // its remote steps are undone over its connection, which still stands, then it is closed
      const left = await this.deps.close(s).catch((e: Error) => [e.message]);
      if (left.length) this.deps.log(`${this.deps.env.name}: could not undo remote steps: ${left.join('; ')}`);
      throw err;
    }
  }

  /** Packets wait and there is no session: on demand, make one (reconnects have their own loop). */
  wake(): void {
    if (!this.deps.env.onDemand || monotonicMs() < this.retryAfter) {
      this.deps.dropHeld();
      return;
    }
    this.ensure().catch(() => {
      this.retryAfter = monotonicMs() + WAKE_RETRY_MS;
    });
  }

  private lost(client: Client, reason: string): void {
    const lost = this.session;
    if (this.stopping || lost?.link.client !== client) return;
    // cleared first: closing the channel below reports back here
    this.session = undefined;
    this.lastError = clip(reason);
    this.lostAt = { at: monotonicMs(), why: reason };
    this.deps.log(`${this.deps.env.name}: ${reason}; reconnecting`);
    this.deps.detach();
    lost.channel?.close();
    client.end();
    this.state = 'connecting';
    void this.reconnect();
  }

  /** Remakes the session with exponential backoff. */
  private async reconnect(): Promise<void> {
    const { min, max } = this.deps.backoff ?? { min: BACKOFF_MIN_MS, max: BACKOFF_MAX_MS };
    let delay = min;
    while (!this.stopping && !this.session) {
      await this.sleep(delay);
      if (this.stopping) return;
      try {
        await this.ensure();
        this.reconnects++;
        return;
      } catch {
        delay = Math.min(delay * 2, max);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  /** Timers pending now (a bounded number: a backoff wait, the idle watch). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** On demand: take the SSH side down when nothing moved for idleTimeout. */
  watchIdle(): void {
    const { env } = this.deps;
    let lastMoved = -1;
    let lastMovedAt = monotonicMs();
    const every = Math.min(1000, (env.idleTimeout * 1000) / 4);
    this.timers.add(
      setInterval(() => {
        const moved = this.deps.moved();
        if (moved !== lastMoved || this.deps.busy()) {
          lastMoved = moved;
          lastMovedAt = monotonicMs();
          return;
        }
        const quietSince = Math.max(lastMovedAt, this.startedAt);
        if (this.session && !this.starting && monotonicMs() - quietSince >= env.idleTimeout * 1000) {
          void this.end('idle');
        }
      }, every),
    );
  }

  /**
   * Watches for the host waking from sleep (the wall clock ahead of the
   * monotonic one): check() at once. A jump of the wall clock alone (NTP,
   * date -s) looks the same and costs that one round trip.
   */
  watchWake(): void {
    const { wall, monotonic, tickMs } = this.answering();
    let [lastWall, lastMono] = [wall(), monotonic()];
    const t = setInterval(() => {
      const [w, m] = [wall(), monotonic()];
      const slept = w - lastWall - (m - lastMono);
      [lastWall, lastMono] = [w, m];
      if (slept >= SLEPT_MS) this.check(`the host woke (wall clock ${Math.round(slept / 1000)}s ahead of the monotonic one)`, 'the host woke');
    }, tickMs);
    t.unref();
    this.timers.add(t);
  }

  /**
   * Something the connection may not have lived through happened (the host
   * slept, its network changed): the session is asked for one round trip at
   * once, and one that does not answer within WAKE_ANSWER_MS is lost (remade
   * with backoff) instead of waiting out keepalives. One question at a time.
   */
  check(what: string, after: string): void {
    const s = this.session;
    if (!s || this.starting || !this.deps.probe || this.checking) return;
    const { answerMs } = this.answering();
    const { client } = s.link;
    this.checking = true;
    this.deps.log(`${this.deps.env.name}: ${what}: asking the session for a round trip`);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${answerMs / 1000}s`)), answerMs);
    });
    Promise.race([this.deps.probe(s), late])
      .catch((err: Error) => this.lost(client, `SSH did not answer after ${after}: ${err.message}`))
      .finally(() => {
        clearTimeout(timer);
        this.checking = false;
      });
  }

  private answering(): NonNullable<KeeperDeps['wake']> {
    return this.deps.wake ?? { wall: Date.now, monotonic: monotonicMs, tickMs: 1000, answerMs: WAKE_ANSWER_MS };
  }

  /** Undoes the remote steps and closes the session; the local side stays. */
  async end(why: string): Promise<string[]> {
    const s = this.session;
    if (!s) return [];
    this.session = undefined;
    const errors = await this.deps.close(s);
    if (!this.stopping) {
      this.state = 'idle';
      this.deps.log(`${this.deps.env.name}: session down (${why})`);
    }
    return errors;
  }

  /** No more sessions: timers stop, an attempt under way is waited for. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    await this.starting?.catch(() => {});
  }
}
