import type { LocalAction } from '../../plan/steps.js';

/** The macOS command for a local action: ifconfig and route, as arrays (no shell). */
export function darwinCommand(a: LocalAction): string[] {
  switch (a.op) {
    case 'addr-add':
      return ['ifconfig', a.dev, 'inet', a.local, a.peer, 'alias'];
    case 'addr-del':
      return ['ifconfig', a.dev, 'inet', a.local, '-alias'];
    case 'link-up':
      return ['ifconfig', a.dev, 'mtu', String(a.mtu), 'up'];
    case 'route-add':
      return ['route', '-n', 'add', '-net', a.cidr, '-interface', a.dev];
    case 'route-del':
      return ['route', '-n', 'delete', '-net', a.cidr, '-interface', a.dev];
  }
}
