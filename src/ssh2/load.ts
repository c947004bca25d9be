import { createRequire } from 'node:module';
import type * as Ssh2 from 'ssh2';
import { addonFile, loadAddon } from '../native/addon.js';
import { loadCertSupport } from './certs.js';

/**
 * The ssh2 adapter (src/ssh2/): the one folder that loads ssh2 as a value
 * and touches its private fields, behind named hooks (connection.ts,
 * channel.ts); `npm run check:seam` fails on a private field anywhere else.
 * ssh2 is pinned exactly (1.17.0, package.json), and every hook has a
 * contract test running ssh2's own Client and Server over a socket pair,
 * with a rekey (test/unit/ssh2Seam.test.ts): a new ssh2 fails there first.
 *
 * This module loads it, with the hooks that must run before ssh2 does:
 * - "swap the cipher": ssh2 reads the AES-GCM classes of its addon when its
 *   crypto module loads, and ours take their place before that (`install`),
 *   so that packets sealed and opened in C and everything ssh2 handles share
 *   one cipher context per direction and its IV counter;
 * - "certificates" (certs.ts).
 */

const require = createRequire(import.meta.url);

/**
 * Puts the addon's Sealer and Opener (native/src/ssh_out.c and ssh_in.c:
 * same constructors, same in-place encrypt and decrypt) where ssh2 looks
 * for AESGCMCipher and AESGCMDecipher. False when ssh2 was loaded already by
 * someone else or there is no addon: the tun channel then stays on the
 * JavaScript path.
 */
function install(): boolean {
  try {
    if (require.cache[require.resolve('ssh2/lib/protocol/crypto.js')]) return false;
    const addon = loadAddon();
    const ours = { AESGCMCipher: addon.Sealer, AESGCMDecipher: addon.Opener };
    try {
      Object.assign(require(`ssh2/lib/protocol/crypto/${SSH2_BINDING}`) as object, ours);
    } catch {
      Object.assign(addon, ours);
      standInBinding();
    }
    return true;
  } catch {
    return false;
  }
}

/** ssh2's compiled binding, relative to its crypto module. */
const SSH2_BINDING = 'build/Release/sshcrypto.node';

/**
 * ssh2 installed without its compiled binding (no compiler, or
 * --ignore-scripts: what a prebuilt-only install gets) would use node:crypto
 * for every packet and never reach the C path. While ssh2's crypto module
 * loads, its request for the binding resolves to our addon instead, whose
 * exports carry AESGCMCipher and AESGCMDecipher (set by the caller);
 * ssh2 finds no ChaCha or generic cipher there and uses its own for those.
 * Node's Module._resolveFilename is the long-standing hook for this (CJS has
 * no public resolve hook in Node 20); it is restored before this returns.
 */
function standInBinding(): void {
  const Module = require('node:module') as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = Module._resolveFilename;
  const file = addonFile();
  Module._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    return request === `./crypto/${SSH2_BINDING}` ? file : original.call(this, request, ...rest);
  };
  try {
    require('ssh2/lib/protocol/crypto.js');
  } finally {
    Module._resolveFilename = original;
  }
}

export const sealerInstalled = install();

loadCertSupport();

/** ssh2 itself: Client, Server, utils, OpenSSHAgent. */
export const ssh2 = require('ssh2') as typeof Ssh2;
