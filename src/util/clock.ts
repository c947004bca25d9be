import { performance } from 'node:perf_hooks';

/**
 * Milliseconds on a clock that only goes forward: what every duration,
 * timeout and age is measured with. The wall clock (Date.now) jumps with
 * NTP, a suspended laptop's resync or a user's `date -s`; an idle timer
 * measured with it would end a session at once after a jump forward, or
 * never after one back.
 */
export const monotonicMs = (): number => performance.now();
