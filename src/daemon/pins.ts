import { isIP } from 'node:net';
import type { EnvironmentConfig } from '../config/types.js';
import { describePath, excludeStep, pinStep, routedThrough, type OutsidePath, type PinRole } from '../plan/fullTunnel.js';
import type { Step } from '../plan/steps.js';
import type { LocalNet } from '../platform/types.js';
import type { SshRoute } from '../ssh/route.js';
import type { Carrier } from '../datapath/ssh/link.js';
import { resolveAll } from '../util/resolve.js';
import { firstHost } from '../config/cidr.js';

/**
 * The addresses the SSH connection depends on, pinned to the path they had
 * (host routes through the previous gateway), so that a route of ours that
 * covers one, a full tunnel above all, never takes the connection into its
 * own tunnel: wg-quick's and sshuttle's guard.
 *
 * Two looks: before each connection, the first hop's name as it resolves
 * now (a reconnect pins an address that moved before dialling it); once
 * connected, the address the connection really went to, which for a
 * ProxyCommand or the jump process is the far end of that process's TCP
 * connection. Pins stay for the controller's life and go with the journal.
 *
 * A laptop moves (a roam, a new DHCP lease, another Wi-Fi): recheck(), on
 * every change of the host's routes and addresses and before each
 * connection, asks each pinned address's path again and moves the pins whose
 * path moved, as wg-quick's monitor does; until then every reconnect would
 * go to the old gateway.
 */
export class Pins {
  private readonly pinned = new Map<string, { readonly role: PinRole; readonly path: OutsidePath; readonly step: Step }>();
  /** One pinning or recheck at a time: the first connection's and up()'s may overlap, and a roam's. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly env: EnvironmentConfig,
    private readonly deps: {
      readonly net: () => LocalNet | undefined;
      /** Our tun device's name. */
      readonly dev: () => string;
      readonly applyLocal: (steps: Step[]) => Promise<void>;
      /** Undoes the journaled local steps `which` selects; returns what failed. */
      readonly undoLocal: (which: (s: Step) => boolean) => Promise<string[]>;
      readonly log: (line: string) => void;
    },
  ) {}

  /** Pins what a route of ours covers and is not pinned yet. */
  pin(addrs: readonly string[], role: PinRole): Promise<void> {
    return this.serial(() => this.pinNow(addrs, role));
  }

  /** One at a time, in the order asked: a pinning and a recheck never interleave. */
  private serial<T>(run: () => Promise<T>): Promise<T> {
    const done = this.queue.then(run);
    this.queue = done.catch(() => undefined);
    return done;
  }

  private async pinNow(addrs: readonly string[], role: PinRole): Promise<void> {
    const net = this.deps.net();
    if (!net) return;
    const made = new Map<string, { role: PinRole; path: OutsidePath; step: Step }>();
    for (const a of new Set(addrs)) {
      if (this.pinned.has(a) || !routedThrough(this.env, a)) continue;
      const path = await net.outsidePath(a, this.deps.dev());
      if (path === 'local') continue;
      if (path === undefined || path === 'unreachable') {
        this.deps.log(`warning: the ${role} ${a} has no route outside the tunnel; nothing to pin it to`);
        continue;
      }
      made.set(a, { role, path, step: pinStep(a, role, path) });
    }
    if (made.size === 0) return;
    await this.deps.applyLocal([...made.values()].map((p) => p.step));
    for (const [a, p] of made) this.pinned.set(a, p);
  }

  /**
   * Each pin asked again where the host's own routes send its address now
   * (past the pin itself); one whose path moved is taken off the old path and
   * made on the new one. One with no path now (the network between two) stays
   * until there is one. Returns a line for each pin moved.
   */
  recheck(): Promise<string[]> {
    return this.serial(() => this.recheckNow());
  }

  private async recheckNow(): Promise<string[]> {
    const net = this.deps.net();
    if (!net) return [];
    const moved: string[] = [];
    for (const [a, old] of [...this.pinned]) {
      const path = await net.outsidePath(a, this.deps.dev(), old.path);
      if (typeof path !== 'object' || samePath(path, old.path)) continue;
      // the old route first: both are a host route to the same address (the kernel takes one of them)
      const left = await this.deps.undoLocal((s) => s === old.step);
      if (left.length) {
        this.deps.log(`warning: the ${old.role} ${a}: could not take the old pin away: ${left.join('; ')}`);
        continue;
      }
      this.pinned.delete(a);
      const step = pinStep(a, old.role, path);
      await this.deps.applyLocal([step]);
      this.pinned.set(a, { role: old.role, path, step });
      moved.push(`${old.role} ${a}: pinned ${describePath(path)} (was ${describePath(old.path)})`);
    }
    return moved;
  }

  /** Before a connection: the first hop as its name resolves now (a ProxyCommand's far end is known only once it runs). */
  async beforeConnect(route: SshRoute): Promise<void> {
    for (const line of await this.recheck()) this.deps.log(line);
    const hop = route.jumps[0] ?? route.target;
    if (hop.proxyCommand) return;
    await this.pin(await resolveAll(hop.host), route.jumps.length ? 'jump host' : 'SSH server');
  }

  /** Once connected: the address the connection really goes to. */
  async connected(carrier: Carrier | undefined, route: SshRoute): Promise<void> {
    const net = this.deps.net();
    if (!carrier || !net) return;
    const hop = route.jumps[0] ?? route.target;
    const role: PinRole = hop.proxyCommand ? "ProxyCommand's far end" : route.jumps.length ? 'jump host' : 'SSH server';
    const peers = 'pid' in carrier ? await net.tcpPeersOf(carrier.pid) : [carrier.socket.remoteAddress?.replace(/^::ffff:/, '') ?? ''];
    const known = peers.filter((p) => isIP(p) !== 0);
    if (known.length === 0 && hop.proxyCommand && this.env.fullTunnel) {
      this.deps.log(`warning: the ProxyCommand's far end is not a TCP connection this host can see: nothing pinned (list its address under exclude)`);
    }
    await this.pin(known, role);
  }

  /** exclude: each network kept on the path its first address had before the tunnel (nowhere, if none). */
  async excludeSteps(): Promise<Step[]> {
    const net = this.deps.net();
    if (!net) return [];
    const steps: Step[] = [];
    for (const cidr of this.env.exclude) {
      const first = firstHost(cidr);
      const path = await net.outsidePath(first, this.deps.dev());
      if (path === 'local') continue; // this host's own network: it stays there anyway
      steps.push(excludeStep(cidr, path ?? 'unreachable'));
    }
    return steps;
  }

  /** Pinned addresses with their roles, for status. */
  list(): string[] {
    return [...this.pinned].map(([a, p]) => `${a} (${p.role})`);
  }
}

function samePath(a: Exclude<OutsidePath, 'unreachable'>, b: OutsidePath): boolean {
  return b !== 'unreachable' && a.dev === b.dev && a.via === b.via;
}
