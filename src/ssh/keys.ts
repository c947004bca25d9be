import fs from 'node:fs';
import type { OpenSSHAgent, ParsedKey, PublicKeyEntry } from 'ssh2';
import { ssh2 } from '../datapath/ssh/ssh2.js';

/**
 * Keys as ssh matches them across files and the agent: by their public half
 * in SSH wire form.
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

/** The keys an ssh-agent holds; none without one, or when it does not answer within a second. */
export function agentKeys(socket: string | undefined): Promise<Buffer[]> {
  if (!socket || !fs.existsSync(socket)) return Promise.resolve([]);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve([]), 1000);
    new ssh2.OpenSSHAgent(socket).getIdentities((err, keys) => {
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
export class NamedKeysAgent extends ssh2.OpenSSHAgent {
  constructor(
    socket: string,
    private readonly named: readonly Buffer[],
  ) {
    super(socket);
  }

  override getIdentities(cb: Parameters<OpenSSHAgent['getIdentities']>[0]): void {
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
