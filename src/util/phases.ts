import { performance } from 'node:perf_hooks';

/** Wall-clock milliseconds, sub-millisecond, comparable between processes: what a phase's time is measured on. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** One step of `connect`, in milliseconds since the command started. */
export interface Phase {
  readonly phase: string;
  readonly ms: number;
}

/**
 * Where the time of one `connect` went (issue 31: it must be measured before
 * it is cut): each phase is the time, since the command started, at which
 * it ended. The command's start is the first process's, handed to the
 * controller it starts (protocol.ts), so both processes' phases share it.
 * Only the first session's are kept: a reconnect's would say nothing of
 * how long `connect` took.
 */
export class Phases {
  private readonly marks: Phase[] = [];
  private frozen = false;

  constructor(
    /** The command's start, epochMs of the first process (performance.timeOrigin). */
    readonly origin: number = performance.timeOrigin,
  ) {}

  mark(phase: string, at: number = epochMs()): void {
    if (!this.frozen) this.marks.push({ phase, ms: Math.round(at - this.origin) });
  }

  /** Connect is over: later marks (a reconnect's) are not its phases. */
  freeze(): void {
    this.frozen = true;
  }

  list(): readonly Phase[] {
    return [...this.marks];
  }
}
