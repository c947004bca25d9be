import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { ssh2 } from '../ssh2/load.js';
import { publicBeside } from './keys.js';
import type { SshRoute } from './route.js';
import { asUser, type InvokingUser } from '../util/user.js';

/** Key files on the way to the environment that need a passphrase, but for those the agent holds (`held`). */
export function encryptedKeys(route: SshRoute, user: InvokingUser, held: readonly Buffer[] = []): string[] {
  const files = [...route.jumps, route.target].flatMap((h) => h.identityFiles);
  // key files are read with the user's rights
  return asUser(user, () =>
    [...new Set(files)].filter((f) => {
      try {
        const parsed = ssh2.utils.parseKey(fs.readFileSync(f));
        if (!(parsed instanceof Error && /encrypted/i.test(parsed.message))) return false;
        // the agent signs for a key it holds: nobody need be asked
        const pub = publicBeside(f);
        return !(pub && held.some((h) => h.equals(pub)));
      } catch {
        return false;
      }
    }),
  );
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
export function askPassphrases(files: readonly string[], user: InvokingUser): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of files) {
    const key = asUser(user, () => fs.readFileSync(f));
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
