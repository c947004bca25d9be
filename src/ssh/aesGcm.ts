import { createRequire } from 'node:module';
import { loadAddon, type SealerInstance } from '../native/addon.js';

/**
 * ssh2 seals aes*-gcm packets with the AESGCMCipher class of its own addon.
 * Ours (native/src/ssh_out.c: same constructor, same in-place encrypt) takes
 * its place, so that the tun channel's packets sealed in C and everything
 * ssh2 seals share one cipher context and its IV counter. ssh2 reads the
 * class once, when its crypto module loads: this module must be imported
 * before anything loads ssh2. If that order is ever broken, ssh2 keeps its
 * own class and the tun channel simply stays on the JavaScript path
 * (`isSealer` is then false for every cipher).
 */

const require = createRequire(import.meta.url);

function install(): boolean {
  try {
    if (require.cache[require.resolve('ssh2/lib/protocol/crypto.js')]) return false;
    const binding = require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node') as { AESGCMCipher: unknown };
    binding.AESGCMCipher = loadAddon().Sealer;
    return true;
  } catch {
    // no ssh2 binding (ssh2 then uses node:crypto) or no addon: nothing to share
    return false;
  }
}

export const sealerInstalled = install();

/** Whether a cipher instance ssh2 made is ours. */
export function isSealer(instance: unknown): instance is SealerInstance {
  return sealerInstalled && instance instanceof loadAddon().Sealer;
}
