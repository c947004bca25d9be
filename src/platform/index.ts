import os from 'node:os';
import { isIPv6 } from 'node:net';
import { parseIPv4 } from '../config/ipv4.js';
import type { TunnelConfig } from '../config/types.js';
import type { LocalAction } from '../plan/steps.js';
import { darwinCommand } from './darwin/commands.js';
import { linuxCommand } from './linux/commands.js';
import type { LocalNet } from './types.js';
import { lazyExeca } from '../util/lazyExeca.js';
import { UserError } from '../util/errors.js';

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
  // netlink is Linux-only, an optional dependency (it does not build on macOS): load it only here
  const { LinuxNet } = await import('./linux/net.js').catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ERR_MODULE_NOT_FOUND' && err.code !== 'MODULE_NOT_FOUND') throw err;
    throw new UserError(
      `the netlink package is missing (an optional dependency of cloudbridge that did not install): reinstall cloudbridge (${err.message.split('\n')[0]})`,
    );
  });
  return new LinuxNet();
}

/** Starts loading the platform's network code (netlink on Linux: ~60 ms) ahead of localNet. */
export function preloadLocalNet(p: PlatformName): void {
  void (p === 'darwin' ? import('./darwin/net.js') : import('./linux/net.js')).catch(() => undefined);
}

export function localCommand(p: PlatformName, a: LocalAction): string[] {
  return p === 'darwin' ? darwinCommand(a) : linuxCommand(a);
}

/**
 * The name to ask for. utun devices are numbered by the kernel: on macOS a
 * configured `utunN` is honoured and anything else lets the kernel pick.
 */
export function requestedDevice(p: PlatformName, tunnel: TunnelConfig): string {
  if (p === 'darwin') return /^utun\d+$/.test(tunnel.device) ? tunnel.device : '';
  return tunnel.device;
}

/**
 * A listen host: an IPv4 address as it is, an interface name (docker0) as
 * its first IPv4 address. Node lists only interfaces that are up and
 * running, and docker0 without containers is neither: ask `ip` then.
 */
/** An interface's IPv6 address to listen on: global or unique-local, never link-local (which needs a scope). */
export function listenAddress6(dev: string): string | undefined {
  return os.networkInterfaces()[dev]?.find((a) => a.family === 'IPv6' && !a.internal && a.scopeid === 0 && !/^fe[89ab]/i.test(a.address))?.address;
}

export async function listenAddress(host: string): Promise<string | undefined> {
  if (parseIPv4(host) !== undefined || isIPv6(host)) return host;
  const listed = os.networkInterfaces()[host]?.find((a) => a.family === 'IPv4')?.address;
  if (listed || process.platform !== 'linux' || !/^[A-Za-z0-9_.-]{1,15}$/.test(host)) return listed;
  const execa = await lazyExeca();
  const r = await execa('ip', ['-4', '-o', 'addr', 'show', 'dev', host], { reject: false });
  return /\binet ([0-9.]+)\//.exec(String(r.stdout))?.[1];
}
