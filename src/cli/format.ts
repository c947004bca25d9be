import type { Status } from '../daemon/controller.js';

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

export function formatStatus(list: readonly Status[]): string {
  if (list.length === 0) return 'no environments connected\n';
  return list
    .map((s) =>
      [
        `${s.env}: ${s.state} ${duration(s.uptimeSeconds)} (pid ${s.pid}) to ${s.host}${s.onDemand ? ', on demand' : ''}`,
        `  tunnel  ${s.localDevice} ${s.local} <-> ${s.remote} ${s.remoteDevice || '(no session)'}, mtu ${s.mtu}`,
        `  routes  ${s.routes.length ? s.routes.join(', ') : '(none)'}${s.nat ? ' (remote NAT)' : ''}`,
        `  docker  ${s.dockerHost ?? 'off'}`,
        `  traffic sent ${bytes(s.stats.txBytes)} in ${s.stats.txPackets} packets, received ${bytes(s.stats.rxBytes)} in ${s.stats.rxPackets} packets`,
        ...(s.reconnects || s.lastError ? [`  session ${s.reconnects} reconnects${s.lastError ? `, last error: ${s.lastError}` : ''}`] : []),
      ].join('\n'),
    )
    .join('\n\n')
    .concat('\n');
}
