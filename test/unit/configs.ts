import { UserError } from '../../src/util/errors.js';
import { findEnvironment, parseConfigText } from '../../src/config/load.js';
import type { EnvironmentConfig } from '../../src/config/types.js';
import type { Step } from '../../src/plan/steps.js';
import { FullTunnel } from '../../src/daemon/fullTunnel.js';
import type { LocalNet } from '../../src/platform/types.js';

/** Environment `name` (host 10.0.0.2) with `body`'s fields, as the config file would give it. */
export function envOf(body: string, name = 'stg'): EnvironmentConfig {
  return findEnvironment(parseConfigText(`environments:\n  ${name}:\n    host: 10.0.0.2\n${body}`, '/c.yaml', '/home/dev'), name);
}

/** The one-line message the validator refuses `body` with. */
export function refusalOf(body: string): string {
  try {
    envOf(body);
  } catch (e) {
    if (e instanceof UserError) return e.message;
    throw e;
  }
  throw new Error(`expected a UserError for:\n${body}`);
}

/** A main-table route as pathChoice.ts reads it (either family's types), defaults filled in. */
export function tableRoute<D, G>(
  dst: D,
  dev: string,
  more: Partial<{ gateway: G; metric: number; reject: boolean; ours: boolean }> = {},
): { dst: D; gateway: G | undefined; dev: string; metric: number; reject: boolean; ours: boolean } {
  return { dst, gateway: undefined, dev, metric: 0, reject: false, ours: false, ...more };
}

/** A journal's local side as a set of steps: what applyLocal made, less what undoLocal took back (none fail). */
export function localSteps(): {
  readonly applied: Set<Step>;
  readonly applyLocal: (steps: Step[]) => Promise<void>;
  readonly undoLocal: (which: (s: Step) => boolean) => Promise<string[]>;
} {
  const applied = new Set<Step>();
  return {
    applied,
    applyLocal: async (steps) => void steps.forEach((s) => applied.add(s)),
    undoLocal: async (which) => {
      for (const s of [...applied]) if (which(s)) applied.delete(s);
      return [];
    },
  };
}

/** A full tunnel on fakes: its journal a set of steps (localSteps), DNS a switch, its lines kept; `net` the host it reads. */
export function fullTunnelOn(env: EnvironmentConfig, net?: LocalNet): { full: FullTunnel; applied: Set<Step>; dnsAll: () => boolean; logs: string[] } {
  const { applied, applyLocal, undoLocal } = localSteps();
  let all = false;
  const logs: string[] = [];
  const full = new FullTunnel(env, {
    net: () => net,
    dev: () => 'cb-stg',
    applyLocal,
    undoLocal,
    dns: { steps: async () => [], all: (on) => void (all = on) },
    progress: () => undefined,
    log: (l) => void logs.push(l),
  });
  return { full, applied, dnsAll: () => all, logs };
}
