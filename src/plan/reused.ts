import { parseIPv6 } from '../config/ipv6.js';
import { deviceOf, type Step } from './steps.js';

/**
 * The devices a journal configured that another program has opened since
 * under the same name: they exist and carry none of the addresses the
 * journal gave them. macOS numbers utun devices from 0, so another VPN takes
 * utun4 once ours closed; what the journal put on ours went with it, and
 * undoing it now would take the other's routes (XNU deletes a route by
 * destination and mask, whatever its interface).
 */
export async function reusedDevices(steps: readonly Step[], addressesOn: (dev: string) => Promise<string[] | undefined>): Promise<Set<string>> {
  const ours = new Map<string, string>();
  for (const s of steps) if (s.apply.side === 'local' && s.apply.op === 'addr-add') ours.set(s.apply.dev, s.apply.local);
  const reused = new Set<string>();
  for (const [dev, local] of ours) {
    const now = await addressesOn(dev);
    if (now !== undefined && !now.some((a) => sameAddress(a, local))) reused.add(dev);
  }
  return reused;
}

/** Whether a step changed something on one of `devs`. */
export const onDevice = (s: Step, devs: ReadonlySet<string>): boolean => {
  const dev = deviceOf(s.apply);
  return dev !== undefined && devs.has(dev);
};

const sameAddress = (a: string, b: string): boolean => (a.includes(':') ? b.includes(':') && parseIPv6(a) === parseIPv6(b) : a === b);
