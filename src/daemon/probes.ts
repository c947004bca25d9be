import fs from 'node:fs';
import type { EnvironmentConfig } from '../config/types.js';
import type { Step } from '../plan/steps.js';
import { UserError } from '../util/errors.js';
import { runFile } from '../util/runFile.js';
import { resolverFile } from '../platform/darwin/commands.js';
import type { PlatformName } from '../platform/index.js';
import type { LocalNet } from '../platform/types.js';
import { otherEnvironments } from './peers.js';
import { clashWithOthers, localProblem } from './preflight.js';

/** Refuses what would clash with another environment or break the host's own networking (preflight.ts), before anything is changed. */
export async function preflight(env: EnvironmentConfig, net: LocalNet, platform: PlatformName, force: boolean): Promise<void> {
  const { tunnel } = env;
  const clash = clashWithOthers(env, await otherEnvironments(env.name));
  if (clash) throw new UserError(clash);
  const problem = localProblem(env, {
    platform,
    force,
    deviceExists: platform === 'linux' && tunnel !== undefined && fs.existsSync(`/sys/class/net/${tunnel.device}`),
    resolverTaken: platform === 'darwin' ? env.dns.domains.map(resolverFile).find((f) => fs.existsSync(f)) : undefined,
    interfaceNetworks: tunnel ? await net.interfaceNetworks() : [],
    routes: tunnel ? await net.routes() : [],
  });
  if (problem) throw new UserError(problem);
}

/** Questions asked of this host and of the remote daemon at connect, answered by trying. */

/** localMasquerade by default on a host without iptables: a warning, not a failure (explicitly asked for: a failure). */
export async function withoutMissingIptables(env: EnvironmentConfig, steps: Step[], progress: (line: string) => void): Promise<Step[]> {
  const isRule = (s: Step): boolean => s.apply.side === 'local' && s.apply.op === 'iptables';
  if (!steps.some(isRule)) return steps;
  const failed = await iptablesProbe();
  if (!failed) return steps;
  const why = `iptables does not work here (${failed})`;
  if (env.explicit.localMasquerade) throw new UserError(`${env.source}: environments.${env.name}.localMasquerade: ${why}`);
  progress(`warning: local containers will not reach the tunnel: ${why}`);
  return steps.filter((s) => !isRule(s));
}

let probing: Promise<string | undefined> | undefined;

/**
 * Whether iptables works here: undefined when it does, else the first line of
 * why not. Asked once per process, and early (controller.up starts it): the
 * probe takes 40-60 ms, which then overlaps the rest of the local set-up.
 */
export function iptablesProbe(): Promise<string | undefined> {
  probing ??= runFile('iptables', ['-w', '-t', 'nat', '-n', '-L', 'POSTROUTING'], false).then(
    (probe) => (probe.exitCode === 0 ? undefined : probe.stderr.split('\n')[0] || `exit ${probe.exitCode}`),
    (err: Error) => err.message,
  );
  return probing;
}
