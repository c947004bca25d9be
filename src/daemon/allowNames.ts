import { Resolver } from 'node:dns/promises';
import type { Client } from 'ssh2';
import { formatIPv4, parseIPv4 } from '../config/ipv4.js';
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

/** Parses `getent ahostsv4` output, blocks headed "@@ NAME", into name -> IPv4 addresses. */
export function parseGetent(out: string): Map<string, number[]> {
  const found = new Map<string, number[]>();
  let current: number[] | undefined;
  for (const line of out.split('\n')) {
    const head = /^@@ (\S+)$/.exec(line);
    if (head) {
      current = [];
      found.set(head[1]!, current);
      continue;
    }
    const addr = parseIPv4(line.split(/\s+/)[0] ?? '');
    if (current && addr !== undefined && !current.includes(addr)) current.push(addr);
  }
  return found;
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
    let remote = new Map<string, number[]>();
    if (client) {
      const script = names.map((n) => `echo "@@ ${n.name}"; getent ahostsv4 ${n.name} || true`).join('\n');
      try {
        remote = parseGetent((await execRemote(client, ['sh', '-c', script], { sudo })).stdout);
      } catch (err) {
        this.log(`allow: remote name lookup failed: ${(err as Error).message}`);
      }
    }
    let next = MAX_TTL_S;
    for (const { rule, name } of names) {
      const before = this.allow.addressesOf(rule).join();
      const found = remote.get(name) ?? [];
      let st: NameState;
      if (found.length > 0) {
        this.allow.setAddresses(rule, found);
        st = { via: 'remote', error: null, ttl: REMOTE_TTL_S };
      } else {
        try {
          const answers = await new Resolver({ timeout: 2000, tries: 2 }).resolve4(name, { ttl: true });
          this.allow.setAddresses(
            rule,
            answers.map((a) => parseIPv4(a.address)!),
          );
          st = { via: 'local', error: null, ttl: Math.min(MAX_TTL_S, Math.max(MIN_TTL_S, ...answers.map((a) => a.ttl))) };
        } catch (err) {
          // keep what it resolved to last: a resolver hiccup must not cut live traffic
          st = { via: null, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message, ttl: 30 };
        }
      }
      this.state.set(rule, st);
      next = Math.min(next, st.ttl);
      const after = this.allow.addressesOf(rule).join();
      if (after !== before) this.log(`allow: ${name} is ${this.allow.addressesOf(rule).map(formatIPv4).join(', ') || 'unresolved'}`);
    }
    this.timer = setTimeout(() => void this.refresh(), next * 1000);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
