import { Resolver } from 'node:dns/promises';
import type { Client } from 'ssh2';
import { formatIPv4, parseIPv4 } from '../config/ipv4.js';
import { formatIPv6, parseIPv6 } from '../config/ipv6.js';
import type { AllowList } from '../datapath/allowList.js';
import { execRemote } from '../ssh/exec.js';

/** getent shows no TTL: names the remote host resolves are asked again this often. */
const REMOTE_TTL_S = 60;
const MIN_TTL_S = 5;
const MAX_TTL_S = 3600;

export interface NameState {
  via: 'remote' | 'local' | null;
  error: string | null;
  ttl: number;
}

/** What a name resolves to, in each family. */
export interface Resolved {
  readonly v4: number[];
  readonly v6: bigint[];
}

/** Parses `getent ahosts` output (both families), blocks headed "@@ NAME", into name -> addresses. */
export function parseGetent(out: string): Map<string, Resolved> {
  const found = new Map<string, Resolved>();
  let current: Resolved | undefined;
  for (const line of out.split('\n')) {
    const head = /^@@ (\S+)$/.exec(line);
    if (head) {
      current = { v4: [], v6: [] };
      found.set(head[1]!, current);
      continue;
    }
    const text = line.split(/\s+/)[0] ?? '';
    const addr = parseIPv4(text);
    const addr6 = text.includes(':') ? parseIPv6(text) : undefined;
    if (current && addr !== undefined && !current.v4.includes(addr)) current.v4.push(addr);
    // an IPv4-mapped address (::ffff:a.b.c.d) is IPv4's, listed already
    else if (current && addr6 !== undefined && addr6 >> 32n !== 0xffffn && !current.v6.includes(addr6)) current.v6.push(addr6);
  }
  return found;
}

/** The local resolver's answer for both families (a family without records is empty), with the smallest TTL; throws when neither has any. */
async function resolveLocally(name: string): Promise<Resolved & { ttl: number }> {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  const [a, aaaa] = await Promise.allSettled([r.resolve4(name, { ttl: true }), r.resolve6(name, { ttl: true })]);
  const v4 = a.status === 'fulfilled' ? a.value : [];
  const v6 = aaaa.status === 'fulfilled' ? aaaa.value : [];
  if (v4.length + v6.length === 0) throw a.status === 'rejected' ? a.reason : new Error('no addresses');
  const ttl = Math.min(...[...v4, ...v6].map((x) => x.ttl));
  return { v4: v4.map((x) => parseIPv4(x.address)!), v6: v6.map((x) => parseIPv6(x.address)!), ttl };
}

/**
 * Keeps the allow-list's host-name rules pointing at current addresses.
 * Names are resolved where the traffic goes, on the remote host (its
 * resolver knows the VPC's private names), in one exec for all of them;
 * what it cannot resolve is asked of the local resolver, whose TTLs decide
 * when to ask again.
 */
export class AllowNames {
  readonly state = new Map<number, NameState>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly allow: AllowList,
    /** The current SSH session, if any. */
    private readonly session: () => Client | undefined,
    private readonly sudo: boolean,
    private readonly log: (line: string) => void,
  ) {}

  private get names(): { rule: number; name: string }[] {
    return this.allow.rules.flatMap((r, rule) => (r.isName ? [{ rule, name: r.to }] : []));
  }

  /** Resolves every name now (without a session: locally only) and schedules the next round. */
  async refresh(): Promise<void> {
    const names = this.names;
    const client = this.session();
    const sudo = this.sudo;
    if (names.length === 0) return;
    clearTimeout(this.timer);
    let remote = new Map<string, Resolved>();
    if (client) {
      const script = names.map((n) => `echo "@@ ${n.name}"; getent ahosts ${n.name} || true`).join('\n');
      try {
        remote = parseGetent((await execRemote(client, ['sh', '-c', script], { sudo })).stdout);
      } catch (err) {
        this.log(`allow: remote name lookup failed: ${(err as Error).message}`);
      }
    }
    let next = MAX_TTL_S;
    for (const { rule, name } of names) {
      const before = this.shown(rule);
      const found = remote.get(name);
      let st: NameState;
      if (found && found.v4.length + found.v6.length > 0) {
        this.set(rule, found);
        st = { via: 'remote', error: null, ttl: REMOTE_TTL_S };
      } else {
        try {
          const local = await resolveLocally(name);
          this.set(rule, local);
          st = { via: 'local', error: null, ttl: Math.min(MAX_TTL_S, Math.max(MIN_TTL_S, local.ttl)) };
        } catch (err) {
          // keep what it resolved to last: a resolver hiccup must not cut live traffic
          st = { via: null, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message, ttl: 30 };
        }
      }
      this.state.set(rule, st);
      next = Math.min(next, st.ttl);
      const after = this.shown(rule);
      if (after !== before) this.log(`allow: ${name} is ${after || 'unresolved'}`);
    }
    this.timer = setTimeout(() => void this.refresh(), next * 1000);
  }

  private set(rule: number, found: Resolved): void {
    this.allow.setAddresses(rule, found.v4);
    this.allow.setAddresses6(rule, found.v6);
  }

  /** A rule's addresses now, both families, as the log shows them. */
  private shown(rule: number): string {
    return [...this.allow.addressesOf(rule).map(formatIPv4), ...this.allow.addressesOf6(rule).map(formatIPv6)].join(', ');
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
