/**
 * Host changes as data. Every change cloudbridge makes to either host is a
 * Step: what to do and how to undo it, both plain records, so a plan can be
 * printed (--dry-run), journaled before it is applied, and undone exactly,
 * also by a later process after a crash.
 */

export type LocalAction =
  | { readonly side: 'local'; readonly op: 'addr-add' | 'addr-del'; readonly dev: string; readonly local: string; readonly peer: string }
  /** ipv6: the device keeps IPv6 (tunnel.local6); without it IPv6 is switched off on the device. */
  | { readonly side: 'local'; readonly op: 'link-up'; readonly dev: string; readonly mtu: number; readonly ipv6?: boolean }
  | {
      readonly side: 'local';
      readonly op: 'route-add' | 'route-del';
      readonly dev: string;
      readonly cidr: string;
      /** A gateway on `dev`: pins and excluded networks keep the path they had, through it. */
      readonly via?: string;
      /** Nowhere (an unreachable route): an excluded network that had no path stays out of the tunnel all the same. */
      readonly reject?: boolean;
    }
  | { readonly side: 'local'; readonly op: 'resolver-add'; readonly domain: string; readonly servers: readonly string[] }
  | { readonly side: 'local'; readonly op: 'resolver-del'; readonly domain: string }
  /** Linux: /etc/resolv.conf's content (or, on undo, a symlink it was) written in place. */
  | { readonly side: 'local'; readonly op: 'resolv-conf'; readonly content: string; readonly symlink: string | undefined }
  /** macOS: one network service's DNS servers (networksetup -setdnsservers; none: Empty, what DHCP gives). */
  | { readonly side: 'local'; readonly op: 'service-dns'; readonly service: string; readonly servers: readonly string[] }
  /** Linux with systemd-resolved: per-link DNS (`resolvectl dns|domain|revert DEV …`). */
  | { readonly side: 'local'; readonly op: 'resolvectl'; readonly argv: readonly string[] }
  /** Linux: one iptables rule (ip6tables with ip6), added (-A) or deleted (-D). */
  | { readonly side: 'local'; readonly op: 'iptables'; readonly table: string; readonly argv: readonly string[]; readonly ip6?: boolean }
  | { readonly side: 'local'; readonly op: 'context-create'; readonly name: string; readonly host: string; readonly owner: ContextOwner }
  | { readonly side: 'local'; readonly op: 'context-remove'; readonly name: string; readonly owner: ContextOwner };

/** Context steps touch the user's docker CLI configuration; the rest is the network's business. */
export type ContextAction = Extract<LocalAction, { op: 'context-create' | 'context-remove' }>;
export type NetAction = Exclude<LocalAction, ContextAction>;

export function isContextAction(a: LocalAction): a is ContextAction {
  return a.op === 'context-create' || a.op === 'context-remove';
}

/** Whose docker CLI configuration a context step writes to. */
export interface ContextOwner {
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface RemoteAction {
  readonly side: 'remote';
  readonly argv: readonly string[];
}

export type Action = LocalAction | RemoteAction;

export interface Step {
  readonly title: string;
  readonly apply: Action;
  /** Null where the change goes away by itself (it lives on a device that vanishes with the tunnel). */
  readonly undo: Action | null;
}

/**
 * The DNS forwarder's loopback address (plan/dns.ts), here for the helper's
 * policy too: rarely taken (systemd-resolved has .53), and any 127/8 address
 * is local on Linux.
 */
export const DNS_LISTEN = '127.0.0.153';

/** The rule comment that marks a NAT/forward rule as this environment's, so it can be found and removed. */
export function ruleTag(env: string): string {
  return `cloudbridge:${env}`;
}

/** Whether a step changed the remote host. */
export const isRemote = (s: Step): boolean => s.apply.side === 'remote';

/**
 * The local device an action changes something on, if any: its `dev`, or
 * for resolvectl the link it names (`resolvectl dns|domain|revert DEV …`),
 * whose settings systemd-resolved forgets when the link goes.
 */
export function deviceOf(a: Action): string | undefined {
  if (a.side !== 'local') return undefined;
  if ('dev' in a) return a.dev;
  return a.op === 'resolvectl' ? a.argv[1] : undefined;
}

/**
 * Whether a change outlives a reboot: DNS servers set on a macOS network
 * service (configd's preferences), /etc/resolver files, /etc/resolv.conf.
 * Routes, addresses, rules and devices go with the boot.
 */
export const outlivesBoot = (a: Action): boolean => a.side === 'local' && (a.op === 'service-dns' || a.op === 'resolv-conf' || a.op === 'resolver-add');

export function describeAction(a: Action): string {
  if (a.side === 'remote') return `remote: ${a.argv.join(' ')}`;
  switch (a.op) {
    case 'addr-add':
    case 'addr-del':
      return `local: ${a.op} ${a.local} peer ${a.peer} dev ${a.dev}`;
    case 'link-up':
      return `local: link ${a.dev} mtu ${a.mtu} up`;
    case 'route-add':
    case 'route-del':
      return `local: ${a.op} ${a.cidr} ${a.reject ? 'unreachable' : `${a.via ? `via ${a.via} ` : ''}dev ${a.dev}`}`;
    case 'resolver-add':
      return `local: resolver ${a.domain} -> ${a.servers.join(' ')}`;
    case 'resolver-del':
      return `local: remove resolver ${a.domain}`;
    case 'iptables':
      return `local: ${a.ip6 ? 'ip6tables' : 'iptables'} -t ${a.table} ${a.argv.join(' ')}`;
    case 'resolvectl':
      return `local: resolvectl ${a.argv.join(' ')}`;
    case 'service-dns':
      return `local: DNS of ${a.service}: ${a.servers.join(' ') || 'as DHCP gives'}`;
    case 'resolv-conf':
      return a.symlink
        ? `local: /etc/resolv.conf -> ${a.symlink}`
        : `local: /etc/resolv.conf: ${a.content
            .split('\n')
            .filter((l) => l.startsWith('nameserver'))
            .join(', ')}`;
    case 'context-create':
      return `local: docker context ${a.name} -> ${a.host}`;
    case 'context-remove':
      return `local: docker context rm ${a.name}`;
  }
}
