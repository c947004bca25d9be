import fs from 'node:fs';
import { shownRoutes } from '../config/routes.js';
import { shownPairs } from '../config/tunnelPair.js';
import { findEnvironment, loadConfig } from '../config/load.js';
import { invokingUser, type InvokingUser } from '../util/user.js';
import type { EnvironmentConfig } from '../config/types.js';
import { requestControl } from '../daemon/control.js';
import { describeDown, downExitCode } from '../daemon/teardown.js';
import { describeRoute, sshRouteFor, type SshRoute } from '../ssh/route.js';
import { hopLimits, startTransport } from '../ssh/transport.js';
import type { Level } from '../util/log.js';
import { openLog } from '../native/journald.js';
import { currentPlatform, preloadLocalNet } from '../platform/index.js';
import { UserError } from '../util/errors.js';
import { bootRecordFile, controlSocket, journalFile, userBootRecordFile } from '../util/paths.js';
import { checkJournalOwner, readJournal } from '../plan/apply.js';
import { installedHelper, privsepWanted, type CommonArgs } from './common.js';
import { checkFolderOwner, cleanupAsOwner, connectInstalled, dropTo, folderUser, runAsOwner, runFolderOwner, startHelperAndDrop } from './privsep.js';
import type { HelperClient } from '../helper/client.js';
import { presence } from './presence.js';
import { notify, notifyDone, receiveGo, type ControllerMessage } from './protocol.js';
import { plain } from '../util/plain.js';
import { Phases } from '../util/phases.js';
import { capYoungGeneration } from '../util/nodeFlags.js';
import { performance } from 'node:perf_hooks';
import { processAlive } from '../util/processAlive.js';

/** An environment's lifecycle from the command line: the controller in the foreground, disconnect, cleanup, list (connect.ts starts one in the background, presence.ts says whether one runs). */

/** Before connecting: refuse a running controller, clean up after a dead one. */
export async function clearTheWay(
  env: EnvironmentConfig,
  args: { agent?: string | undefined; config?: string | undefined },
  progress: (l: string) => void,
): Promise<void> {
  const p = (await presence(env.name)).state;
  if (p === 'up') throw new UserError(`${env.name} is connected already`);
  if (p === 'stale') {
    progress(`cleanup: a previous controller for ${env.name} died; undoing what it left`);
    const owner = runFolderOwner(env.name);
    if (owner !== undefined && owner !== 0 && process.geteuid?.() === 0) {
      // a --privsep controller's: root's part here, its user's in a process of theirs; this one stays root
      folderUser(env.name, owner); // refuses another user's leftovers: theirs to clean up
      const code = await cleanupAsOwner(env.name, args);
      if (code !== 0) progress(`cleanup: could not undo all of what it left (cloudbridge cleanup ${env.name})`);
      return;
    }
    const { cleanupStale } = await import('../daemon/cleanup.js');
    const r = await cleanupStale(env, { user: invokingUser(), agent: args.agent, progress });
    if (r.errors.length) progress(`cleanup: could not undo: ${r.errors.join('; ')}`);
  }
}

/**
 * Passphrases for encrypted keys: the waiting `connect` sends them down fd 3
 * with its go-ahead (protocol.ts); in the foreground on a terminal we ask
 * (passphrases.ts, which loads ssh2: not before the controller is on its way).
 */
async function passphrasesFor(route: SshRoute, sent: Map<string, string> | undefined, agent: string | undefined): Promise<Map<string, string>> {
  if (sent) return sent;
  if (!process.stdin.isTTY) return new Map();
  return (await import('./passphrases.js')).askForKeys(route, agent);
}

/**
 * The controller's last line of defence: an error that escaped every handler
 * (a bug meeting input from the server, the docker daemon, a DNS resolver,
 * a SOCKS client) is logged with its stack, and the tunnel stays up. The
 * services are written not to need this; the tests feed them junk to hold
 * that (test/e2e/security.test.ts).
 */
function keepGoingOnStrayErrors(log: (line: string) => void): void {
  // stderr is the log file in the background (connect.ts): on a full disk its writes fail, and an
  // unheard 'error' there would be an uncaught exception of its own; the log writer counts what it lost
  process.stderr.on('error', () => undefined);
  process.on('uncaughtException', (err) => log(`error (kept running): ${err.stack ?? String(err)}`));
  process.on('unhandledRejection', (err) => log(`error (kept running): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
}

/** Runs the controller in this process until it goes down: in the foreground, or as the background controller a waiting `connect` hears from (protocol.ts). */
export async function runController(
  envName: string,
  args: CommonArgs & {
    force: boolean;
    agent?: string | undefined;
    background: boolean;
    controlUser: boolean;
    verbose: number;
    privsep?: boolean | undefined;
    startedAt?: number | undefined;
    /** The --privsep helper, started before this process loaded its code (background.ts). */
    spawnedHelper?: HelperClient | undefined;
  },
): Promise<number> {
  // the background controller changes nothing before `connect` says go (it checks meanwhile that the environment is down)
  const go = args.background ? await receiveGo() : undefined;
  if (go === 'abort') return 0;
  if (args.background && !go) throw new UserError('the connect command that started this controller went away before sending what it asked for');
  const phases = new Phases(args.startedAt);
  if (args.background) phases.mark('controller started', performance.timeOrigin);
  phases.mark('controller code loaded');
  // with --privsep the log is opened while root may, and root is given up before the config is read
  const privsep = privsepWanted(args.privsep);
  const early = privsep ? openLog(envName) : undefined;
  // a user's own controller, where the installed helper listens: no sudo at all
  // root reads nothing of the user's first, not even a controller's answer: the run folder is claimed
  // (another user's refused), the helper refuses an environment that is up, and a dead one's leftovers
  // are undone by the helper (its journal) and, as the user, by clearTheWay below
  const helper = privsep ? startHelperAndDrop(envName, args.spawnedHelper) : installedHelper() ? await connectInstalled(envName) : undefined;
  const env = findEnvironment(loadConfig(args.config), envName);
  const user = invokingUser();
  const route = sshRouteFor(env, user);
  phases.mark('config read');
  // Everything the controller says goes to its log (util/log.ts), which outlives it
  const writer = early ?? openLog(env.name);
  const logLine = (line: string, level?: Level): void => writer.write(line, level);
  logLine(`connect: controller ${process.pid}${args.background ? '' : ' (foreground)'}, ${describeRoute(route)}`);
  const debug = args.verbose >= 2 ? (line: string): void => logLine(line, 'debug') : undefined;
  // The SSH, netlink and tun machinery loads only in the process that runs
  // the controller. SSH first: sshd's side of the handshake (~80 ms here, the
  // process mostly idle) then goes on while the controller's code loads and
  // the local side is set up; started after them, its replies wait for a
  // busy thread and it took twice as long.
  let ready = false;
  const report = (msg: ControllerMessage): void => {
    if (args.background && !ready) notify(msg);
  };
  report({ began: true });
  // Until ready, progress goes to whoever waits on `connect`; after it, to the log.
  const progress = (line: string): void => {
    logLine(line);
    if (ready) return;
    if (args.background) report({ progress: line });
    else process.stderr.write(`${plain(line)}\n`);
  };
  const session = import('../ssh/session.js');
  const passphrases = await passphrasesFor(route, go, args.agent);
  const sshOpts = { user, agent: args.agent, passphrases, debug, warn: progress };
  // the connection itself (or the jump process, a ProxyCommand) before ssh2 loads: see transport.ts
  const transport = env.onDemand ? undefined : startTransport(route, hopLimits(env), sshOpts);
  const { connectSsh } = await session;
  // a route over the server's address is pinned (daemon/pins.ts) before the routes go in
  const firstLink = transport && connectSsh(env, route, { ...sshOpts, transport });
  firstLink?.then(
    () => phases.mark('ssh connected'),
    () => undefined,
  );
  const code = import('../daemon/controller.js');
  preloadLocalNet(currentPlatform());
  if (!args.background) await clearTheWay(env, args, progress);
  const { Controller } = await code;
  const controller = new Controller(env, {
    user,
    route,
    force: args.force,
    agent: args.agent,
    passphrases,
    controlUser: args.controlUser,
    progress,
    log: logLine,
    logFlows: args.verbose > 0,
    debug,
    firstLink,
    helper,
    phases,
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => void controller.down({ kind: 'signal', signal: sig }));
  }
  keepGoingOnStrayErrors((line) => logLine(line, 'error'));
  try {
    await controller.up();
  } catch (err) {
    logLine(`connect failed: ${(err as Error).message}`, 'error');
    throw err;
  }
  phases.mark('up');
  phases.freeze();
  // start-up's code is loaded: from here on the packet rate would grow the young generation
  capYoungGeneration();
  logLine(
    `connect: ${phases
      .list()
      .map((p) => `${p.phase} ${p.ms}`)
      .join(', ')} (ms)`,
  );
  report({ ready: true, status: controller.status() });
  ready = true;
  if (args.background) await notifyDone();
  else progress(`${env.name}: up (Ctrl-C to disconnect)`);
  const reason = await controller.done;
  logLine(`down (${describeDown(reason)})`);
  process.stderr.write(`${env.name}: down (${plain(describeDown(reason))})\n`);
  return downExitCode(reason);
}

export async function disconnect(envName: string, args: CommonArgs & { asOwner?: boolean }): Promise<number> {
  // a --privsep controller's journal and control socket are its user's, never read by root: the folder says whose it is
  const owner = runFolderOwner(envName);
  const theirs = process.geteuid?.() === 0 && owner !== undefined && owner !== 0;
  // the caller may (they, or root acting for no one), or is told whose it is
  if (theirs && args.asOwner) dropTo(folderUser(envName, owner));
  // as root, presence only sees whether a user's controller answers (presence.ts)
  const { state, status } = await presence(envName);
  if (state === 'down') throw new UserError(`${envName} is not connected`);
  if (state === 'stale') return cleanup(envName, args);
  if (owner !== undefined && owner !== 0) checkFolderOwner(envName, owner, invokingUser());
  // the asking and the answer are theirs, in a process of theirs
  if (theirs && !args.asOwner) return runAsOwner('disconnect', envName, args);
  if (!status) throw new UserError(`${envName}: the control socket is not yours to use (try sudo)`);
  if (owner === undefined || owner === 0) checkJournalOwner(readJournal(journalFile(envName)), envName, invokingUser());
  const res = await requestControl<{ errors: string[] }>(controlSocket(envName), { cmd: 'down' });
  // Wait for the process itself, so that a following connect finds a clean slate.
  for (let i = 0; i < 100 && processAlive(status.pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (res.errors.length) {
    process.stderr.write(`${envName}: disconnected, but could not undo: ${plain(res.errors.join('; '))}\n`);
    return 1;
  }
  process.stderr.write(`${envName}: disconnected\n`);
  return 0;
}

export async function cleanup(envName: string, args: CommonArgs & { agent?: string | undefined; asOwner?: boolean }): Promise<number> {
  const p = (await presence(envName)).state;
  if (p === 'up') throw new UserError(`${envName} is running: use cloudbridge disconnect ${envName}`);
  if (p === 'down') return cleanupAfterBoot(envName, args);
  const owner = runFolderOwner(envName);
  if (owner !== undefined && owner !== 0 && process.geteuid?.() === 0) {
    const user = folderUser(envName, owner);
    if (!args.asOwner) return cleanupAsOwner(envName, args);
    dropTo(user);
    return cleanupFor(envName, args, user);
  }
  return cleanupFor(envName, args, invokingUser());
}

/**
 * `cleanup` of an environment that is down. A reboot in the middle of a run
 * leaves what a boot does not undo in boot records: root's (DNS here, and a
 * root controller's steps on the server), undone by root; and a
 * helper-served controller's own (its steps on the server), undone as its
 * user, in a process of theirs when root was asked: root only sees that
 * the file is there, and never reads it.
 */
async function cleanupAfterBoot(envName: string, args: CommonArgs & { agent?: string | undefined; asOwner?: boolean }): Promise<number> {
  const user = invokingUser();
  const root = process.geteuid?.() === 0;
  if (root && args.asOwner) {
    if (user.uid === 0) return 0;
    dropTo(user);
  }
  const theirs = user.uid !== 0 ? userBootRecordFile(envName, user) : undefined;
  const file = root && !args.asOwner ? bootRecordFile(envName) : theirs;
  const handOver = root && !args.asOwner && theirs !== undefined && fs.existsSync(theirs);
  let code = 0;
  // this host's side first (a full tunnel's DNS must be back before the server's name is looked up): with the
  // installed helper, root's boot record is the helper's to undo, at hello
  const byHelper = !root && fs.existsSync(bootRecordFile(envName)) && installedHelper();
  const helperSaid = byHelper ? await helperSession(envName).catch((err: Error) => err.message) : undefined;
  if (helperSaid) {
    process.stderr.write(`${envName}: could not undo: ${plain(helperSaid)}\n`);
    code = 1;
  }
  if (file && fs.existsSync(file)) {
    const { restoreLeftByBoot } = await import('../daemon/cleanup.js');
    const env = findEnvironment(loadConfig(args.config), envName);
    const errors = await restoreLeftByBoot(
      env,
      { user, agent: args.agent, progress: (l) => process.stderr.write(`${plain(l)}\n`) },
      file === theirs ? file : undefined,
    );
    process.stderr.write(errors.length ? `${envName}: could not undo: ${plain(errors.join('; '))}\n` : `${envName}: cleaned up\n`);
    if (errors.length) code = 1;
  } else if (byHelper && !helperSaid) process.stderr.write(`${envName}: cleaned up\n`);
  else if (!handOver && !args.asOwner && !byHelper) process.stderr.write(`${envName}: nothing to clean up\n`);
  return handOver ? Math.max(code, await runAsOwner('cleanup', envName, args)) : code;
}

/**
 * A session with the installed helper that asks nothing, for a member of its
 * group (not root): at hello it undoes what a reboot left of this host's side
 * (root's boot record) and a dead helper's journal, at the end it removes the
 * emptied run folder from root's. Resolves undefined when there is no such
 * helper to ask; rejects with what hello refused.
 */
async function helperSession(envName: string): Promise<undefined> {
  if (process.geteuid?.() === 0 || !installedHelper()) return undefined;
  const h = await connectInstalled(envName);
  await h.close();
  return undefined;
}

/** Undoes a dead controller's journal for `user` (the process is root, or that user). */
async function cleanupFor(envName: string, args: CommonArgs & { agent?: string | undefined }, user: InvokingUser): Promise<number> {
  const env = findEnvironment(loadConfig(args.config), envName);
  const { cleanupStale } = await import('../daemon/cleanup.js');
  const r = await cleanupStale(env, { user, agent: args.agent, progress: (l) => process.stderr.write(`${plain(l)}\n`) });
  // a member of the installed helper's group has emptied their run folder, which sits in root's: the helper removes it
  if (runFolderOwner(envName) !== undefined) await helperSession(envName).catch(() => undefined);
  if (r.errors.length) {
    process.stderr.write(`${envName}: cleaned up, but could not undo: ${plain(r.errors.join('; '))}\n`);
    return 1;
  }
  process.stderr.write(`${envName}: cleaned up\n`);
  return 0;
}

export async function list(args: CommonArgs & { json: boolean }): Promise<number> {
  const config = loadConfig(args.config);
  const rows = [];
  for (const env of config.environments.values()) {
    rows.push({
      env: env.name,
      host: env.host,
      tunnel: env.tunnel ? shownPairs(env.tunnel) : 'no tunnel',
      routes: shownRoutes(env),
      state: (await presence(env.name)).state,
    });
  }
  if (args.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else {
    const state = (p: string): string => (p === 'stale' ? 'stale (cloudbridge cleanup)' : p);
    for (const r of rows)
      process.stdout.write(
        `${r.env.padEnd(13)} ${state(r.state).padEnd(6)} ${r.host}  ${r.tunnel}${r.routes.length ? `  routes ${r.routes.join(', ')}` : ''}\n`,
      );
  }
  return 0;
}
