import { createRequire } from 'node:module';
// ssh2's crypto module, which its constants load, must load after our cipher is in place
import './load.js';

const require = createRequire(import.meta.url);
const constants = require('ssh2/lib/protocol/constants.js') as Record<
  'DEFAULT_KEX' | 'SUPPORTED_KEX' | 'SUPPORTED_SERVER_HOST_KEY' | 'SUPPORTED_CIPHER' | 'DEFAULT_MAC' | 'SUPPORTED_MAC',
  string[]
>;

/** What ssh2 speaks, and offers by default, per kind: what ssh_config's algorithm lists are held to (src/ssh/algorithms.ts). */
export const SSH2_ALGORITHMS = {
  kex: { defaults: [...constants.DEFAULT_KEX], supported: [...constants.SUPPORTED_KEX] },
  cipher: { supported: [...constants.SUPPORTED_CIPHER] },
  hmac: { defaults: [...constants.DEFAULT_MAC], supported: [...constants.SUPPORTED_MAC] },
  serverHostKey: { supported: [...constants.SUPPORTED_SERVER_HOST_KEY] },
} as const;
