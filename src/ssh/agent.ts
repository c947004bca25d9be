import fs from 'node:fs';
import path from 'node:path';
import type { InvokingUser } from '../util/user.js';

/** Where agents put their sockets: OpenSSH's ssh-agent, systemd user units, GNOME keyring, gpg-agent. */
function candidates(uid: number): string[] {
  const out: string[] = [];
  try {
    for (const d of fs.readdirSync('/tmp')) {
      if (!d.startsWith('ssh-')) continue;
      try {
        for (const f of fs.readdirSync(path.join('/tmp', d))) if (f.startsWith('agent.')) out.push(path.join('/tmp', d, f));
      } catch {
        // not ours to read
      }
    }
  } catch {
    // no /tmp listing
  }
  const run = `/run/user/${uid}`;
  out.push(`${run}/ssh-agent.socket`, `${run}/openssh_agent`, `${run}/keyring/ssh`, `${run}/gnupg/S.gpg-agent.ssh`);
  return out;
}

/**
 * The agent to use: --agent, else $SSH_AUTH_SOCK, else (sudo drops it) the
 * newest agent socket the invoking user owns.
 */
export function findAgent(user: InvokingUser, explicit: string | undefined, env = process.env): string | undefined {
  if (explicit) return explicit;
  const fromEnv = env['SSH_AUTH_SOCK'];
  if (fromEnv && fs.existsSync(fromEnv)) return fromEnv;
  let best: { path: string; mtime: number } | undefined;
  for (const p of candidates(user.uid)) {
    try {
      const st = fs.statSync(p);
      if (st.isSocket() && st.uid === user.uid && (!best || st.mtimeMs > best.mtime)) best = { path: p, mtime: st.mtimeMs };
    } catch {
      // absent
    }
  }
  return best?.path;
}
