import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ENV_NAME } from '../util/envName.js';
import { UserError } from '../util/errors.js';
import type { Socket } from 'node:net';
import { journalAvailable, journalWhere, logFile, parseLogLine, readFrom, rotateIfFull } from '../util/log.js';
import { appendOwn } from '../util/ownFile.js';
import { envRunDir, removeRunFolder } from '../util/paths.js';
import { cliEntry, privsepWanted, type CommonArgs } from './common.js';
import type { BackgroundArgs } from './quick.js';
import { startController } from './protocol.js';
import { plain } from '../util/plain.js';
import { epochMs } from '../util/phases.js';
import { entryBeside } from '../util/packageRoot.js';
import { pathToFileURL } from 'node:url';

/**
 * Starts the controller in the background and waits until the tunnel passes
 * traffic. The controller is started first thing, before this process asks
 * whether the environment is up already, loads the config, SSH or anything
 * else: both processes boot Node and load code (~60 and ~140 ms here), side
 * by side instead of one after the other. It waits, changing nothing, until
 * this process has checked the way (the environment is down, a dead
 * controller's leftovers are undone) and says go on fd 3, with passphrases
 * when a terminal could be asked (protocol.ts); it reads and checks the
 * config itself and reports what is wrong.
 */
export async function connectBackground(envName: string, args: BackgroundArgs & { json: boolean }): Promise<number> {
  const showProgress = (process.stderr.isTTY || args.verbose > 0) && !args.json;
  // a warning is said wherever stderr goes (a script, a CI log): connect succeeded, but not all of it
  const progress = (line: string): void => void ((showProgress || line.startsWith('warning:')) && process.stderr.write(`  ${plain(line)}\n`));
  // a name the config may not have: its error, before anything starts
  if (!ENV_NAME.test(envName)) await import('../config/load.js').then(({ findEnvironment, loadConfig }) => findEnvironment(loadConfig(args.config), envName));
  // the controller's stderr (what it cannot put in a log line, a crash) goes to its log too
  const journal = journalAvailable() ? await import('../native/journald.js').then((j) => j.journalStream()).catch(() => undefined) : undefined;
  let log: number | Socket;
  let from = 0;
  const file = logFile(envName);
  // a log made by this attempt, for an environment the config turns out not to have: not kept (below)
  const fresh = !journal && !fs.existsSync(file);
  if (journal) log = journal;
  else {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
    } catch (err) {
      // a member of the installed helper's group whose home cannot take their state folder (HOME unset or elsewhere)
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new UserError(`cannot make the log's folder ${path.dirname(file)} (${code}): set XDG_STATE_HOME or HOME to a folder of yours`);
    }
    rotateIfFull(file);
    log = appendOwn(file);
    from = fs.fstatSync(log).size;
  }
  const where = journal ? journalWhere(envName) : file;
  const opts: BackgroundArgs = {
    config: args.config && path.resolve(args.config),
    force: args.force,
    agent: args.agent,
    verbose: args.verbose,
    controlUser: args.controlUser,
    privsep: args.privsep,
    startedAt: performance.timeOrigin,
  };
  const go = clearTheWayFor(envName, args, progress).then(() => askPassphrases(envName, args));
  // the bundle's CommonJS entry (scripts/bundle.mjs), or tsc's beside main.js in a checkout
  const entry = entryBeside(pathToFileURL(cliEntry()).href, ['background.cjs', 'background.js'], 'controller (background.cjs)');
  const started = await startController(entry, [envName, JSON.stringify(opts)], log, go, progress);
  // what stopped it before it began (up already, leftovers not undone), or a failed prompt: the error to show
  await go;
  const { status, exitCode, pid } = started;
  let { error } = started;
  if (status) {
    started.release();
    // the last phase is this process's: the answer is in its hands
    const phases = [...status.phases, { phase: 'reported', ms: Math.round(epochMs() - performance.timeOrigin) }];
    if (args.json) process.stdout.write(`${JSON.stringify({ ...status, phases }, null, 2)}\n`);
    else process.stderr.write(`${envName}: up. Use docker with: eval "$(cloudbridge env ${envName})"\n`);
    return 0;
  }
  // What this attempt wrote to the log. Where its lines were shown as they came (a terminal, -v), the
  // ones above the error explain it, and this says where they stay; a script gets the error's one line.
  if (!error) error = (journal ? await journalAttempt(envName, pid) : attemptLog(file, from)).pop() ?? `controller exited with ${exitCode}`;
  if (fresh && !started.began) fs.rmSync(file, { force: true });
  else if (showProgress) process.stderr.write(`  (kept in ${where}: cloudbridge logs ${envName})\n`);
  removeRunFolder(envName);
  throw new UserError(error);
}

/** Before the controller may go: the environment is down, and a dead controller's leftovers are undone. */
async function clearTheWayFor(envName: string, args: BackgroundArgs, progress: (line: string) => void): Promise<void> {
  const { presence } = await import('./presence.js');
  const p = (await presence(envName)).state;
  if (p === 'up') throw new UserError(`${envName} is connected already`);
  if (p !== 'down') {
    const [{ findEnvironment, loadConfig }, { clearTheWay }] = await Promise.all([import('../config/load.js'), import('./lifecycle.js')]);
    await clearTheWay(findEnvironment(loadConfig(args.config), envName), args, progress);
  }
  // root makes its own controller's run folder; a user's controller claims theirs (privsep.ts, the installed helper)
  if (process.geteuid?.() === 0 && !privsepWanted(args.privsep)) fs.mkdirSync(envRunDir(envName), { recursive: true, mode: 0o755 });
}

/** What the controller `pid` said in the journal. */
async function journalAttempt(env: string, pid: number | undefined): Promise<string[]> {
  if (pid === undefined) return [];
  const said: string[] = [];
  const { readJournal } = await import('./journalLogs.js');
  await readJournal(env, { pid }, (e) => said.push(e.message)).catch(() => undefined);
  return said;
}

/** The messages logged from `offset` on: what this attempt said. */
function attemptLog(file: string, offset: number): string[] {
  let text: string;
  try {
    text = readFrom(file, offset).text;
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => parseLogLine(l)?.message ?? l);
}

/** On a terminal: the passphrases of the encrypted keys the route offers (the agent's keys excepted). */
async function askPassphrases(envName: string, args: CommonArgs & { agent?: string | undefined }): Promise<Map<string, string>> {
  if (!process.stdin.isTTY) return new Map();
  const [{ findEnvironment, loadConfig }, { invokingUser }, { sshRouteFor }, { askForKeys }] = await Promise.all([
    import('../config/load.js'),
    import('../util/user.js'),
    import('../ssh/route.js'),
    import('./passphrases.js'),
  ]);
  let env;
  try {
    env = findEnvironment(loadConfig(args.config), envName);
  } catch {
    return new Map(); // the controller says what is wrong with the config
  }
  return askForKeys(sshRouteFor(env, invokingUser()), args.agent);
}
