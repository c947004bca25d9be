// networksetup for the stand-in macOS (see darwin.mjs).
import { die, ip } from './common.mjs';

/**
 * networksetup(8)'s DNS verbs, as its manual page and wg-quick's use of it
 * (wireguard-tools darwin.bash) show them: -listallnetworkservices prints a
 * note, then a service a line, "*" before a disabled one; -getdnsservers
 * prints one server a line or "There aren't any DNS Servers set on S.";
 * -setdnsservers S ADDR... (or "Empty", any case) sets or clears them.
 * Mistakes are printed on stdout and the exit status stays 0, the case a
 * caller must read the output for.
 */
export function networksetup(s, args) {
  s.services ??= [
    { name: 'Wi-Fi', enabled: true, dns: [] },
    { name: 'USB 10/100/1000 LAN', enabled: true, dns: ['192.168.1.1', '1.1.1.1'] },
    { name: 'Thunderbolt Bridge', enabled: false, dns: [] },
  ];
  const [verb, name, ...rest] = args;
  const refuse = (msg) => process.stdout.write(`${msg}\n** Error: The parameters were not valid.\n`);
  if (verb === '-listallnetworkservices') {
    const lines = s.services.map((x) => `${x.enabled ? '' : '*'}${x.name}`);
    process.stdout.write(`An asterisk (*) denotes that a network service is disabled.\n${lines.join('\n')}\n`);
    return;
  }
  const service = s.services.find((x) => x.name === name);
  if (verb !== '-getdnsservers' && verb !== '-setdnsservers')
    die(`networksetup: this stand-in knows -listallnetworkservices, -getdnsservers and -setdnsservers, not ${verb}`, 64);
  if (!service) return refuse(`${name} is not a recognized network service.`);
  if (verb === '-getdnsservers') {
    process.stdout.write(service.dns.length ? `${service.dns.join('\n')}\n` : `There aren't any DNS Servers set on ${name}.\n`);
    return;
  }
  if (rest.length === 0) return refuse('Missing DNS server addresses.');
  if (rest.length === 1 && rest[0].toLowerCase() === 'empty') service.dns = [];
  else if (rest.every((a) => ip(a) !== undefined || /^[0-9a-f:]+$/i.test(a))) service.dns = rest;
  else return refuse(`${rest.find((a) => ip(a) === undefined)} is not a valid IP address.`);
}
