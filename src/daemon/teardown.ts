import type { Executor, StepJournal } from '../plan/apply.js';
import { isRemote } from '../plan/steps.js';

/** What a controller's teardown works on: its parts, or fakes (test/unit/teardown.test.ts). */
export interface TeardownParts {
  readonly env: string;
  readonly journal: StepJournal;
  /** Stops making sessions (waits for an attempt under way), then ends the current one, undoing its remote steps over it. */
  readonly keeper: { stop(): Promise<void>; end(reason: string): Promise<string[]> };
  /** What rides the session or the local side (pump, services, sockets), stopped in this order before anything is undone. */
  readonly stops: readonly (() => void | Promise<void>)[];
  /** Runs local undos. */
  readonly local: () => Executor;
  /** Lets go of what holds the local side (tun device, netlink), once it is undone. */
  readonly release: () => void | Promise<void>;
  /** Removes the runtime files; the journal stays when remote steps are left in it. */
  readonly removeRunFiles: (keepJournal: boolean) => void;
}

/**
 * Takes a controller down in reverse: what rides it stops, the session ends
 * (its remote steps undone over its connection), the local steps are undone.
 * Remote steps still in the journal after that (no session to undo them
 * over, or an undo that failed) stay there for `cloudbridge cleanup`, which
 * the returned errors name. Returns what could not be undone.
 */
export async function teardown(parts: TeardownParts, reason: string): Promise<string[]> {
  await parts.keeper.stop();
  for (const stop of parts.stops) await stop();
  const errors = await parts.keeper.end(reason);
  errors.push(...(await parts.journal.undo(parts.local(), (s) => !isRemote(s))));
  const remoteLeft = parts.journal.steps.some(isRemote);
  if (remoteLeft) errors.push(`remote steps left for "cloudbridge cleanup ${parts.env}": they could not be undone over SSH now`);
  else parts.journal.remove();
  parts.removeRunFiles(remoteLeft);
  // last: the root helper (--privsep) removes root's folders once they are empty
  await parts.release();
  return errors;
}

/** Why a controller went down: asked to (disconnect, a signal) or a failure. */
export type DownReason =
  { readonly kind: 'requested' } | { readonly kind: 'signal'; readonly signal: NodeJS.Signals } | { readonly kind: 'failed'; readonly detail: string };

/** The reason as the log and the terminal say it. */
export function describeDown(r: DownReason): string {
  return r.kind === 'requested' ? 'disconnect requested' : r.kind === 'signal' ? `signal ${r.signal}` : r.detail;
}

/** A controller that went down because it was asked to exits 0; one that failed, 1. */
export const downExitCode = (r: DownReason): number => (r.kind === 'failed' ? 1 : 0);
