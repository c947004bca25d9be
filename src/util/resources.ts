import fs from 'node:fs';

/**
 * What a process holds now, for `status --json` (the soak compares its
 * start and end): open file descriptors, pending timers, and every other
 * libuv handle or request by kind.
 */
export interface Resources {
  /** Open descriptors; -1 where the platform lists none (/proc/self/fd on Linux, /dev/fd on macOS). */
  readonly fds: number;
  readonly timers: number;
  readonly handles: Readonly<Record<string, number>>;
}

export function processResources(): Resources {
  const handles: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) handles[kind] = (handles[kind] ?? 0) + 1;
  let fds = -1;
  for (const dir of ['/proc/self/fd', '/dev/fd']) {
    try {
      // less the one the listing itself holds open
      fds = fs.readdirSync(dir).length - 1;
      break;
    } catch {
      // not this platform's
    }
  }
  return { fds, timers: handles['Timeout'] ?? 0, handles };
}
