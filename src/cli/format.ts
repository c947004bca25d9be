import { shownPairs } from '../config/tunnelPair.js';
import type { Status } from '../daemon/status.js';
import { plain } from '../util/plain.js';

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function duration(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${m}m` : m ? `${m}m${s % 60}s` : `${s}s`;
}

/** A full tunnel's state in words. */
function fullState(f: NonNullable<Status['fullTunnel']>): string {
  if (f.blocked) return 'BLOCKED, reconnecting: traffic and DNS dropped until the session is back (onLoss: block)';
  return f.active ? 'everything through the tunnel' : 'withdrawn until the session is back (onLoss: direct)';
}

export function formatStatus(list: readonly Status[]): string {
  if (list.length === 0) return 'no environments connected\n';
  return list
    .map((s) =>
      [
        `${s.env}: ${s.state} ${duration(s.uptimeSeconds)} (pid ${s.pid}) to ${s.host}${s.onDemand ? ', on demand' : ''}`,
        ...(s.local || s.local6
          ? [
              `  tunnel  ${s.localDevice} ${shownPairs(s)} ${s.remoteDevice || '(no session)'}, mtu ${s.mtu === s.remoteMtu || !s.remoteMtu ? s.mtu : `${s.mtu} here, ${s.remoteMtu} there`}, packets out ${s.datapath.outbound === 'c' ? 'C' : 'JavaScript'}, in ${s.datapath.inbound === 'c' ? 'C' : 'JavaScript'}`,
              `  routes  ${s.routes.length ? s.routes.join(', ') : '(none)'}${s.nat ? ' (remote NAT)' : ''}${s.exclude.length ? `; not ${s.exclude.join(', ')}` : ''}`,
              ...(s.fullTunnel
                ? [
                    `  full    ${fullState(s.fullTunnel)}; local networks ${s.fullTunnel.lan === 'local' ? 'direct' : 'through the tunnel'}${s.fullTunnel.ipv6Blocked ? '; IPv6 blocked (the tunnel carries none)' : ''}`,
                  ]
                : []),
              ...(s.pins.length ? [`  pinned  ${s.pins.join(', ')}: outside the tunnel`] : []),
            ]
          : ['  tunnel  none (tunnel: false): SSH forwarding only']),
        ...(s.docker && !s.docker.answering ? [`  docker  NOT ANSWERING /_ping (${s.docker.lastError ?? 'no answer'}); asked again every few seconds`] : []),
        `  docker  ${s.dockerHost ?? 'off'}${s.dockerSocket ? `: ${s.dockerSocket.active} open, ${s.dockerSocket.total} total (${s.dockerSocket.spareUsed} on a channel opened ahead), ${s.dockerSocket.refused} refused; version checks answered here: ${s.dockerSocket.pingsAnswered}` : ''}`,
        ...s.socks.map((x) => `  socks   socks5h://${x.listen}: ${x.stats.active} open, ${x.stats.total} total, ${x.stats.refused} refused`),
        ...(s.local || s.local6
          ? [
              `  traffic sent ${bytes(s.stats.txBytes)} in ${s.stats.txPackets} packets, received ${bytes(s.stats.rxBytes)} in ${s.stats.rxPackets} packets${s.stats.rxSpoofed ? `; ${s.stats.rxSpoofed} from sources the remote end may not speak for, dropped` : ''}`,
            ]
          : []),
        ...(s.allow
          ? [
              `  allow   ${s.stats.refused} refused (${s.refusedUnlisted} to unlisted destinations, ${s.refusedUnsolicited} unsolicited from the far side); ${s.flows?.size ?? 0} flows of at most ${s.flows?.capacity ?? 0}`,
              ...s.allow.map(
                (a) =>
                  `    ${a.rule.padEnd(28)} ${String(a.hits).padStart(8)} hits ${String(a.drops).padStart(6)} drops${a.addresses.length && a.addresses[0] !== a.rule ? `  ${a.addresses.join(', ')}` : ''}${a.note?.startsWith('not') ? `  (${a.note})` : ''}`,
              ),
            ]
          : []),
        ...s.forwards.map(
          (f) =>
            `  forward ${f.protocol} ${f.listen}${f.tls ? ' (TLS)' : ''} -> ${f.to}${f.source === 'config' ? '' : ` [${f.source}]`}: ${f.stats.active} open, ${f.stats.total} total, ${f.stats.refused} refused${f.health ? `, ${f.health.check} check ${f.health.state}${f.health.state === 'unhealthy' ? ` (${f.health.detail})` : ''}` : ''}`,
        ),
        ...Object.entries(s.exposeProblems).map(([c, why]) => `  expose  ${c}: ${why}`),
        ...(s.dns
          ? [
              `  dns     on ${s.dns.listen.join(', ') || 'the in-tunnel address'}: ${[
                ...(s.dns.all || s.dns.domains.length
                  ? [`${s.dns.all ? 'every name' : s.dns.domains.join(', ')} asked of ${s.dns.servers.join(', ') || '(no resolver yet)'} on the remote side`]
                  : []),
                ...(s.dns.containers ? [`${Object.keys(s.dns.containers).length} remote containers as NAME.${s.env}.docker`] : []),
              ].join('; ')}; ${s.dns.stats.queries} queries, ${s.dns.stats.failed} failed`,
            ]
          : []),
        ...(s.reconnects || s.lastError ? [`  session ${s.reconnects} reconnects${s.lastError ? `, last error: ${s.lastError}` : ''}`] : []),
      ]
        // container names, remote errors and server messages are a peer's words
        .map(plain)
        .join('\n'),
    )
    .join('\n\n')
    .concat('\n');
}
