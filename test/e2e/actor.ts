import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { CLI, run, type Ran } from './proc.js';

/**
 * Who the e2e suite runs the CLI as, from $CLOUDBRIDGE_E2E_MODE:
 * - `root` (the default): root itself, as a service unit or a root shell does;
 * - `sudo`: a user who may sudo, typing `cloudbridge …` as a developer does;
 *   the CLI asks sudo itself, root starts the helper and drops to them;
 * - `helper`: a member of the installed helper's group, with no sudo at all.
 * In the two user modes every test file's fixtures the CLI reads are the
 * user's (`own`), as a developer's own files are, and what only an admin
 * does (install-service, the helper's unit) stays root's (`cliRoot`).
 */
export type E2eMode = 'root' | 'sudo' | 'helper';

function modeOf(v: string | undefined): E2eMode {
  if (v === undefined || v === '' || v === 'root') return 'root';
  if (v === 'sudo' || v === 'helper') return v;
  throw new Error(`CLOUDBRIDGE_E2E_MODE must be root, sudo or helper, not ${v}`);
}

export const MODE: E2eMode = modeOf(process.env['CLOUDBRIDGE_E2E_MODE']);
/** Whether the CLI runs as a user (sudo or helper mode). */
export const AS_USER = MODE !== 'root';

export const HELPER_SOCKET = '/run/cloudbridge/helper.sock';
const SUDOERS = '/etc/sudoers.d/cloudbridge-e2e';

export interface Actor {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

const NAME = 'cbe2e';
let actor: Actor | undefined;
let helper: ResultPromise | undefined;
let helperPrefix: readonly string[] = [];

/** The user the CLI acts for in the user modes (made by `actorUp`). */
export function theActor(): Actor {
  if (!actor) throw new Error('no e2e user: labUp makes one in the sudo and helper modes');
  return actor;
}

/**
 * The user modes' user, made for a test file: their sudo rule (sudo mode) or
 * the helper serving their group (helper mode; in `ns`, a client lab's
 * machine, when the CLI runs there), and `files` made theirs.
 */
export async function actorUp(files: readonly string[], ns?: string): Promise<void> {
  if (!AS_USER) return;
  await actorDown();
  const made = await run('useradd', ['-m', '-U', '-d', `/home/${NAME}`, '-s', '/bin/sh', NAME]);
  if (made.exitCode !== 0) throw new Error(`useradd: ${made.stderr}`);
  const [uid, gid] = (await run('sh', ['-c', `id -u ${NAME}; id -g ${NAME}`])).stdout.trim().split('\n').map(Number);
  actor = { name: NAME, uid: uid!, gid: gid!, home: `/home/${NAME}` };
  own(...files);
  if (MODE === 'sudo') fs.writeFileSync(SUDOERS, `${NAME} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
  else await startHelper(ns ? ['ip', 'netns', 'exec', ns] : []);
}

/**
 * The installed helper as `install-helper`'s unit runs it, for the user's
 * group, started through `prefix` (a namespace the CLI runs in); a running
 * one is stopped first.
 */
export async function startHelper(prefix: readonly string[]): Promise<void> {
  await pauseHelper();
  helperPrefix = prefix;
  const all = [...prefix, ...(await helperCommand(NAME))];
  helper = execa(all[0]!, all.slice(1), { reject: false });
  for (let i = 0; i < 250 && !fs.existsSync(HELPER_SOCKET); i++) await new Promise((r) => setTimeout(r, 20));
  if (!fs.existsSync(HELPER_SOCKET)) throw new Error('the helper did not listen');
}

/** The installed helper started (again) where it ran (helper mode), on a /run/cloudbridge mounted or unmounted since. */
export async function restartHelper(): Promise<void> {
  if (MODE === 'helper' && actor) await startHelper(helperPrefix);
}

/** The installed helper's command for `group`, as `install-helper --print`'s unit has it (ExecStart). */
export async function helperCommand(group: string): Promise<string[]> {
  const unit = await run(process.execPath, [CLI, 'install-helper', '--print', '--group', group]);
  const exec = /^ExecStart=(.*)$/m.exec(unit.stdout)?.[1]?.split(' ') ?? [];
  if (exec.slice(-4).join(' ') !== `--listen ${HELPER_SOCKET} --group ${group}`) throw new Error(`unexpected unit:\n${unit.stdout}`);
  return exec;
}

/** The installed helper killed at once (SIGKILL, as a power cut takes it) and started again, as its unit is at boot. */
export async function crashHelper(): Promise<void> {
  if (!helper) return;
  await pauseHelper('SIGKILL');
  await startHelper(helperPrefix);
}

/**
 * The installed helper stopped (`restartHelper` starts it again): a test that
 * unmounts what it mounted over /run/cloudbridge stops it first, since its
 * listening socket keeps that mount busy (which then stayed, under the next
 * files' tests).
 */
export async function pauseHelper(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
  if (!helper) return;
  helper.kill(signal);
  await helper;
  helper = undefined;
  fs.rmSync(HELPER_SOCKET, { force: true });
}

/** Everything `actorUp` made, removed (their processes killed, their home gone). */
export async function actorDown(): Promise<void> {
  if (!AS_USER) return;
  await pauseHelper();
  fs.rmSync(SUDOERS, { force: true });
  // theirs, and what they started through sudo (its real uid is theirs)
  await run('pkill', ['-9', '-u', NAME]);
  await run('pkill', ['-9', '-U', NAME]);
  // userdel refuses while a process of theirs is there, zombies too (this machine's PID 1 reaps them late); 6: no such user
  for (let i = 0; i < 100; i++) {
    const del = await run('userdel', ['-r', NAME]);
    if (del.exitCode === 0 || del.exitCode === 6) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  actor = undefined;
}

/** In the user modes, `paths` made the user's (a developer's own files are theirs); in root mode nothing. */
export function own(...paths: string[]): void {
  if (!AS_USER) return;
  const a = theActor();
  for (const p of paths) if (fs.existsSync(p)) fs.chownSync(p, a.uid, a.gid);
}

/**
 * `file args` as the user in the user modes (runuser, their HOME, none of
 * root's XDG folders or agent), inside `prefix` (`ip netns exec NS`); as root
 * otherwise.
 */
export function asActor(file: string, args: readonly string[], env: Record<string, string> = {}, prefix: readonly string[] = []): Promise<Ran> {
  if (!AS_USER) return prefix.length ? run(prefix[0]!, [...prefix.slice(1), file, ...args], env) : run(file, args, env);
  return runAs(theActor(), file, args, env, prefix);
}

/** `file args` as `who` (runuser, their HOME and names, none of root's XDG folders, agent or CLOUDBRIDGE_* but `env`'s), inside `prefix`. */
export function runAs(
  who: { readonly name: string; readonly home: string },
  file: string,
  args: readonly string[],
  env: Record<string, string> = {},
  prefix: readonly string[] = [],
): Promise<Ran> {
  const vars = Object.entries({ HOME: who.home, USER: who.name, LOGNAME: who.name, ...env }).map(([k, v]) => `${k}=${v}`);
  const unset = Object.keys(process.env)
    .filter((k) => (k.startsWith('XDG_') || k === 'SSH_AUTH_SOCK' || k.startsWith('CLOUDBRIDGE_')) && !(k in env))
    .flatMap((k) => ['-u', k]);
  const cmd = [...prefix, 'runuser', '-u', who.name, '--', 'env', ...unset, ...vars, file, ...args];
  return run(cmd[0]!, cmd.slice(1));
}

/** Where the CLI's log of environment `env` is: root's folder, or with the installed helper the user's state folder. */
export function logOf(env: string): string {
  return MODE === 'helper' ? path.join(theActor().home, '.local/state/cloudbridge', `${env}.log`) : `/var/log/cloudbridge/${env}.log`;
}
