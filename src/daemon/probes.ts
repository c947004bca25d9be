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
    networks6: tunnel?.local6 !== undefined ? await net.networks6() : [],
  });
  if (problem) throw new UserError(problem);
}

/** Questions asked of this host and of the remote daemon at connect, answered by trying. */

/** localMasquerade by default on a host without iptables: a warning, not a failure (explicitly asked for: a failure). */
export async function withoutMissingIptables(env: EnvironmentConfig, steps: Step[], progress: (line: string) => void): Promise<Step[]> {
  let out = steps;
  for (const cmd of ['iptables', 'ip6tables'] as const) {
    const isRule = (s: Step): boolean => s.apply.side === 'local' && s.apply.op === 'iptables' && !!s.apply.ip6 === (cmd === 'ip6tables');
    if (!out.some(isRule)) continue;
    const failed = await iptablesProbe(cmd);
    if (!failed) continue;
    const why = `${cmd} does not work here (${failed})`;
    if (env.explicit.localMasquerade) throw new UserError(`${env.source}: environments.${env.name}.localMasquerade: ${why}`);
    progress(`warning: local containers will not reach the tunnel${cmd === 'ip6tables' ? ' over IPv6' : ''}: ${why}`);
    out = out.filter((s) => !isRule(s));
  }
  return out;
}

const probing = new Map<string, Promise<string | undefined>>();

/**
 * Whether iptables works here: undefined when it does, else the first line of
 * why not. Asked once per process, and early (controller.up starts it): the
 * probe takes 40-60 ms, which then overlaps the rest of the local set-up.
 */
export function iptablesProbe(cmd: 'iptables' | 'ip6tables' = 'iptables'): Promise<string | undefined> {
  let p = probing.get(cmd);
  if (!p) {
    // as the user (--privsep) the table cannot be read: that the tool runs is what can be asked, the helper's step says the rest
    const args = process.geteuid?.() === 0 ? ['-w', '-t', 'nat', '-n', '-L', 'POSTROUTING'] : ['--version'];
    p = runFile(cmd, args, false).then(
      (probe) => (probe.exitCode === 0 ? undefined : probe.stderr.split('\n')[0] || `exit ${probe.exitCode}`),
      (err: Error) => err.message,
    );
    probing.set(cmd, p);
  }
  return p;
}
