import { spawn } from 'node:child_process';
import readline from 'node:readline';

/**
 * Whether a line of `route -n monitor` is a change of paths: route.c's
 * monitor() prints each routing-socket message as "MSGTYPE: len N, …" (its
 * msgtypes[] names), flushed after each (pmsg_addrs). Routes added, deleted
 * or changed, addresses, interfaces up or down count; ARP entries (routes
 * cloned with LLINFO, one per neighbour) and lookups (RTM_GET, RTM_MISS) do not.
 */
export function isPathChange(line: string): boolean {
  const m = /^RTM_(ADD|DELETE|CHANGE|NEWADDR|DELADDR|IFINFO):/.exec(line);
  return m !== null && !/\bLLINFO\b|\bWASCLONED\b/.test(line);
}

/** macOS: `route -n monitor` (the routing socket as route(8) reads it), each change a call to `changed`; ends with close(). */
export function watchDarwinPaths(changed: () => void): { close(): void } {
  const child = spawn('route', ['-n', 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.on('error', () => undefined); // no route(8): no watch; reconnects still re-pin (Pins.beforeConnect)
  const lines = readline.createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    if (isPathChange(line)) changed();
  });
  return {
    close: () => {
      lines.close();
      child.kill();
    },
  };
}
