import fs from 'node:fs';
import type { ParsedKey, PublicKeyEntry } from 'ssh2';
import { ssh2 } from '../datapath/ssh/ssh2.js';
import { asUser, type InvokingUser } from '../util/user.js';

/**
 * Keys as ssh matches them across files and the agent: by their public half
 * in SSH wire form. Key files are the user's: callers read them in asUser.
 */

/** The key in FILE.pub, if there is one to read: how an agent's copy of FILE is known. */
export function publicBeside(file: string): Buffer | undefined {
  try {
    const pub = ssh2.utils.parseKey(fs.readFileSync(`${file}.pub`));
    return pub instanceof Error ? undefined : pub.getPublicSSH();
  } catch {
    return undefined;
  }
}

/** An agent's key in wire form (OpenSSH's agent answers with parsed keys; the types allow entries too). */
const wireForm = (k: ParsedKey | PublicKeyEntry): Buffer | undefined => ('getPublicSSH' in k ? k.getPublicSSH() : undefined);

type GetStream = Parameters<InstanceType<typeof ssh2.OpenSSHAgent>['getStream']>[0];
type GetIdentities = Parameters<InstanceType<typeof ssh2.OpenSSHAgent>['getIdentities']>[0];

/**
 * ssh-agent, reached with the invoking user's rights: the socket is
 * connected as the user, so a path they name (SSH_AUTH_SOCK under sudo,
 * --agent) cannot lend them root's agent or another user's.
 */
export class UserAgent extends ssh2.OpenSSHAgent {
  constructor(
    private readonly socket: string,
    private readonly user: InvokingUser,
  ) {
    super(socket);
  }

  /** Why the agent could not be used, once it failed: authentication goes on without it, as ssh's does. */
  problem: string | undefined;

  // ssh2 connects in getStream, synchronously (a unix socket's connect() runs before it returns)
  override getStream(cb: GetStream): void {
    asUser(this.user, () => super.getStream(cb));
  }

  override getIdentities(cb: GetIdentities): void {
    super.getIdentities((err, keys) => {
      if (!err) return cb(err, keys);
      this.problem = `the agent at ${this.socket} (${err.message}, as ${this.user.name})`;
      cb(null, []);
    });
  }
}

/** The keys an ssh-agent holds; none without one, or when it does not answer within a second. */
export function agentKeys(socket: string | undefined, user: InvokingUser): Promise<Buffer[]> {
  if (!socket || !fs.existsSync(socket)) return Promise.resolve([]);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve([]), 1000);
    new UserAgent(socket, user).getIdentities((err, keys) => {
      clearTimeout(timer);
      resolve(err || !keys ? [] : keys.flatMap((k) => wireForm(k) ?? []));
    });
  });
}

/**
 * The agent as IdentitiesOnly sees it: only the keys the configured identity
 * files name. ssh asks the agent for those even where only the public half is
 * on disk (IdentityFile key.pub, a hardware or password-manager agent).
 */
export class NamedKeysAgent extends UserAgent {
  constructor(
    socket: string,
    user: InvokingUser,
    private readonly named: readonly Buffer[],
  ) {
    super(socket, user);
  }

  override getIdentities(cb: GetIdentities): void {
    super.getIdentities((err, keys) =>
      cb(
        err,
        keys?.filter((k) => {
          const wire = wireForm(k);
          return wire !== undefined && this.named.some((n) => n.equals(wire));
        }),
      ),
    );
  }
}
