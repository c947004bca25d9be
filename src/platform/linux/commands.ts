import type { LocalAction } from '../../plan/steps.js';
import { contextCommand } from '../../plan/contextCommand.js';

/**
 * The `ip` command equivalent to what LinuxNet does through rtnetlink, for
 * --dry-run and for people reading the plan.
 */
export const RESOLV_CONF = '/etc/resolv.conf';

export function linuxCommand(a: LocalAction): string[] {
  switch (a.op) {
    case 'addr-add':
    case 'addr-del':
      return ['ip', 'addr', a.op === 'addr-add' ? 'add' : 'del', a.local, 'peer', a.peer, 'dev', a.dev];
    case 'link-up':
      return ['ip', 'link', 'set', 'dev', a.dev, 'mtu', String(a.mtu), 'up'];
    case 'route-add':
    case 'route-del':
      if (a.reject) return ['ip', 'route', a.op === 'route-add' ? 'add' : 'del', 'unreachable', a.cidr, 'proto', '203'];
      return ['ip', 'route', a.op === 'route-add' ? 'add' : 'del', a.cidr, ...(a.via ? ['via', a.via] : []), 'dev', a.dev, 'proto', '203'];
    case 'resolver-add':
    case 'resolver-del':
      throw new Error('split DNS on Linux is not built yet');
    case 'service-dns':
      throw new Error('network services (networksetup) are macOS only');
    case 'resolv-conf':
      return a.symlink ? ['ln', '-sfn', a.symlink, RESOLV_CONF] : ['sh', '-c', `cat > ${RESOLV_CONF} <<'EOF'\n${a.content}EOF`];
    case 'resolvectl':
      return ['resolvectl', ...a.argv];
    case 'iptables':
      return [a.ip6 ? 'ip6tables' : 'iptables', '-w', '-t', a.table, ...a.argv];
    case 'context-create':
    case 'context-remove':
      return contextCommand(a);
  }
}
