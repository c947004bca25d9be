import { findEnvironment, loadConfig } from '../config/load.js';
import { formatEndpoint, isLoopback } from '../config/forwards.js';
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
  if (Object.keys(vars).length === 0) return '';
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
  if (p.state !== 'up') throw new UserError(`${env.name} is not connected (sudo cloudbridge connect ${env.name})`);
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
    urls.push({ url: `socks5h://${auth}${formatEndpoint({ kind: 'inet', host, port: l.port })}`, loopback: isLoopback(host) });
  }
  return {
    proxyForHost: urls.find((u) => u.loopback)?.url ?? urls[0]?.url,
    proxyForBridge: urls.find((u) => !u.loopback)?.url,
    dns: status?.dns?.listen.find((a) => !a.startsWith('127.')),
    hosts: status?.dns?.containers ?? {},
  };
}

/**
 * DOCKER_HOST and, asked for with --proxy and with SOCKS on, the proxy
 * variables. Not by default: HTTPS_PROXY in a shell sends every tool's web
 * traffic, the internet's included, through the remote host.
 */
async function environmentVars(envName: string, args: CommonArgs & { proxy: boolean }): Promise<Record<string, string>> {
  const { env, status } = await connected(envName, args);
  const host = dockerHostFor(env);
  const proxy = args.proxy ? (await containerNeeds(env, status)).proxyForHost : undefined;
  if (args.proxy && !proxy) throw new UserError(`${env.name} has no socks listener on this host: --proxy has nothing to point at`);
  if (!host && !proxy) throw new UserError(`${env.name} has docker.mode: off: nothing to set (with socks, --proxy sets the proxy variables)`);
  const vars: Record<string, string> = host ? { DOCKER_HOST: host } : {};
  for (const [k, v] of Object.entries(proxy ? proxyVars(proxy) : {})) if (v !== undefined) vars[k] = v;
  return vars;
}

/** Where `env` keeps what it changed: the list, and each variable's value before. */
const SET = 'CLOUDBRIDGE_SET';
const prev = (k: string): string => `CLOUDBRIDGE_PREV_${k}`;

/**
 * The assignments `env` prints against the shell's current variables: NO_PROXY
 * extended rather than replaced, each value it replaces kept (once) as
 * CLOUDBRIDGE_PREV_NAME, the names listed in CLOUDBRIDGE_SET; a variable an
 * earlier `env` set and this one does not is put back.
 */
export function settingVars(vars: Record<string, string>, current: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const before = new Set((current[SET] ?? '').split(',').filter(Boolean));
  const out: Record<string, string | undefined> = {};
  for (const k of before) {
    if (k in vars) continue;
    out[k] = current[prev(k)];
    if (current[prev(k)] !== undefined) out[prev(k)] = undefined;
  }
  for (const [k, v] of Object.entries(vars)) {
    const had = current[k];
    const value = k.toLowerCase() === 'no_proxy' && had ? [...new Set([...had.split(','), ...v.split(',')].filter(Boolean))].join(',') : v;
    if (had !== undefined && !before.has(k)) out[prev(k)] = had;
    out[k] = value;
  }
  out[SET] = Object.keys(vars).join(',');
  return out;
}

/** What `env --unset` prints: what `env` changed put back as it was, nothing else touched. */
export function unsettingVars(current: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const k of (current[SET] ?? '').split(',').filter(Boolean)) {
    out[k] = current[prev(k)];
    if (current[prev(k)] !== undefined) out[prev(k)] = undefined;
  }
  if (current[SET] !== undefined) out[SET] = undefined;
  return out;
}

export async function printEnv(envName: string, args: CommonArgs & { unset: boolean; shell: string; proxy: boolean }): Promise<number> {
  const shell = args.shell as Shell;
  if (args.unset) {
    process.stdout.write(shellLines(shell, unsettingVars(process.env)));
    return 0;
  }
  process.stdout.write(`${shellLines(shell, settingVars(await environmentVars(envName, args), process.env))}${evalHint[shell](envName)}\n`);
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
export async function execIn(envName: string, command: string[], args: CommonArgs & { proxy: boolean }): Promise<number> {
  if (command.length === 0) throw new UserError('name a command after --, e.g. cloudbridge exec staging -- docker ps');
  // only the child's environment changes; NO_PROXY is extended there as env does it
  const vars = settingVars(await environmentVars(envName, args), process.env);
  delete vars[SET];
  for (const k of Object.keys(vars)) if (k.startsWith('CLOUDBRIDGE_PREV_')) delete vars[k];
  return runCommand(command, vars);
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
