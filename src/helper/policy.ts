import { canonicalCidr, firstHost } from '../config/cidr.js';
import { parseIPv4 } from '../config/ipv4.js';
import { parseIPv6 } from '../config/ipv6.js';
import { deviceFor } from '../config/names.js';
import { deviceOf, DNS_LISTEN, ruleTag, type Action, type NetAction } from '../plan/steps.js';
import { ENV_NAME } from '../util/envName.js';
import { HelperError, type StepRequest } from './requests.js';

/**
 * What the helper allows one controller, in the state it is in: its own
 * devices only, routes through them (or, for pins and exclusions, exactly
 * the path the host's own routes give that address now), its rules from
 * one template, DNS on its own links, and undos the helper derives from
 * what it sees, never what it is told to restore. OpenSSH's monitor keeps a
 * table of what may be asked in each state; this is that table, for a
 * network helper.
 */

/** Where an address goes by the host's own routes, our devices left out (LocalNet.outsidePath). */
export type HostPath = { readonly via: string | undefined; readonly dev: string } | 'unreachable' | 'local' | undefined;

/** What the helper reads of the host itself to judge a request: never taken from the request. */
export interface KernelView {
  outsidePath(addr: string, ourDevs: readonly string[]): Promise<HostPath>;
  /** /etc/resolv.conf as it is now (a symlink's target named). */
  resolvConf(): Promise<{ readonly content: string; readonly symlink: string | undefined }>;
  /** macOS: each network service's DNS servers as set now. */
  serviceDns(): Promise<readonly { readonly service: string; readonly servers: readonly string[] }[]>;
  /** The addresses assigned to this host's interfaces now. */
  localAddresses(): Promise<readonly string[]>;
  /** Whether a network device of that name exists now. */
  hasDevice(name: string): Promise<boolean>;
  /** The addresses on a device, or undefined when there is none (LocalNet.addressesOn). */
  addressesOn(name: string): Promise<string[] | undefined>;
}

/** The IPv6 halves a full tunnel without IPv6 blocks (plan/fullTunnel.ts). */
const BLOCKED_HALVES6 = ['::/1', '8000::/1'];
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.?$/i;

const isIP = (s: string): boolean => parseIPv4(s) !== undefined || parseIPv6(s) !== undefined;
const refuse = (why: string): never => {
  throw new HelperError(why);
};

export class Policy {
  private envName: string | undefined;
  private readonly devices = new Set<string>();

  constructor(
    private readonly kernel: KernelView,
    private readonly platform: 'linux' | 'darwin',
  ) {}

  get env(): string {
    return this.envName ?? refuse('say hello first: the environment is not known');
  }

  hello(env: string): void {
    if (this.envName !== undefined) refuse('hello comes once');
    if (!ENV_NAME.test(env)) refuse('not an environment name');
    this.envName = env;
  }

  /** The device name to open: the environment's own (Linux); the next utun ('') or the configured utunN (macOS). */
  tunName(asked: string): string {
    if (this.platform === 'darwin') {
      // the next free utun ('' or 'utun'), or the unit the config names (taken: the kernel says EBUSY)
      if (asked !== '' && asked !== 'utun' && !/^utun\d{1,4}$/.test(asked)) refuse(`a utun device, not ${asked.slice(0, 20)}`);
    } else if (asked !== deviceFor(this.env)) refuse(`the tun device of ${this.env} is ${deviceFor(this.env)}, not ${asked.slice(0, 20)}`);
    if (this.devices.size > 0) refuse('the tun device is open already');
    return asked === 'utun' ? '' : asked;
  }

  /** The kernel's name for the device opened (utunN on macOS): from now on this connection's own. */
  adopt(device: string): void {
    this.devices.add(device);
  }

  /** Judges a step: its apply and that its undo is the exact inverse (or what the helper sees now, for DNS files). */
  async check(step: StepRequest): Promise<void> {
    const { apply: a, undo: u } = step;
    switch (a.op) {
      case 'addr-add':
        this.ownDev(a.dev);
        if (!sameFamily(a.local, a.peer)) refuse('addr-add: local and peer must be addresses of one family');
        return inverse(u, { ...a, op: 'addr-del' });
      case 'link-up':
        this.ownDev(a.dev);
        if (a.mtu < (a.ipv6 ? 1280 : 576) || a.mtu > 65535) refuse(`link-up: mtu ${a.mtu} is out of range`);
        if (u !== null) refuse('link-up has no undo: the device goes with the helper');
        return;
      case 'route-add':
        await this.route(a);
        return inverse(u, { ...a, op: 'route-del' });
      case 'iptables': {
        const dev = a.argv[3] ?? '';
        const rule = ['POSTROUTING', '-o', dev, '-m', 'comment', '--comment', ruleTag(this.env), '-j', 'MASQUERADE'];
        if (a.table !== 'nat' || a.argv[0] !== '-A' || !same(a.argv.slice(1), rule))
          refuse('iptables: only MASQUERADE out of an own device, tagged for this environment');
        this.ownDev(dev);
        return inverse(u, { ...a, argv: ['-D', ...a.argv.slice(1)] });
      }
      case 'resolvectl':
        return this.resolvectl(a.argv, u);
      case 'resolv-conf':
        return this.resolvConf(a.content, u);
      case 'resolver-add':
        if (this.platform !== 'darwin') refuse('resolver files are macOS only');
        if (!DOMAIN.test(a.domain) || a.domain.startsWith('.')) refuse(`resolver-add: ${a.domain.slice(0, 60)} is not a domain`);
        if (a.servers.length === 0 || !a.servers.every(isIP)) refuse('resolver-add: servers must be IP addresses');
        return inverse(u, { side: 'local', op: 'resolver-del', domain: a.domain });
      case 'service-dns': {
        if (this.platform !== 'darwin') refuse('network services are macOS only');
        const now = (await this.kernel.serviceDns()).find((s) => s.service === a.service);
        if (!now) refuse(`service-dns: no network service ${a.service.slice(0, 60)}`);
        if (!a.servers.every(isIP)) refuse('service-dns: servers must be IP addresses');
        return inverse(u, { side: 'local', op: 'service-dns', service: a.service, servers: now!.servers });
      }
      default:
        refuse(`${a.op} is an undo, not a change: it is derived from a step applied`);
    }
  }

  /** A port 53 socket: on an address this host has (a docker bridge's), never every address. */
  async checkBind(addr: string): Promise<void> {
    if (this.envName === undefined) refuse('say hello first: the environment is not known');
    if (!isIP(addr)) refuse(`bind: ${addr.slice(0, 50)} is not an address`);
    // the forwarder's loopback address is local without being assigned (all of 127/8 is, on Linux)
    if (addr !== DNS_LISTEN && !(await this.kernel.localAddresses()).includes(addr)) refuse(`bind: ${addr} is not an address of this host`);
  }

  /**
   * Whether a step's undo is moot: it changed one of this connection's
   * devices (an address, a route, the link) and the device is gone, with
   * everything on it (the controller's fd closed). A rule naming the device
   * stays in the tables and is still undone.
   */
  async moot(a: Action): Promise<boolean> {
    // per-link DNS too: resolved forgets a link's settings when it goes, and `resolvectl revert` of it fails
    const dev = deviceOf(a);
    return dev !== undefined && this.devices.has(dev) && !(await this.kernel.hasDevice(dev));
  }

  private ownDev(dev: string): void {
    if (!this.devices.has(dev)) refuse(`${dev.slice(0, 20) || 'no device'} is not this connection's device`);
  }

  private async route(a: Extract<NetAction, { op: 'route-add' | 'route-del' }>): Promise<void> {
    const canonical = canonicalCidr(a.cidr) ?? refuse(`route: ${a.cidr.slice(0, 50)} is not a network`);
    if (canonical !== a.cidr) refuse(`route: write ${a.cidr.slice(0, 50)} as ${canonical}`);
    if (a.reject) {
      if (a.via !== undefined) refuse('route: a reject route has no gateway');
      // the IPv6 halves of a full tunnel without IPv6 (as plan/fullTunnel.ts makes them: no device), or an excluded network that had no path
      if (BLOCKED_HALVES6.includes(a.cidr) && (a.dev === '' || this.devices.has(a.dev))) return;
      if (a.dev === '' && (await this.kernel.outsidePath(firstHost(a.cidr), [...this.devices])) === 'unreachable') return;
      refuse(`route: ${a.cidr} may be made unreachable only where the host has no path for it`);
    }
    if (a.via === undefined && this.devices.has(a.dev)) return;
    // a pin or an exclusion: exactly where the host's own routes send it now
    const path = await this.kernel.outsidePath(firstHost(a.cidr), [...this.devices]);
    if (typeof path !== 'object' || path.dev !== a.dev || path.via !== a.via) {
      refuse(
        `route: ${a.cidr} goes ${a.via ? `via ${a.via} ` : ''}dev ${a.dev || '-'} only through this connection's device, or where the host's own routes send it now`,
      );
    }
  }

  private resolvectl(argv: readonly string[], u: NetAction | null): void {
    const [verb, dev, ...rest] = argv;
    this.ownDev(dev ?? '');
    if (verb === 'dns') {
      if (rest.length === 0 || !rest.every(isIP)) refuse('resolvectl dns: servers must be IP addresses');
      return inverse(u, { side: 'local', op: 'resolvectl', argv: ['revert', dev!] });
    }
    if (verb === 'domain') {
      const zone = (z: string): boolean => z === '' || z === '~.' || (DOMAIN.test(z.replace(/^~/, '')) && !z.startsWith('~.'));
      if (rest.length === 0 || !rest.every(zone)) refuse('resolvectl domain: routing domains must be domain names');
      if (u === null) return;
      if (u.op !== 'resolvectl' || u.argv[0] !== 'domain' || u.argv[1] !== dev || !u.argv.slice(2).every(zone))
        refuse('resolvectl domain: its undo sets domains on the same device');
      return;
    }
    refuse('resolvectl: only dns and domain on an own device');
  }

  /** resolv.conf: our forwarder first, then only lines the file has now; its undo is the file as the helper reads it now. */
  private async resolvConf(content: string, u: NetAction | null): Promise<void> {
    if (this.platform !== 'linux') refuse('resolv.conf is written on Linux only');
    const now = await this.kernel.resolvConf();
    const kept = new Set(now.content.split('\n').map((l) => l.trim()));
    for (const line of content.split('\n')) {
      const l = line.trim();
      if (l === '' || l.startsWith('#') || l === `nameserver ${DNS_LISTEN}` || (/^(search|domain|options)\s/.test(l) && kept.has(l))) continue;
      refuse(`resolv-conf: the line "${l.slice(0, 60)}" is not the forwarder's nor the file's own`);
    }
    return inverse(u, { side: 'local', op: 'resolv-conf', content: now.content, symlink: now.symlink });
  }
}

/** The undo must be exactly `expected`. */
function inverse(u: NetAction | null, expected: NetAction): void {
  if (u === null || JSON.stringify(canon(u)) !== JSON.stringify(canon(expected)))
    refuse(`the undo of ${expected.op.replace(/-(del|add)$/, '')} must be its exact inverse`);
}

/** Keys in one order, absent optional fields dropped, for comparing actions. */
function canon(a: NetAction): [string, unknown][] {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .sort(([x], [y]) => (x < y ? -1 : 1));
}

const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function sameFamily(a: string, b: string): boolean {
  return (parseIPv4(a) !== undefined && parseIPv4(b) !== undefined) || (parseIPv6(a) !== undefined && parseIPv6(b) !== undefined);
}
