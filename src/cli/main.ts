#!/usr/bin/env node
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { findEnvironment, invokingUser, loadConfig } from '../config/load.js';
import type { Status } from '../daemon/controller.js';
import { requestControl } from '../daemon/control.js';
import { controlSocket, envRunDir, logFile, runDir } from '../util/paths.js';
import type { EnvironmentConfig } from '../config/types.js';
import { dockerHostFor } from '../docker/endpoint.js';
import { errorMessage, UserError } from '../util/errors.js';
import { formatStatus } from './format.js';
import { dryRunPlan, formatPlan } from './dryRun.js';
import { findAgent } from '../ssh/agent.js';
import { agentKeys } from '../ssh/keys.js';
import { askPassphrases, encryptedKeys } from '../ssh/passphrase.js';
import { CONTROLLER_NODE_FLAGS } from '../util/nodeFlags.js';
import { launchdLabel, launchdPlist, systemdUnit, systemdUnitName } from '../service/units.js';
import { currentPlatform, listenAddress, type PlatformName } from '../platform/index.js';
import { shellJoin } from '../util/quote.js';
import { dockerRunArgs, proxyVars, type ContainerNeeds } from './run.js';
import { lazyExeca } from '../util/lazyExeca.js';

interface CommonArgs {
  config: string | undefined;
}

function requireRoot(what: string, env?: string): void {
  if (process.geteuid?.() !== 0) {
    throw new UserError(`cloudbridge ${what} needs root (try: sudo cloudbridge ${what}${env ? ` ${env}` : ''})`);
  }
}

type ControllerPresence = 'running' | 'stale' | 'none';

/**
 * running: a controller answers (with its status, when we may ask); stale:
 * one left files and died; none: nothing there.
 */
async function presence(env: string): Promise<{ state: ControllerPresence; status?: Status }> {
  try {
    return { state: 'running', status: await requestControl<Status>(controlSocket(env), { cmd: 'status' }, 3000) };
  } catch (err) {
    // a user who is not root cannot ask, but a socket they cannot open is a live one's
    if ((err as NodeJS.ErrnoException).code === 'EACCES') return { state: 'running' };
  }
  return { state: fs.existsSync(envRunDir(env)) ? 'stale' : 'none' };
}

/** Before connecting: refuse a running controller, clean up after a dead one. */
async function clearTheWay(env: EnvironmentConfig, args: { agent?: string | undefined }, progress: (l: string) => void): Promise<void> {
  const p = (await presence(env.name)).state;
  if (p === 'running') throw new UserError(`${env.name} is connected already`);
  if (p === 'stale') {
    progress(`cleanup: a previous controller for ${env.name} died; undoing what it left`);
    const { cleanupStale } = await import('../daemon/cleanup.js');
    const r = await cleanupStale(env, { user: invokingUser(), agent: args.agent, progress });
    if (r.errors.length) progress(`cleanup: could not undo: ${r.errors.join('; ')}`);
  }
}

const logLine = (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`);

/** Runs the controller in this process until it goes down. */
/**
 * Passphrases for encrypted keys: the waiting `connect` sends them down fd 3
 * (never argv or the environment); in the foreground on a terminal we ask.
 */
async function passphrasesFor(env: EnvironmentConfig, fromFd: boolean, agent: string | undefined): Promise<Map<string, string>> {
  if (fromFd) {
    try {
      return new Map(Object.entries(JSON.parse(fs.readFileSync(3, 'utf8') || '{}') as Record<string, string>));
    } catch {
      return new Map();
    }
  }
  if (!process.stdin.isTTY) return new Map();
  // as ssh: a key the agent holds is not asked for
  const user = invokingUser();
  const files = encryptedKeys(env, user, await agentKeys(findAgent(user, agent)));
  return files.length > 0 ? askPassphrases(files) : new Map();
}

async function runForeground(envName: string, args: CommonArgs & { force: boolean; agent?: string | undefined; notify: boolean; controlUser: boolean; verbose: boolean }): Promise<number> {
  const env = findEnvironment(loadConfig(args.config), envName);
  const passphrases = await passphrasesFor(env, args.notify, args.agent);
  let ready = false;
  const report = (msg: object): void => {
    if (args.notify && !ready) process.stdout.write(`${JSON.stringify(msg)}\n`);
  };
  // Until ready, progress goes to whoever waits on `connect`; after it, to the log.
  const progress = (line: string): void => {
    if (ready) logLine(line);
    else if (args.notify) report({ progress: line });
    else process.stderr.write(`${line}\n`);
  };
  if (!args.notify) await clearTheWay(env, args, progress);
  // the SSH, netlink and tun machinery loads only in the process that runs the controller
  const { Controller } = await import('../daemon/controller.js');
  const controller = new Controller(env, { user: invokingUser(), force: args.force, agent: args.agent, passphrases, controlUser: args.controlUser, progress, log: logLine, logFlows: args.verbose });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => void controller.down(`signal ${sig}`));
  }
  await controller.up();
  report({ ready: true, status: controller.status() });
  ready = true;
  if (args.notify) fs.closeSync(1); // the waiting `connect` reads until EOF
  else progress(`${env.name}: up (Ctrl-C to disconnect)`);
  const reason = await controller.done;
  process.stderr.write(`${env.name}: down (${reason})\n`);
  return reason === 'disconnect requested' || reason.startsWith('signal') ? 0 : 1;
}

/** Starts the controller in the background and waits until the tunnel passes traffic. */
async function connectBackground(envName: string, args: CommonArgs & { force: boolean; agent?: string | undefined; json: boolean; verbose: boolean; controlUser: boolean }): Promise<number> {
  const env = findEnvironment(loadConfig(args.config), envName);
  const tty = process.stderr.isTTY;
  const showProgress = (tty || args.verbose) && !args.json;
  await clearTheWay(env, args, (line) => showProgress && process.stderr.write(`  ${line}\n`));
  fs.mkdirSync(envRunDir(env.name), { recursive: true, mode: 0o755 });
  const log = fs.openSync(logFile(env.name), 'a', 0o600);
  const main = fileURLToPath(import.meta.url);
  const childArgs = [...CONTROLLER_NODE_FLAGS, main, 'connect', env.name, '--foreground', '--notify'];
  if (args.config) childArgs.push('--config', path.resolve(args.config));
  if (args.force) childArgs.push('--force');
  if (args.agent) childArgs.push('--agent', args.agent);
  if (args.controlUser) childArgs.push('--control-user');
  if (args.verbose) childArgs.push('--verbose');
  const passphrases = await passphrasesFor(env, false, args.agent);
  const child = spawn(process.execPath, childArgs, { detached: true, stdio: ['ignore', 'pipe', log, 'pipe'] });
  const stdout = child.stdout!;
  fs.closeSync(log);
  // secrets go down a pipe, never argv or the environment
  (child.stdio[3] as import('node:stream').Writable).end(JSON.stringify(Object.fromEntries(passphrases)));
  let status: Status | undefined;
  let error: string | undefined;
  let buf = '';
  stdout.setEncoding('utf8');
  stdout.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let msg: { progress?: string; ready?: boolean; status?: Status; error?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        continue;
      }
      if (msg.progress && showProgress) process.stderr.write(`  ${msg.progress}\n`);
      if (msg.ready) status = msg.status;
      if (msg.error) error = msg.error;
    }
  });
  const exitCode = await new Promise<number | null>((resolve) => {
    stdout.on('end', () => resolve(null));
    child.on('exit', (code) => resolve(code ?? 1));
  });
  if (status) {
    child.unref();
    if (args.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    else process.stderr.write(`${env.name}: up. Use docker with: eval "$(cloudbridge env ${env.name})"\n`);
    return 0;
  }
  if (!error) {
    // The controller died without a word: its log has the reason.
    const text = fs.existsSync(logFile(env.name)) ? fs.readFileSync(logFile(env.name), 'utf8').trim() : '';
    error = text.split('\n').filter(Boolean).pop() ?? `controller exited with ${exitCode}`;
  }
  fs.rmSync(envRunDir(env.name), { recursive: true, force: true });
  throw new UserError(error);
}

async function disconnect(envName: string, args: CommonArgs): Promise<number> {
  const { state, status } = await presence(envName);
  if (state === 'none') throw new UserError(`${envName} is not connected`);
  if (state === 'stale') return cleanup(envName, args);
  if (!status) throw new UserError(`${envName}: the control socket is not root's to use`);
  const res = await requestControl<{ errors: string[] }>(controlSocket(envName), { cmd: 'down' });
  // Wait for the process itself, so that a following connect finds a clean slate.
  for (let i = 0; i < 100 && processAlive(status.pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (res.errors.length) {
    process.stderr.write(`${envName}: disconnected, but could not undo: ${res.errors.join('; ')}\n`);
    return 1;
  }
  process.stderr.write(`${envName}: disconnected\n`);
  return 0;
}

async function cleanup(envName: string, args: CommonArgs & { agent?: string | undefined }): Promise<number> {
  const p = (await presence(envName)).state;
  if (p === 'running') throw new UserError(`${envName} is running: use cloudbridge disconnect ${envName}`);
  if (p === 'none') {
    process.stderr.write(`${envName}: nothing to clean up\n`);
    return 0;
  }
  const env = findEnvironment(loadConfig(args.config), envName);
  const { cleanupStale } = await import('../daemon/cleanup.js');
  const r = await cleanupStale(env, { user: invokingUser(), agent: args.agent, progress: (l) => process.stderr.write(`${l}\n`) });
  if (r.errors.length) {
    process.stderr.write(`${envName}: cleaned up, but could not undo: ${r.errors.join('; ')}\n`);
    return 1;
  }
  process.stderr.write(`${envName}: cleaned up\n`);
  return 0;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function status(envName: string | undefined, json: boolean): Promise<number> {
  const dir = runDir();
  const names = envName ? [envName] : fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  const out: Status[] = [];
  for (const name of names) {
    const p = await presence(name);
    if (p.state === 'stale') process.stderr.write(`${name}: its controller died and left state behind: sudo cloudbridge cleanup ${name}\n`);
    if (p.state !== 'running') {
      if (envName) throw new UserError(`${envName} is not connected`);
      continue;
    }
    // running but not ours to ask: the socket is root's
    if (!p.status) throw new UserError('status needs root: the control socket is root-only (try: sudo cloudbridge status)');
    out.push(p.status);
  }
  process.stdout.write(json ? `${JSON.stringify(out, null, 2)}\n` : formatStatus(out));
  return 0;
}

type Shell = 'bash' | 'zsh' | 'fish' | 'powershell';

/** The lines that set (or, with value undefined, unset) a variable in each shell. */
export function shellLines(shell: Shell, vars: Record<string, string | undefined>): string {
  return Object.entries(vars)
    .map(([k, v]) => {
      const q = (x: string): string => (shell === 'powershell' ? `"${x.replace(/[`"$]/g, '`$&')}"` : `'${x.replace(/'/g, `'\\''`)}'`);
      if (v === undefined) return shell === 'fish' ? `set -e ${k};` : shell === 'powershell' ? `Remove-Item Env:${k} -ErrorAction SilentlyContinue` : `unset ${k}`;
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

async function printEnv(envName: string, args: CommonArgs & { unset: boolean; shell: string }): Promise<number> {
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
async function execIn(envName: string, command: string[], args: CommonArgs): Promise<number> {
  if (command.length === 0) throw new UserError('name a command after --, e.g. cloudbridge exec staging -- docker ps');
  return runCommand(command, await environmentVars(envName, args));
}

/** `docker run` on this host with what the container needs to reach the environment. */
async function runContainer(envName: string, command: string[], args: CommonArgs & { print: boolean }): Promise<number> {
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
async function use(envName: string, args: CommonArgs): Promise<number> {
  const host = await connectedDockerHost(envName, args);
  const { useContext } = await import('../docker/context.js');
  await useContext(invokingUser(), envName).catch((err: Error) => {
    throw new UserError(`${err.message} (is the docker CLI installed, and ${envName} connected by this cloudbridge?)`);
  });
  process.stderr.write(`docker now uses context ${envName} (${host}); DOCKER_HOST, if set, still wins:\n`);
  process.stdout.write(shellLines('bash', { DOCKER_HOST: undefined }));
  return 0;
}

async function list(args: CommonArgs & { json: boolean }): Promise<number> {
  const config = loadConfig(args.config);
  const rows = [];
  for (const env of config.environments.values()) {
    rows.push({ env: env.name, host: env.host, tunnel: `${env.tunnel.local} <-> ${env.tunnel.remote}`, routes: env.routes, state: (await presence(env.name)).state });
  }
  if (args.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else {
    const state = (p: string): string => ({ running: 'up', stale: 'stale (cloudbridge cleanup)', none: 'down' })[p] ?? p;
    for (const r of rows) process.stdout.write(`${r.env.padEnd(13)} ${state(r.state).padEnd(6)} ${r.host}  ${r.tunnel}${r.routes.length ? `  routes ${r.routes.join(', ')}` : ''}\n`);
  }
  return 0;
}

function printPlan(envName: string, args: CommonArgs & { platform: string | undefined; json: boolean }): number {
  const env = findEnvironment(loadConfig(args.config), envName);
  const plan = dryRunPlan(env, (args.platform as PlatformName | undefined) ?? currentPlatform(), invokingUser());
  process.stdout.write(args.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
  return 0;
}

function serviceDir(platform: PlatformName): string {
  return process.env['CLOUDBRIDGE_SERVICE_DIR'] ?? (platform === 'darwin' ? '/Library/LaunchDaemons' : '/etc/systemd/system');
}

function serviceFile(platform: PlatformName, env: string): string {
  return path.join(serviceDir(platform), platform === 'darwin' ? `${launchdLabel(env)}.plist` : systemdUnitName(env));
}

async function installService(envName: string, args: CommonArgs & { print: boolean; platform: string | undefined }): Promise<number> {
  const config = loadConfig(args.config);
  const env = findEnvironment(config, envName);
  const platform = (args.platform as PlatformName | undefined) ?? currentPlatform();
  const spec = { env: env.name, host: env.host, node: process.execPath, cli: fileURLToPath(import.meta.url), config: config.source, user: invokingUser() };
  const text = platform === 'darwin' ? launchdPlist(spec) : systemdUnit(spec);
  if (args.print) {
    process.stdout.write(text);
    return 0;
  }
  requireRoot('install-service', envName);
  const file = serviceFile(platform, env.name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: 0o644 });
  const start = platform === 'darwin' ? `launchctl bootstrap system ${file}` : `systemctl daemon-reload && systemctl enable --now ${systemdUnitName(env.name)}`;
  process.stderr.write(`${env.name}: wrote ${file}; start it with: ${start}\n`);
  return 0;
}

function uninstallService(envName: string, args: { platform: string | undefined }): number {
  requireRoot('uninstall-service', envName);
  const file = serviceFile((args.platform as PlatformName | undefined) ?? currentPlatform(), envName);
  if (!fs.existsSync(file)) throw new UserError(`no service installed for ${envName} (${file})`);
  fs.rmSync(file);
  process.stderr.write(`${envName}: removed ${file} (stop a running one first: systemctl disable --now, or launchctl bootout)\n`);
  return 0;
}

function withConfig<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y.option('config', {
    type: 'string',
    describe: 'config file (default: $CLOUDBRIDGE_CONFIG, ~/.config/cloudbridge/config.yaml, /etc/cloudbridge/config.yaml)',
  }) as Argv<T & CommonArgs>;
}

export async function main(argv: string[]): Promise<number> {
  // `cloudbridge status --json | head`: a reader that goes away is not an error
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  let code = 0;
  const run = (p: Promise<number> | number): Promise<void> =>
    Promise.resolve(p).then((c) => {
      code = c;
    });
  await yargs(argv)
    .scriptName('cloudbridge')
    .usage('$0 <command>\n\nA Layer-3 VPN over SSH: an IP tunnel (tun@openssh.com, as `ssh -w`) to a remote host, its routes, and its Docker daemon.')
    .command(
      'connect <env>',
      'bring an environment up: SSH, tun devices and addresses on both ends, routes, NAT, docker endpoint',
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string', demandOption: true, describe: 'environment name from the config' })
          .option('foreground', { type: 'boolean', default: false, describe: 'stay in the foreground (for service managers); Ctrl-C disconnects' })
          .option('force', { type: 'boolean', default: false, describe: 'route even CIDRs that overlap the host\'s own networks' })
          .option('agent', { type: 'string', describe: 'ssh-agent socket (default: $SSH_AUTH_SOCK)' })
          .option('control-user', { type: 'boolean', default: false, describe: 'let the user who ran sudo query and stop the controller (the control socket is root-only otherwise)' })
          .option('json', { type: 'boolean', default: false, describe: 'print the status as JSON when up' })
          .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'print a line per step even when stderr is not a terminal, and log each new flow through the tunnel (with the allow-list\'s verdict) to the controller log' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print every step on both hosts, and its undo, and change nothing' })
          .option('platform', { choices: ['linux', 'darwin'], describe: 'with --dry-run: plan for this platform instead of this host\'s' })
          .option('notify', { type: 'boolean', default: false, hidden: true }),
      (a) => {
        if (a.dryRun) return run(printPlan(a.env, a));
        if (a.platform) throw new UserError('--platform only goes with --dry-run');
        requireRoot('connect', a.env);
        return run(a.foreground ? runForeground(a.env, a) : connectBackground(a.env, a));
      },
    )
    .command(
      'disconnect <env>',
      'take an environment down, undoing every change on both hosts',
      (y) => withConfig(y).positional('env', { type: 'string', demandOption: true }),
      (a) => {
        requireRoot('disconnect', a.env);
        return run(disconnect(a.env, a));
      },
    )
    .command(
      'cleanup <env>',
      'undo what a crashed controller left on both hosts (connect does this by itself)',
      (y) => withConfig(y).positional('env', { type: 'string', demandOption: true }).option('agent', { type: 'string', describe: 'ssh-agent socket' }),
      (a) => {
        requireRoot('cleanup', a.env);
        return run(cleanup(a.env, a));
      },
    )
    .command(
      'status [env]',
      'show connected environments: devices, addresses, routes, traffic, uptime',
      (y) => y.positional('env', { type: 'string' }).option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
      (a) => run(status(a.env, a.json)),
    )
    .command(
      'env <env>',
      'print the shell lines that point docker at the environment: eval "$(cloudbridge env ENV)"',
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string', demandOption: true })
          .option('shell', { choices: ['bash', 'zsh', 'fish', 'powershell'], default: 'bash', describe: 'syntax of the lines' })
          .option('unset', { type: 'boolean', default: false, describe: 'print the lines that undo it' }),
      (a) => run(printEnv(a.env, a)),
    )
    .command(
      'exec <env> [command..]',
      'run a command with DOCKER_HOST (and, with socks, ALL_PROXY and friends) set for the environment: cloudbridge exec ENV -- docker ps',
      (y) => withConfig(y).positional('env', { type: 'string', demandOption: true }).positional('command', { type: 'string', array: true }),
      (a) => run(execIn(a.env, [...(a.command ?? []), ...((a['--'] as string[] | undefined) ?? [])], a)),
    )
    .command(
      'run <env> [command..]',
      'run a container on this host that reaches the environment: cloudbridge run ENV -- docker run IMAGE …',
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string', demandOption: true })
          .positional('command', { type: 'string', array: true })
          .option('print', { type: 'boolean', default: false, describe: 'print the docker command instead of running it' })
          .epilogue('Adds, right after "run": the SOCKS proxy variables (socks5h://, names resolved on the remote side) when socks listens where containers reach it (docker0:PORT), --dns with the split-DNS forwarder on the docker bridge, and --add-host for the remote containers cloudbridge knows by name. The container runs on this host\'s Docker; its traffic to the routes goes through the tunnel.'),
      (a) => run(runContainer(a.env, [...(a.command ?? []), ...((a['--'] as string[] | undefined) ?? [])], a)),
    )
    .command(
      'use <env>',
      'make the environment your docker CLI\'s current context (connect creates a context named after it)',
      (y) => withConfig(y).positional('env', { type: 'string', demandOption: true }),
      (a) => run(use(a.env, a)),
    )
    .command(
      'list',
      'configured environments and which are up',
      (y) => withConfig(y).option('json', { type: 'boolean', default: false }),
      (a) => run(list(a)),
    )
    .command(
      'doctor <env>',
      'check the remote host\'s prerequisites (sshd PermitTunnel, root, tun, ip, iptables, docker) and say what to change',
      (y) => withConfig(y).positional('env', { type: 'string', demandOption: true }).option('agent', { type: 'string' }).option('json', { type: 'boolean', default: false }),
      async (a) => {
        const env = findEnvironment(loadConfig(a.config), a.env);
        const { doctor, formatFindings } = await import('./doctor.js');
        const findings = await doctor(env, invokingUser(), a.agent);
        process.stdout.write(a.json ? `${JSON.stringify(findings, null, 2)}\n` : formatFindings(findings));
        await run(findings.every((f) => f.ok) ? 0 : 1);
      },
    )
    .completion('completion', 'print a bash/zsh completion script: cloudbridge completion >> ~/.bashrc')
    .command(
      'install-service <env>',
      'write a systemd unit (launchd plist on macOS) that keeps the environment connected, restarting on failure',
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string', demandOption: true })
          .option('print', { type: 'boolean', default: false, describe: 'print it instead of writing it' })
          .option('platform', { choices: ['linux', 'darwin'], describe: 'write the other OS\'s kind of service' }),
      (a) => run(installService(a.env, a)),
    )
    .command(
      'uninstall-service <env>',
      'remove the service file written by install-service',
      (y) => y.positional('env', { type: 'string', demandOption: true }).option('platform', { choices: ['linux', 'darwin'] }),
      (a) => run(uninstallService(a.env, a)),
    )
    .demandCommand(1, 'name a command (see --help)')
    .parserConfiguration({ 'populate--': true })
    .strict()
    .fail((msg, err) => {
      throw err ?? new UserError(msg);
    })
    .help()
    .version()
    .parseAsync();
  return code;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(hideBin(process.argv)).then(
    (code) => {
      process.exitCode = code;
      // Sockets of a finished controller may linger briefly; do not wait on them.
      setTimeout(() => process.exit(code), 100).unref();
    },
    (err: unknown) => {
      if (process.argv.includes('--notify')) process.stdout.write(`${JSON.stringify({ error: errorMessage(err) })}\n`);
      process.stderr.write(`cloudbridge: ${errorMessage(err)}\n`);
      if (!(err instanceof UserError) && process.env['CLOUDBRIDGE_DEBUG']) console.error(err);
      process.exit(err instanceof UserError ? err.exitCode : 1);
    },
  );
}
