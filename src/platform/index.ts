import type { EnvironmentConfig } from '../config/types.js';
import type { LocalAction } from '../plan/steps.js';
import { darwinCommand } from './darwin/commands.js';
import { linuxCommand } from './linux/commands.js';
import type { LocalNet } from './types.js';

export type PlatformName = 'linux' | 'darwin';

export function currentPlatform(): PlatformName {
  if (process.platform === 'linux' || process.platform === 'darwin') return process.platform;
  throw new Error(`cloudbridge runs on Linux and macOS, not ${process.platform}`);
}

export async function localNet(p: PlatformName): Promise<LocalNet> {
  if (p === 'darwin') {
    const { DarwinNet } = await import('./darwin/net.js');
    return new DarwinNet();
  }
  // netlink is Linux-only: load it only here
  const { LinuxNet } = await import('./linux/net.js');
  return new LinuxNet();
}

export function localCommand(p: PlatformName, a: LocalAction): string[] {
  return p === 'darwin' ? darwinCommand(a) : linuxCommand(a);
}

/**
 * The name to ask for. utun devices are numbered by the kernel: on macOS a
 * configured `utunN` is honoured and anything else lets the kernel pick.
 */
export function requestedDevice(p: PlatformName, env: EnvironmentConfig): string {
  if (p === 'darwin') return /^utun\d+$/.test(env.tunnel.device) ? env.tunnel.device : '';
  return env.tunnel.device;
}
