import { findAgent } from '../ssh/agent.js';
import { agentKeys } from '../ssh/keys.js';
import { askPassphrases, encryptedKeys } from '../ssh/passphrase.js';
import type { SshRoute } from '../ssh/route.js';
import { invokingUser } from '../util/user.js';

/** On a terminal, asks for the passphrase of each encrypted key the route offers, except those the agent holds (as ssh does). */
export async function askForKeys(route: SshRoute, agent: string | undefined): Promise<Map<string, string>> {
  if (!process.stdin.isTTY) return new Map();
  const user = invokingUser();
  const files = encryptedKeys(route, user, await agentKeys(findAgent(user, agent), user));
  return files.length > 0 ? askPassphrases(files, user) : new Map();
}
