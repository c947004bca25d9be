import type { Socket } from 'node:net';

/**
 * Whether something accepts a connection on the socket `open` dials:
 * nothing is sent and nothing read. False on an error, or after `timeoutMs`
 * when one is given.
 */
export function socketAnswers(open: () => Socket, timeoutMs?: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = open();
    const done = (up: boolean): void => {
      s.destroy();
      resolve(up);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    if (timeoutMs !== undefined) s.setTimeout(timeoutMs, () => done(false));
  });
}
