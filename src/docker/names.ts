import { parseIPv4 } from '../config/ipv4.js';
import { parseIPv6 } from '../config/ipv6.js';
import type { ContainerListener } from './watch.js';
import type { ContainerFacts } from './labels.js';

/**
 * `dns.containers`: the remote containers' names and addresses, for the
 * zone NAME.ENV.docker (seed 002's "DNS" section, without a DNS container
 * on the remote host).
 */
export class ContainerNames implements ContainerListener {
  private readonly byId = new Map<string, { name: string; addr: number | undefined; addr6: bigint | undefined }>();

  async sync(running: readonly ContainerFacts[]): Promise<void> {
    this.byId.clear();
    for (const c of running) await this.started(c);
  }

  async started(c: ContainerFacts): Promise<void> {
    const addr = c.address === undefined || c.address === '127.0.0.1' ? undefined : parseIPv4(c.address);
    const addr6 = c.address6 === undefined ? undefined : parseIPv6(c.address6);
    if (addr !== undefined || addr6 !== undefined) this.byId.set(c.id, { name: c.name.toLowerCase(), addr, addr6 });
  }

  async stopped(id: string): Promise<void> {
    this.byId.delete(id);
  }

  /** The container's addresses by name: IPv4, IPv6; undefined when no container has the name. */
  lookup(name: string): { readonly addr: number | undefined; readonly addr6: bigint | undefined } | undefined {
    for (const v of this.byId.values()) if (v.name === name) return v;
    return undefined;
  }

  /** name -> IPv4 address, for status and `run --add-host`. */
  all(): Record<string, number> {
    return Object.fromEntries([...this.byId.values()].flatMap((v) => (v.addr === undefined ? [] : [[v.name, v.addr]])));
  }
}
