import { parseCidr } from '../../config/ipv4.js';
import type { NetAction } from '../../plan/steps.js';
import type { LocalNet, RouteInfo } from '../types.js';
import { darwinCommand } from './commands.js';
import { interfaceNetworks, parseIfconfig, parseNetstatRoutes, parseRouteGet } from './parse.js';
import { lazyExeca } from '../../util/lazyExeca.js';

async function run(argv: readonly string[]): Promise<string> {
  const [file, ...args] = argv;
  const execa = await lazyExeca();
  const r = await execa(file!, args, { reject: false });
  if (r.exitCode !== 0) {
    throw new Error(
      `${argv.join(' ')}: ${
        String(r.stderr || r.stdout)
          .trim()
          .split('\n')[0] ?? `exit ${r.exitCode}`
      }`,
    );
  }
  return String(r.stdout);
}

/** macOS: ifconfig, route and netstat through execa, arguments as arrays. */
export class DarwinNet implements LocalNet {
  async apply(a: NetAction): Promise<void> {
    await run(darwinCommand(a));
    if (a.op === 'route-add') {
      // `route add` can succeed and still leave another, more specific route in charge
      const c = parseCidr(a.cidr)!;
      const got = parseRouteGet(await run(['route', '-n', 'get', a.cidr.split('/')[0]!]));
      if (got.interface !== a.dev && c.prefix > 0) {
        throw new Error(`route ${a.cidr} added but traffic still goes to ${got.interface ?? 'nowhere'}`);
      }
    }
  }

  async interfaceNetworks(): Promise<RouteInfo[]> {
    return interfaceNetworks(parseIfconfig(await run(['ifconfig'])));
  }

  async routes(): Promise<RouteInfo[]> {
    return parseNetstatRoutes(await run(['netstat', '-rn', '-f', 'inet']));
  }

  close(): void {}
}
