/**
 * macOS's per-service DNS through networksetup(8), as wg-quick's darwin
 * side sets it for a full tunnel (wireguard-tools src/wg-quick/darwin.bash,
 * collect_new_service_dns and set_dns): every network service, disabled ones
 * too (one enabled later must not ask around the tunnel), gets the tunnel's
 * DNS servers, and each gets back what it had. /etc/resolver files only
 * reach the domains they name; these reach every name.
 */

/** `networksetup -listallnetworkservices`: a note first, then one service a line, a disabled one marked with a leading `*`. */
export function parseServices(out: string): string[] {
  return out
    .split('\n')
    .slice(1)
    .map((l) => (l.startsWith('*') ? l.slice(1) : l))
    .filter((l) => l.trim() !== '');
}

/**
 * `networksetup -getdnsservers SERVICE`: one address a line, or a sentence
 * when none is set ("There aren't any DNS Servers set on Wi-Fi."): [], as
 * wg-quick reads any line with a space as "Empty".
 */
export function parseDnsServers(out: string): string[] {
  const lines = out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.some((l) => l.includes(' ')) ? [] : lines;
}

/** The argv setting `service`'s DNS servers; none: `Empty`, which hands the service back to what DHCP gives. */
export function setDnsServers(service: string, servers: readonly string[]): string[] {
  return ['networksetup', '-setdnsservers', service, ...(servers.length ? servers : ['Empty'])];
}

/**
 * networksetup reports a bad service or argument on stdout, often with exit
 * status 0: "** Error: …", "X is not a recognized network service."
 */
export const NETWORKSETUP_REFUSED = /\*\* Error|not a recognized network service/i;
