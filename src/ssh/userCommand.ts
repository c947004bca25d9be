import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { UserError } from '../util/errors.js';
import type { InvokingUser } from '../util/user.js';

/**
 * The shell ssh runs ProxyCommand and Match exec with: $SHELL, else /bin/sh
 * (readconf.c's execute_in_shell, sshconnect.c). For a user cloudbridge
 * acts for under sudo, whose $SHELL sudo replaced, their login shell from
 * the user database is what $SHELL is in their session. ssh stops on one it
 * cannot run; so does this.
 */
export function userShell(user: InvokingUser): string {
  const shell = user.shell || '/bin/sh';
  try {
    fs.accessSync(shell, fs.constants.X_OK);
  } catch (err) {
    throw new UserError(
      `the shell ssh_config's commands run in, ${shell} (${user.name}'s), is not executable: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  return shell;
}

/**
 * How a command from the user's ssh_config runs (ProxyCommand, Match exec):
 * by their shell (userShell), as the invoking user and never as root (uid and gid set in the
 * child; libuv drops root's supplementary groups), in their home, with this
 * process's environment and their HOME, USER, LOGNAME and agent.
 */
export function userCommandOptions(user: InvokingUser, agent: string | undefined): { env: NodeJS.ProcessEnv; cwd: string; uid?: number; gid?: number } {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: user.home, USER: user.name, LOGNAME: user.name };
  if (agent) env['SSH_AUTH_SOCK'] = agent;
  const asUser = process.geteuid?.() === 0 && user.uid !== 0;
  return { env, cwd: fs.existsSync(user.home) ? user.home : '/', ...(asUser ? { uid: user.uid, gid: user.gid } : {}) };
}

/** `Match exec`: runs the command (tokens expanded) as the user; it holds when it exits 0. Ten seconds at most, as a stuck one must not stall connect. */
export function matchExec(user: InvokingUser): (command: string) => boolean {
  return (command) => spawnSync(userShell(user), ['-c', command], { ...userCommandOptions(user, undefined), stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** This host's interface addresses, for `Match localnetwork`. */
export const localAddresses = (): string[] =>
  Object.values(os.networkInterfaces())
    .flat()
    .flatMap((a) => (a ? [a.address] : []));

/**
 * CanonicalizeHostname's lookup: whether getaddrinfo finds an address for
 * `fqdn`, asked of a short Node child as the user (ssh_config is resolved
 * synchronously; the child is started only when canonicalisation is on and
 * a candidate is tried). Ten seconds at most, as for Match exec.
 */
export function nameResolves(user: InvokingUser): (fqdn: string) => boolean {
  return (fqdn) =>
    spawnSync(process.execPath, ['-e', 'require("node:dns").lookup(process.argv[1], (err) => process.exit(err ? 1 : 0))', fqdn], {
      ...userCommandOptions(user, undefined),
      stdio: 'ignore',
      timeout: 10_000,
    }).status === 0;
}
