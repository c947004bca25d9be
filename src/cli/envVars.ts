import { findEnvironment, loadConfig } from '../config/load.js';
import { invokingUser } from '../util/user.js';
import type { EnvironmentConfig } from '../config/types.js';
import type { Status } from '../daemon/status.js';
import { dockerHostFor } from '../docker/endpoint.js';
import { listenAddress } from '../platform/index.js';
import { UserError } from '../util/errors.js';
import { lazyExeca } from '../util/lazyExeca.js';
import { shellJoin } from '../util/quote.js';
import type { CommonArgs } from './common.js';
import { presence } from './presence.js';
import { dockerRunArgs, proxyVars, type ContainerNeeds } from './run.js';

/** Pointing tools at a connected environment: env (shell lines), exec, run, use. */

export type Shell = 'bash' | 'zsh' | 'fish' | 'powershell';

/** The lines that set (or, with value undefined, unset) a variable in each shell. */
export function shellLines(shell: Shell, vars: Record<string, string | undefined>): string {
  return Object.entries(vars)
    .map(([k, v]) => {
      const q = (x: string): string => (shell === 'powershell' ? `"${x.replace(/[`"$]/g, '`$&')}"` : `'${x.replace(/'/g, `'\\''`)}'`);
      if (v === undefined)
        return shell === 'fish' ? `set -e ${k};` : shell === 'powershell' ? `Remove-Item Env:${k} -ErrorAction SilentlyContinue` : `unset ${k}`;
      return shell === 'fish' ? `set -gx ${k} ${q(v)};` : shell === 'powershell' ? `$Env:${k} = ${q(v)}` : `export ${k}=${q(v)}`;
    })
    .join('\n')
    .concat('\n');
}

const evalHint: Record<Shell, (env: string) => string> = {
  bash: (e) => `# eval "$(cloudbridge env ${e})"`,
  zsh: (e) => `# eval "$(cloudbridge env ${e} --shell zsh)"`,
  fish: (e) => `# cloudbridge env ${e} --shell fish | source`,
  powershell: (e) => `# cloudbridge env ${e} --shell powershell | Invoke-Expression`,
};

/** A connected environment, with its status when the control socket lets us read it; else a one-line refusal. */
async function connected(envName: string, args: CommonArgs): Promise<{ env: EnvironmentConfig; status: Status | undefined }> {
  const env = findEnvironment(loadConfig(args.config), envName);
  const p = await presence(env.name);
  if (p.state !== 'running') throw new UserError(`${env.name} is not connected (sudo cloudbridge connect ${env.name})`);
  return { env, status: p.status };
}

/** DOCKER_HOST for a connected environment, or a one-line refusal. */
async function connectedDockerHost(envName: string, args: CommonArgs): Promise<string> {
  const { env } = await connected(envName, args);
  const host = dockerHostFor(env);
  if (!host) throw new UserError(`${env.name} has docker.mode: off`);
  return host;
}

/** What a program (or container) on this host needs for the environment: proxy URLs, DNS, remote container names. */
async function containerNeeds(env: EnvironmentConfig, status: Status | undefined): Promise<ContainerNeeds> {
  const urls: { url: string; loopback: boolean }[] = [];
  for (const l of env.socks?.listen ?? []) {
    const host = await listenAddress(l.host);
    if (!host) continue;
    const auth = env.socks!.auth ? `${encodeURIComponent(env.socks!.auth.username)}:${encodeURIComponent(env.socks!.auth.password)}@` : '';
    urls.push({ url: `socks5h://${auth}${host}:${l.port}`, loopback: host.startsWith('127.') });
  }
  return {
    proxyForHost: urls.find((u) => u.loopback)?.url ?? urls[0]?.url,
    proxyForBridge: urls.find((u) => !u.loopback)?.url,
    dns: status?.dns?.listen.find((a) => !a.startsWith('127.')),
    hosts: status?.dns?.containers ?? {},
  };
}

/** DOCKER_HOST and, with SOCKS on, the proxy variables. */
async function environmentVars(envName: string, args: CommonArgs): Promise<Record<string, string | undefined>> {
  const { env, status } = await connected(envName, args);
  const host = dockerHostFor(env);
  const proxy = (await containerNeeds(env, status)).proxyForHost;
  if (!host && !proxy) throw new UserError(`${env.name} has docker.mode: off and no socks: nothing to set`);
  return { ...(host ? { DOCKER_HOST: host } : {}), ...(proxy ? proxyVars(proxy) : {}) };
}

export async function printEnv(envName: string, args: CommonArgs & { unset: boolean; shell: string }): Promise<number> {
  const shell = args.shell as Shell;
  if (args.unset) {
    process.stdout.write(shellLines(shell, { DOCKER_HOST: undefined, ...proxyVars(undefined) }));
    return 0;
  }
  process.stdout.write(`${shellLines(shell, await environmentVars(envName, args))}${evalHint[shell](envName)}\n`);
  return 0;
}

/** Runs a command and returns its exit code; a command that cannot start is a one-line error. */
async function runCommand(command: readonly string[], env: Record<string, string | undefined>): Promise<number> {
  const execa = await lazyExeca();
  const r = await execa(command[0]!, command.slice(1), { stdio: 'inherit', reject: false, env });
  if (r.failed && r.exitCode === undefined) throw new UserError(`${command[0]}: ${r.shortMessage ?? 'could not run'}`);
  return r.exitCode ?? 1;
}

/** Runs a command with DOCKER_HOST (and proxies) set for the environment; its exit code is ours. */
export async function execIn(envName: string, command: string[], args: CommonArgs): Promise<number> {
  if (command.length === 0) throw new UserError('name a command after --, e.g. cloudbridge exec staging -- docker ps');
  return runCommand(command, await environmentVars(envName, args));
}

/** `docker run` on this host with what the container needs to reach the environment. */
export async function runContainer(envName: string, command: string[], args: CommonArgs & { print: boolean }): Promise<number> {
  const { env, status } = await connected(envName, args);
  const { args: argv, warnings } = dockerRunArgs(command, await containerNeeds(env, status));
  for (const w of warnings) process.stderr.write(`cloudbridge: warning: ${w}\n`);
  if (args.print) {
    process.stdout.write(`${shellJoin(argv)}\n`);
    return 0;
  }
  return runCommand(argv, {});
}

/** Switches the invoking user's docker CLI to the environment's context. */
export async function use(envName: string, args: CommonArgs): Promise<number> {
  const host = await connectedDockerHost(envName, args);
  const { useContext } = await import('../docker/context.js');
  await useContext(invokingUser(), envName).catch((err: Error) => {
    throw new UserError(`${err.message} (is the docker CLI installed, and ${envName} connected by this cloudbridge?)`);
  });
  process.stderr.write(`docker now uses context ${envName} (${host}); DOCKER_HOST, if set, still wins:\n`);
  process.stdout.write(shellLines('bash', { DOCKER_HOST: undefined }));
  return 0;
}
