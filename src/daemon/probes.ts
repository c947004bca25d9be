import type { EnvironmentConfig } from '../config/types.js';
import { dockerHostFor, pingDocker } from '../docker/endpoint.js';
import type { Step } from '../plan/steps.js';
import { UserError } from '../util/errors.js';
import { lazyExeca } from '../util/lazyExeca.js';

/** Questions asked of this host and of the remote daemon at connect, answered by trying. */

/** localMasquerade by default on a host without iptables: a warning, not a failure (explicitly asked for: a failure). */
export async function withoutMissingIptables(env: EnvironmentConfig, steps: Step[], progress: (line: string) => void): Promise<Step[]> {
  const isRule = (s: Step): boolean => s.apply.side === 'local' && s.apply.op === 'iptables';
  if (!steps.some(isRule)) return steps;
  const execa = await lazyExeca();
  const probe = await execa('iptables', ['-w', '-t', 'nat', '-n', '-L', 'POSTROUTING'], { reject: false });
  if (probe.exitCode === 0) return steps;
  const why = `iptables does not work here (${String(probe.stderr || probe.message).split('\n')[0]})`;
  if (env.explicit.localMasquerade) throw new UserError(`${env.source}: environments.${env.name}.localMasquerade: ${why}`);
  progress(`warning: local containers will not reach the tunnel: ${why}`);
  return steps.filter((s) => !isRule(s));
}

/** The remote docker daemon answers /_ping through the tunnel, or a UserError. */
export async function checkDocker(env: EnvironmentConfig, progress: (line: string) => void): Promise<void> {
  const host = dockerHostFor(env);
  if (!host) return;
  try {
    await pingDocker(host, 5000);
  } catch (err) {
    throw new UserError(
      `docker at ${host} (remote ${env.docker.mode === 'socket' ? env.docker.remoteSocket : env.docker.host}) did not answer /_ping: ${(err as Error).message}`,
    );
  }
  progress(`docker: ${host} answers /_ping`);
}
