import { userAtHost } from '../ssh/route.js';
import { shownRoutes } from '../config/routes.js';
import { shownPairs } from '../config/tunnelPair.js';
import { loadConfig } from '../config/load.js';
import type { EnvironmentConfig } from '../config/types.js';
import { clashWithOthers } from '../daemon/preflight.js';
import { errorMessage } from '../util/errors.js';
import type { CommonArgs } from './common.js';
import { plain } from '../util/plain.js';

/** One environment as the config resolves it (its SSH side as written; `connect --dry-run` shows ssh_config's reading). */
function summary(e: EnvironmentConfig): Record<string, unknown> {
  return {
    name: e.name,
    host: e.host,
    port: e.port,
    user: e.user,
    tunnel: e.tunnel
      ? {
          local: e.tunnel.local ?? null,
          remote: e.tunnel.remote ?? null,
          local6: e.tunnel.local6 ?? null,
          remote6: e.tunnel.remote6 ?? null,
          device: e.tunnel.device,
          mtu: e.tunnel.mtuAuto ? 'auto' : e.tunnel.mtu,
        }
      : false,
    routes: shownRoutes(e),
    nat: e.nat,
    docker: e.docker.mode,
  };
}

/**
 * Environments whose tunnel addresses or routes overlap stay valid (staging
 * and prod often share a VPC range); these pairs cannot be up at the same
 * time, which connect refuses naming the first (preflight.ts): said here ahead.
 */
function notTogether(envs: readonly EnvironmentConfig[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < envs.length; i++) {
    for (const b of envs.slice(i + 1)) {
      const a = envs[i]!;
      if (!a.tunnel || !b.tunnel) continue;
      const t = b.tunnel;
      const why = clashWithOthers(a, [
        {
          env: b.name,
          local: t.local ?? '',
          remote: t.remote ?? '',
          local6: t.local6 ?? '',
          remote6: t.remote6 ?? '',
          localDevice: b.tunnel.device,
          routes: shownRoutes(b),
        },
      ]);
      if (why) out.push(`${a.name} and ${b.name} cannot be up at the same time: ${why.replace(/, which is connected$/, '')}`);
    }
  }
  return out;
}

/** `cloudbridge config check [--json]`: the config validated without connecting; 0 when it is valid, 1 with its one-line error. */
export function configCheck(args: CommonArgs & { json: boolean }): number {
  let config;
  try {
    config = loadConfig(args.config);
  } catch (err) {
    if (args.json) process.stdout.write(`${JSON.stringify({ ok: false, error: errorMessage(err) }, null, 2)}\n`);
    else process.stderr.write(`cloudbridge: ${plain(errorMessage(err))}\n`);
    return 1;
  }
  const envs = [...config.environments.values()];
  const notes = notTogether(envs);
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ok: true, source: config.source, environments: envs.map(summary), notTogether: notes }, null, 2)}\n`);
    return 0;
  }
  const lines = [`${config.source}: ${envs.length} environment${envs.length === 1 ? '' : 's'}, valid`];
  for (const e of envs) {
    const t = e.tunnel ? `${shownPairs(e.tunnel)} on ${e.tunnel.device}` : 'no tunnel';
    lines.push(`  ${e.name.padEnd(13)} ${userAtHost(e)}  ${t}${shownRoutes(e).length ? `  routes ${shownRoutes(e).join(', ')}` : ''}  docker ${e.docker.mode}`);
  }
  for (const n of notes) lines.push(`note: ${n}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
