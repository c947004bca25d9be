import { DNS_LISTEN, type Step } from './steps.js';

/**
 * Linux split DNS as host changes: resolv.conf pointed at the forwarder
 * (dns/forwarder.ts), or, with systemd-resolved, per-link DNS on the tun
 * device. macOS's /etc/resolver files are planned with the rest (plan.ts).
 */

export { DNS_LISTEN };
/** Marks a resolv.conf cloudbridge wrote. */
export const RESOLV_MARK = 'written by cloudbridge';

/** The nameservers of a resolv.conf, and the lines to keep (search, domain, options). */
export function parseResolvConf(text: string): { nameservers: string[]; rest: string[] } {
  const nameservers: string[] = [];
  const rest: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) nameservers.push(m[1]!);
    else if (/^\s*(search|domain|options)\s/.test(line)) rest.push(line.trim());
  }
  return { nameservers, rest };
}

/** systemd-resolved: `zones` asked of `server` (the DNS address the data path answers) on `dev`; resolv.conf stays. */
export function planResolvectl(dev: string, servers: readonly string[], zones: readonly string[]): Step[] {
  return [
    {
      title: `systemd-resolved: ${zones.join(', ')} asked of ${servers.join(' and ')} on ${dev}`,
      apply: { side: 'local', op: 'resolvectl', argv: ['dns', dev, ...servers] },
      undo: { side: 'local', op: 'resolvectl', argv: ['revert', dev] },
    },
    ...(zones.length
      ? [
          {
            title: `systemd-resolved: routing domains on ${dev}`,
            apply: { side: 'local', op: 'resolvectl', argv: ['domain', dev, ...zones.map((z) => `~${z}`)] },
            undo: null,
          } satisfies Step,
        ]
      : []),
  ];
}

/**
 * dns.all under systemd-resolved: `~.` on the tun device routes every name
 * there (links without routing domains then get none), and the undo puts
 * back the split domains alone ('' clears the list).
 */
export function planResolvedAll(dev: string, zones: readonly string[]): Step {
  const split = zones.length ? zones.map((z) => `~${z}`) : [''];
  return {
    title: `systemd-resolved: every name (~.) on ${dev}`,
    apply: { side: 'local', op: 'resolvectl', argv: ['domain', dev, '~.', ...zones.map((z) => `~${z}`)] },
    undo: { side: 'local', op: 'resolvectl', argv: ['domain', dev, ...split] },
  };
}

/** resolv.conf pointing at the forwarder (listening on `listen`); the undo puts back exactly what was there (`before`). */
export function planResolvConf(
  envName: string,
  zones: readonly string[],
  listen: readonly string[],
  before: { readonly content: string; readonly symlink: string | undefined },
): Step {
  const content = [
    `# ${RESOLV_MARK} for ${envName}: ${zones.join(', ')} through the tunnel;`,
    '# the previous file comes back on disconnect (or cloudbridge cleanup)',
    `nameserver ${DNS_LISTEN}`,
    ...parseResolvConf(before.content).rest,
    '',
  ].join('\n');
  return {
    title: `resolv.conf -> DNS forwarder ${listen.join(', ')}`,
    apply: { side: 'local', op: 'resolv-conf', content, symlink: undefined },
    undo: { side: 'local', op: 'resolv-conf', content: before.content, symlink: before.symlink },
  };
}

/**
 * macOS, a full tunnel with dns.all: every network service asks `servers`
 * (the in-tunnel DNS addresses) while the tunnel stands; the undo gives each
 * the servers it had (`before`, read by networksetup at the time).
 */
export function planServiceDns(before: readonly { readonly service: string; readonly servers: readonly string[] }[], servers: readonly string[]): Step[] {
  return before.map(({ service, servers: had }) => ({
    title: `DNS of network service ${service}: ${servers.join(', ')}`,
    apply: { side: 'local', op: 'service-dns', service, servers },
    undo: { side: 'local', op: 'service-dns', service, servers: had },
  }));
}
