import { cidrContains, cidrsOverlap, parseCidr, parseIPv4, type Cidr } from './ipv4.js';
import { cidr6Contains, cidrs6Overlap, formatCidr6, parseCidr6, parseIPv6 } from './ipv6.js';
import { checkKeys, type Field, int, isObj, oneOf, str, type Obj } from './field.js';
import { ENVIRONMENT, keysOf, MIN_MTU, ROUTE } from './spec.js';
import type { LanMode, OnLoss, TunnelConfig } from './types.js';

/** What `routes`, `exclude` and `lan` come to. */
export interface RoutesConfig {
  /** Networks routed through the tunnel for as long as the controller runs (a full tunnel's are not among them). */
  readonly routes: readonly string[];
  readonly mssClamps: readonly { readonly cidr: string; readonly mss: number }[];
  /** routes: [default]: everything goes through the tunnel while a session stands (see plan/fullTunnel.ts). */
  readonly fullTunnel: boolean;
  readonly routes6: readonly string[];
  readonly mssClamps6: readonly { readonly cidr: string; readonly mss: number }[];
  /** default with IPv6 tunnel addresses, or ::/0. */
  readonly fullTunnel6: boolean;
  /** Networks that keep the path they had (sshuttle's -x). */
  readonly exclude: readonly string[];
  readonly lan: LanMode;
  readonly onLoss: OnLoss;
}

/** How a full tunnel is written: the word, or the IPv4 default route. */
export const DEFAULT_ROUTE = 'default';
const isDefault = (s: string): boolean => s === DEFAULT_ROUTE || s === '0.0.0.0/0' || s === '0/0';

/** routes, exclude and lan of one environment, checked against each other and the tunnel's addresses. */
export function validateRoutes(f: Field, raw: Obj, tunnel: TunnelConfig | undefined): RoutesConfig {
  const rf = f.child('routes');
  const routesRaw = raw['routes'] ?? [];
  if (!Array.isArray(routesRaw)) rf.fail('must be a list of CIDRs (or { cidr, mtu } mappings, or default for everything)');
  const tunnelMtu = tunnel?.mtu ?? MIN_MTU;
  const routes: string[] = [];
  const mssClamps: { cidr: string; mss: number }[] = [];
  let fullTunnel = false;
  const routes6: string[] = [];
  const mssClamps6: { cidr: string; mss: number }[] = [];
  let fullTunnel6 = false;
  (routesRaw as unknown[]).forEach((r, i) => {
    const item = rf.child(String(i));
    let text: unknown = r;
    let pathMtu: number | undefined;
    if (isObj(r)) {
      checkKeys(item, r, keysOf(ROUTE));
      text = r['cidr'];
      pathMtu = int(item.child('mtu'), r['mtu'], ROUTE.fields.mtu);
    }
    const s = str(isObj(r) ? item.child('cidr') : item, text);
    // Beyond the remote host, assume an ordinary 1500-byte network unless told otherwise.
    const effective = pathMtu ?? Math.min(1500, tunnelMtu);
    const v6 = tunnel?.local6 !== undefined;
    // without a tunnel, the check below says so once
    const v4 = tunnel === undefined || tunnel.local !== undefined;
    const v4Only = `"${s}": IPv4 routes need tunnel.local and tunnel.remote (the tunnel carries IPv6 only)`;
    if (isDefault(s)) {
      const word = s === DEFAULT_ROUTE;
      if (!v4 && !word) item.fail(v4Only);
      if (fullTunnel || (!v4 && fullTunnel6)) item.fail('default is listed twice');
      const inside = routes[0] ?? (word && v6 ? routes6[0] : undefined);
      if (inside) item.fail(`default takes every address: "${inside}" is inside it already`);
      if (v4) fullTunnel = true;
      if (v4 && effective < tunnelMtu) mssClamps.push({ cidr: '0.0.0.0/0', mss: effective - 40 });
      // the word takes every family the tunnel carries; 0.0.0.0/0 only IPv4
      if (word && v6) {
        fullTunnel6 = true;
        if (effective < tunnelMtu) mssClamps6.push({ cidr: '::/0', mss: effective - 60 });
      }
      return;
    }
    if (s.includes(':')) {
      if (!v6) item.fail(`"${s}": IPv6 routes need tunnel.local6 and tunnel.remote6 (the tunnel carries IPv4 only)`);
      const c6 = parseCidr6(s);
      if (!c6) return item.fail(`"${s}" is not an IPv6 CIDR with zero host bits (like fd00:1::/64)`);
      const text6 = formatCidr6(c6);
      if (fullTunnel6) item.fail(`"${s}" is inside default already: with a full tunnel every address goes through the tunnel`);
      if (c6.prefix === 0) {
        if (routes6.length) item.fail(`::/0 takes every IPv6 address: "${routes6[0]}" is inside it already`);
        fullTunnel6 = true;
        if (effective < tunnelMtu) mssClamps6.push({ cidr: '::/0', mss: effective - 60 });
        return;
      }
      for (const prev of routes6) if (cidrs6Overlap(parseCidr6(prev)!, c6)) item.fail(`"${s}" overlaps "${prev}"`);
      const own6 = [tunnel!.local6, tunnel!.remote6].find((a) => cidr6Contains(c6, parseIPv6(a!)!));
      if (own6) item.fail(`"${s}" covers the tunnel's own address ${own6}: pick tunnel addresses outside the routes`);
      routes6.push(text6);
      if (effective < tunnelMtu) mssClamps6.push({ cidr: text6, mss: effective - 60 });
      return;
    }
    const c = parseCidr(s);
    if (!c) return item.fail(`"${s}" is not an IPv4 CIDR with zero host bits (like 10.0.0.0/16), or default`);
    if (!v4) item.fail(v4Only);
    if (fullTunnel) item.fail(`"${s}" is inside default already: with a full tunnel every address goes through the tunnel`);
    for (const prev of routes) {
      if (cidrsOverlap(parseCidr(prev)!, c)) item.fail(`"${s}" overlaps "${prev}"`);
    }
    const own = [tunnel?.local, tunnel?.remote].find((a) => a && cidrContains(c, parseIPv4(a)!));
    if (own) item.fail(`"${s}" covers the tunnel's own address ${own}: pick tunnel addresses outside the routes`);
    routes.push(s);
    if (effective < tunnelMtu) mssClamps.push({ cidr: s, mss: effective - 40 });
  });

  const xf = f.child('exclude');
  const excludeRaw = raw['exclude'] ?? [];
  if (!Array.isArray(excludeRaw)) xf.fail('must be a list of CIDRs that stay outside the tunnel');
  const exclude: string[] = [];
  const taken: Cidr[] = routes.map((r) => parseCidr(r)!);
  /** An IPv6 exclusion: inside the IPv6 routes or IPv6's full tunnel (or IPv4's, which blocks IPv6: an exclusion goes the way it went), the same rules as IPv4's. */
  const exclude6 = (item: Field, s: string): string => {
    const c6 = parseCidr6(s);
    if (!c6) return item.fail(`"${s}" is not an IPv6 CIDR with zero host bits (like fd00:1::/64)`);
    if (c6.prefix < 2) item.fail(`"${s}" is too wide: it would take the tunnel's own place (/2 at the widest)`);
    if (!fullTunnel6 && !fullTunnel && !routes6.some((r) => parseCidr6(r)!.prefix <= c6.prefix && cidrs6Overlap(parseCidr6(r)!, c6))) {
      item.fail(`"${s}" is outside every IPv6 route: it does not go through the tunnel anyway`);
    }
    const prev = exclude.find((p) => p.includes(':') && cidrs6Overlap(parseCidr6(p)!, c6));
    if (prev) item.fail(`"${s}" overlaps "${prev}"`);
    const own = [tunnel?.local6, tunnel?.remote6].find((a) => a && cidr6Contains(c6, parseIPv6(a)!));
    if (own) item.fail(`"${s}" covers the tunnel's own address ${own}`);
    return formatCidr6(c6);
  };
  (excludeRaw as unknown[]).forEach((x, i) => {
    const item = xf.child(String(i));
    const s = str(item, x);
    if (s.includes(':')) return exclude.push(exclude6(item, s));
    const c = parseCidr(s);
    if (!c) return item.fail(`"${s}" is not an IPv4 CIDR with zero host bits (like 192.168.0.0/16)`);
    if (c.prefix < 2) item.fail(`"${s}" is too wide: it would take the tunnel's own place (/2 at the widest)`);
    if (!fullTunnel && !taken.some((t) => t.prefix <= c.prefix && cidrsOverlap(t, c))) {
      item.fail(`"${s}" is outside every route: it does not go through the tunnel anyway`);
    }
    const prev = exclude.find((p) => !p.includes(':') && cidrsOverlap(parseCidr(p)!, c));
    if (prev) item.fail(`"${s}" overlaps "${prev}"`);
    const own = [tunnel?.local, tunnel?.remote].find((a) => a && cidrContains(c, parseIPv4(a)!));
    if (own) item.fail(`"${s}" covers the tunnel's own address ${own}`);
    exclude.push(s);
  });

  const lan = oneOf<LanMode>(f.child('lan'), raw['lan'], ENVIRONMENT.fields.lan);
  if (raw['lan'] !== undefined && !fullTunnel) f.child('lan').fail('only applies to a full tunnel (routes: [default])');
  const onLoss = oneOf<OnLoss>(f.child('onLoss'), raw['onLoss'], ENVIRONMENT.fields.onLoss);
  if (raw['onLoss'] !== undefined && !fullTunnel && !fullTunnel6) f.child('onLoss').fail('only applies to a full tunnel (routes: [default])');
  if (!tunnel) {
    if (routes.length || fullTunnel || routes6.length || fullTunnel6) rf.fail('needs the L3 tunnel (tunnel is false)');
    if (exclude.length) xf.fail('needs the L3 tunnel (tunnel is false)');
  }
  if ((fullTunnel || fullTunnel6) && raw['onDemand'] === true) {
    f.child('onDemand').fail('a full tunnel (routes: [default]) is never idle, and without a session its traffic would go around it: leave onDemand off');
  }
  return { routes, mssClamps, fullTunnel, routes6, mssClamps6, fullTunnel6, exclude, lan, onLoss };
}

/** The routes as the user wrote them: default first for a full tunnel (status, list, config check). */
export function shownRoutes(env: {
  readonly fullTunnel: boolean;
  readonly routes: readonly string[];
  readonly fullTunnel6: boolean;
  readonly routes6: readonly string[];
}): string[] {
  return [...(env.fullTunnel ? [DEFAULT_ROUTE] : []), ...env.routes, ...(env.fullTunnel6 ? ['::/0'] : []), ...env.routes6];
}
