import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findEnvironment, loadConfig } from '../config/load.js';
import { invokingUser } from '../util/user.js';
import type { EnvironmentConfig } from '../config/types.js';
import { requestControl } from '../daemon/control.js';
import type { Status } from '../daemon/status.js';
import { findAgent } from '../ssh/agent.js';
import { agentKeys } from '../ssh/keys.js';
import { askPassphrases, encryptedKeys } from '../ssh/passphrase.js';
import { sshRouteFor, type SshRoute } from '../ssh/route.js';
import { UserError } from '../util/errors.js';
import { controlSocket, envRunDir, logFile, runDir } from '../util/paths.js';
import type { CommonArgs } from './common.js';
import { formatStatus } from './format.js';
import { notify, notifyDone, receivePassphrases, startController, type ControllerMessage } from './protocol.js';

/** An environment's lifecycle from the command line: connect (both ways), disconnect, cleanup, status, list. */

/** The CLI's entry point, which the background controller runs too. */
const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

type ControllerPresence = 'running' | 'stale' | 'none';

/**
 * running: a controller answers (with its status, when we may ask); stale:
 * one left files and died; none: nothing there.
 */
export async function presence(env: string): Promise<{ state: ControllerPresence; status?: Status }> {
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

/**
 * Passphrases for encrypted keys: the waiting `connect` sends them down fd 3
 * (protocol.ts); in the foreground on a terminal we ask.
 */
async function passphrasesFor(route: SshRoute, fromFd: boolean, agent: string | undefined): Promise<Map<string, string>> {
  if (fromFd) return receivePassphrases();
  if (!process.stdin.isTTY) return new Map();
  // as ssh: a key the agent holds is not asked for
  const user = invokingUser();
  const files = encryptedKeys(route, user, await agentKeys(findAgent(user, agent), user));
  return files.length > 0 ? askPassphrases(files, user) : new Map();
}

/**
 * The controller's last line of defence: an error that escaped every handler
 * (a bug meeting input from the server, the docker daemon, a DNS resolver,
 * a SOCKS client) is logged with its stack, and the tunnel stays up. The
 * services are written not to need this; the tests feed them junk to hold
 * that (test/e2e/security.test.ts).
 */
function keepGoingOnStrayErrors(log: (line: string) => void): void {
  process.on('uncaughtException', (err) => log(`error (kept running): ${err.stack ?? String(err)}`));
  process.on('unhandledRejection', (err) => log(`error (kept running): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
}

/** Runs the controller in this process until it goes down (--notify: for a waiting `connect`, protocol.ts). */
export async function runForeground(
  envName: string,
  args: CommonArgs & { force: boolean; agent?: string | undefined; notify: boolean; controlUser: boolean; verbose: boolean },
): Promise<number> {
  const env = findEnvironment(loadConfig(args.config), envName);
  const user = invokingUser();
  const route = sshRouteFor(env, user);
  const passphrases = await passphrasesFor(route, args.notify, args.agent);
  let ready = false;
  const report = (msg: ControllerMessage): void => {
    if (args.notify && !ready) notify(msg);
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
  const controller = new Controller(env, {
    user,
    route,
    force: args.force,
    agent: args.agent,
    passphrases,
    controlUser: args.controlUser,
    progress,
    log: logLine,
    logFlows: args.verbose,
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => void controller.down(`signal ${sig}`));
  }
  keepGoingOnStrayErrors(logLine);
  await controller.up();
  report({ ready: true, status: controller.status() });
  ready = true;
  if (args.notify) await notifyDone();
  else progress(`${env.name}: up (Ctrl-C to disconnect)`);
  const reason = await controller.done;
  process.stderr.write(`${env.name}: down (${reason})\n`);
  return reason === 'disconnect requested' || reason.startsWith('signal') ? 0 : 1;
}

/** Starts the controller in the background and waits until the tunnel passes traffic. */
export async function connectBackground(
  envName: string,
  args: CommonArgs & { force: boolean; agent?: string | undefined; json: boolean; verbose: boolean; controlUser: boolean },
): Promise<number> {
  const env = findEnvironment(loadConfig(args.config), envName);
  const tty = process.stderr.isTTY;
  const showProgress = (tty || args.verbose) && !args.json;
  await clearTheWay(env, args, (line) => showProgress && process.stderr.write(`  ${line}\n`));
  fs.mkdirSync(envRunDir(env.name), { recursive: true, mode: 0o755 });
  const log = fs.openSync(logFile(env.name), 'a', 0o600);
  const childArgs = ['connect', env.name, '--foreground', '--notify'];
  if (args.config) childArgs.push('--config', path.resolve(args.config));
  if (args.force) childArgs.push('--force');
  if (args.agent) childArgs.push('--agent', args.agent);
  if (args.controlUser) childArgs.push('--control-user');
  if (args.verbose) childArgs.push('--verbose');
  const passphrases = await passphrasesFor(sshRouteFor(env, invokingUser()), false, args.agent);
  const started = await startController(MAIN, childArgs, log, passphrases, (line) => showProgress && process.stderr.write(`  ${line}\n`));
  const { status, exitCode } = started;
  let { error } = started;
  if (status) {
    started.release();
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

export async function disconnect(envName: string, args: CommonArgs): Promise<number> {
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

export async function cleanup(envName: string, args: CommonArgs & { agent?: string | undefined }): Promise<number> {
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

export async function status(envName: string | undefined, json: boolean): Promise<number> {
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

export async function list(args: CommonArgs & { json: boolean }): Promise<number> {
  const config = loadConfig(args.config);
  const rows = [];
  for (const env of config.environments.values()) {
    rows.push({
      env: env.name,
      host: env.host,
      tunnel: env.tunnel ? `${env.tunnel.local} <-> ${env.tunnel.remote}` : 'no tunnel',
      routes: env.routes,
      state: (await presence(env.name)).state,
    });
  }
  if (args.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else {
    const state = (p: string): string => ({ running: 'up', stale: 'stale (cloudbridge cleanup)', none: 'down' })[p] ?? p;
    for (const r of rows)
      process.stdout.write(
        `${r.env.padEnd(13)} ${state(r.state).padEnd(6)} ${r.host}  ${r.tunnel}${r.routes.length ? `  routes ${r.routes.join(', ')}` : ''}\n`,
      );
  }
  return 0;
}
