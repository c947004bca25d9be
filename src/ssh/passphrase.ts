import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import './aesGcm.js'; // before ssh2 loads: see aesGcm.ts
import ssh2 from 'ssh2';
import type { InvokingUser } from '../config/load.js';
import type { EnvironmentConfig } from '../config/types.js';
import { sshRouteFor } from './route.js';

/** The public keys an ssh-agent holds; none without one, or when it does not answer within a second. */
export function agentKeys(socket: string | undefined): Promise<Buffer[]> {
  if (!socket || !fs.existsSync(socket)) return Promise.resolve([]);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve([]), 1000);
    new ssh2.OpenSSHAgent(socket).getIdentities((err, keys) => {
      clearTimeout(timer);
      resolve(err || !keys ? [] : keys.flatMap((k) => ('getPublicSSH' in k ? [k.getPublicSSH()] : [])));
    });
  });
}

/** FILE.pub's key is among `held`: the agent signs for it and nobody need be asked. */
function heldBy(file: string, held: readonly Buffer[]): boolean {
  try {
    const pub = ssh2.utils.parseKey(fs.readFileSync(`${file}.pub`));
    return !(pub instanceof Error) && held.some((h) => h.equals(pub.getPublicSSH()));
  } catch {
    return false;
  }
}

/** Key files on the way to the environment that need a passphrase, but for those the agent holds (`held`). */
export function encryptedKeys(env: EnvironmentConfig, user: InvokingUser, held: readonly Buffer[] = []): string[] {
  const route = sshRouteFor(env, user);
  const files = [...route.jumps, route.target].flatMap((h) => h.identityFiles);
  return [...new Set(files)].filter((f) => {
    try {
      const parsed = ssh2.utils.parseKey(fs.readFileSync(f));
      return parsed instanceof Error && /encrypted/i.test(parsed.message) && !heldBy(f, held);
    } catch {
      return false;
    }
  });
}

/** Asks on the controlling terminal with echo off; reads one line. */
export function promptHidden(question: string): string {
  const fd = fs.openSync('/dev/tty', 'r+');
  const stty = (arg: string): void => {
    try {
      execFileSync('stty', [arg], { stdio: [fd, 'ignore', 'ignore'] });
    } catch {
      // not a real terminal: nothing to hide
    }
  };
  fs.writeSync(fd, question);
  stty('-echo');
  let line = '';
  const byte = Buffer.alloc(1);
  try {
    while (fs.readSync(fd, byte, 0, 1, null) === 1 && byte[0] !== 10 && byte[0] !== 13) line += String.fromCharCode(byte[0]!);
  } finally {
    stty('echo');
    fs.writeSync(fd, '\n');
    fs.closeSync(fd);
  }
  return line;
}

/** Prompts for each encrypted key; a wrong passphrase is asked again, up to three times. */
export function askPassphrases(files: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of files) {
    const key = fs.readFileSync(f);
    for (let attempt = 0; attempt < 3; attempt++) {
      const pass = promptHidden(`Enter passphrase for key '${f}': `);
      if (!(ssh2.utils.parseKey(key, pass) instanceof Error)) {
        out.set(f, pass);
        break;
      }
    }
  }
  return out;
}
