import { parseIPv4 } from '../config/ipv4.js';
import type { ContainerListener } from './watch.js';
import type { ContainerFacts } from './labels.js';

/**
 * `dns.containers`: the remote containers' names and addresses, for the
 * zone NAME.ENV.docker (seed 002's "DNS" section, without a DNS container
 * on the remote host).
 */
export class ContainerNames implements ContainerListener {
  private readonly byId = new Map<string, { name: string; addr: number }>();

  async sync(running: readonly ContainerFacts[]): Promise<void> {
    this.byId.clear();
    for (const c of running) await this.started(c);
  }

  async started(c: ContainerFacts): Promise<void> {
    const addr = c.address === undefined || c.address === '127.0.0.1' ? undefined : parseIPv4(c.address);
    if (addr !== undefined) this.byId.set(c.id, { name: c.name.toLowerCase(), addr });
  }

  async stopped(id: string): Promise<void> {
    this.byId.delete(id);
  }

  lookup(name: string): number | undefined {
    for (const v of this.byId.values()) if (v.name === name) return v.addr;
    return undefined;
  }

  /** name -> address, for status and `run --add-host`. */
  all(): Record<string, number> {
    return Object.fromEntries([...this.byId.values()].map((v) => [v.name, v.addr]));
  }
}
