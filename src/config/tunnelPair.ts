import type { TunnelConfig } from './types.js';

/**
 * The tunnel's two address pairs, IPv4's and IPv6's, of which one may be
 * missing (an IPv4-only or an IPv6-only tunnel).
 */

/** The pair the probes and the in-tunnel DNS use: IPv4's when the tunnel has it, else IPv6's. */
export function mainPair(t: TunnelConfig): { readonly local: string; readonly remote: string; readonly v6: boolean } {
  return t.local !== undefined && t.remote !== undefined ? { local: t.local, remote: t.remote, v6: false } : { local: t.local6!, remote: t.remote6!, v6: true };
}

/** The pairs as config, status and another environment's status hold them ('' or undefined: no such pair). */
interface Pairs {
  readonly local?: string | undefined;
  readonly remote?: string | undefined;
  readonly local6?: string | undefined;
  readonly remote6?: string | undefined;
}

/** Both pairs as a person reads them: `10.0.0.1 <-> 10.0.0.2, fd00::1 <-> fd00::2`. */
export function shownPairs(t: Pairs): string {
  const pairs = [t.local && `${t.local} <-> ${t.remote}`, t.local6 && `${t.local6} <-> ${t.remote6}`];
  return pairs.filter((p) => p).join(', ');
}

/** The remote end's addresses, both families': where the in-tunnel DNS answers. */
export function remoteAddresses(t: TunnelConfig): string[] {
  return [t.remote, t.remote6].filter((a) => a !== undefined);
}
