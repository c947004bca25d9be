import type { EnvironmentConfig } from '../config/types.js';
import type { LocalNet } from '../platform/types.js';
import type { SessionKeeper } from './keeper.js';
import type { Pins } from './pins.js';

/** A roam or a lease comes as a burst of notifications (address, routes, default route): acted on once quiet this long. */
const SETTLE_MS = 500;

/**
 * A laptop that moves: when the host's network changes (a roam, a new lease,
 * a link gone) and has settled, the pins follow the new path and the
 * session is asked for a round trip; a connection from an address that went
 * does not answer, and is remade now rather than a deadAfter later. Returns
 * the way to stop watching.
 */
export function followRoams(
  net: LocalNet,
  deps: {
    readonly env: EnvironmentConfig;
    readonly dev: () => string;
    readonly pins: Pins;
    /** A full tunnel's lan: tunnel follows the LAN too. */
    readonly full?: { roamed(): Promise<void> } | undefined;
    readonly keeper: Pick<SessionKeeper, 'check'>;
    readonly log: (line: string) => void;
  },
): () => void {
  let settle: NodeJS.Timeout | undefined;
  let stopped = false;
  const settled = async (): Promise<void> => {
    const moved = await deps.pins.recheck().catch((err: Error) => [`could not move the pins: ${err.message}`]);
    if (stopped) return;
    for (const line of moved) deps.log(`${deps.env.name}: the network changed: ${line}`);
    await deps.full?.roamed().catch((err: Error) => deps.log(`${deps.env.name}: full tunnel: could not follow the local network: ${err.message}`));
    if (stopped) return;
    deps.keeper.check("this host's network changed", "this host's network changed");
  };
  const watch = net.watchPaths(deps.dev, () => {
    clearTimeout(settle);
    settle = setTimeout(() => void settled(), SETTLE_MS);
    settle.unref();
  });
  return () => {
    stopped = true;
    clearTimeout(settle);
    watch.close();
  };
}
