import { ssh2 } from '../../src/ssh2/load.js';

/**
 * A fresh ed25519 private key ssh2 can read back. ssh2 1.17's keygen strips every leading zero
 * byte of the public key, so about one key in 256 is one its own parser refuses ("Malformed
 * OpenSSH private key": mscdex/ssh2#1390, #1513; 14 of 3,000 here). CI failed on such a key.
 */
export function ed25519Key(): string {
  for (;;) {
    const key = ssh2.utils.generateKeyPairSync('ed25519').private;
    if (!(ssh2.utils.parseKey(key) instanceof Error)) return key;
  }
}
