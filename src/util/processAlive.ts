import fs from 'node:fs';

/**
 * Whether a process with this pid exists and runs (signal 0; EPERM: it does,
 * it is someone else's). A zombie does not: it has exited, its fds are
 * closed, and only its parent's wait is missing. A controller started
 * detached is re-parented to PID 1, and a PID 1 that reaps late (this CI
 * machine's reaps about every 2 s) kept `disconnect` waiting on the dead.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !zombie(pid);
}

/** Linux: the state in /proc/PID/stat, after the command's closing parenthesis, is Z (or X) for a process that has exited. */
function zombie(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // no /proc (macOS), or gone since: signal 0 said it was there
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}
