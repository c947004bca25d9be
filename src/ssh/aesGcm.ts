import { createRequire } from 'node:module';
import { loadAddon, type OpenerInstance, type SealerInstance } from '../native/addon.js';

/**
 * ssh2 seals and opens aes*-gcm packets with the AESGCMCipher and
 * AESGCMDecipher classes of its own addon. Ours (native/src/ssh_out.c and
 * ssh_in.c: same constructors, same in-place encrypt and decrypt) take their
 * place, so that the tun channel's packets sealed and opened in C and
 * everything ssh2 handles share one cipher context per direction and its IV
 * counter. ssh2 reads the classes once, when its crypto module loads: this
 * module must be imported before anything loads ssh2. If that order is ever
 * broken, ssh2 keeps its own classes and the tun channel simply stays on the
 * JavaScript path (`isSealer` and `isOpener` are then false).
 */

const require = createRequire(import.meta.url);

function install(): boolean {
  try {
    if (require.cache[require.resolve('ssh2/lib/protocol/crypto.js')]) return false;
    const binding = require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node') as { AESGCMCipher: unknown; AESGCMDecipher: unknown };
    binding.AESGCMCipher = loadAddon().Sealer;
    binding.AESGCMDecipher = loadAddon().Opener;
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

/** Whether a decipher instance ssh2 made is ours. */
export function isOpener(instance: unknown): instance is OpenerInstance {
  return sealerInstalled && instance instanceof loadAddon().Opener;
}
