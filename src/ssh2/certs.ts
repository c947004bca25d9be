import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Ssh2 from 'ssh2';

/**
 * The hook "certificates": OpenSSH certificates, host and user, which ssh2
 * 1.17.0 does not speak, added by loading two of its modules from source
 * with exact patches. load.ts calls `loadCertSupport` before ssh2 loads.
 */

const require = createRequire(import.meta.url);

/**
 * Host certificates (OpenSSH's *-cert-v01@openssh.com host key algorithms),
 * which ssh2 1.17 does not speak. Its key exchange (protocol/kex.js) is
 * loaded from its source with four changes, each required to match exactly
 * once (a different ssh2 fails here, loudly): the certified key inside a
 * certificate verifies the exchange signature, whose type is the
 * certificate's base algorithm; an RSA certificate's blob type matches an
 * rsa-sha2-*-cert algorithm; the hash follows the base algorithm. Whether
 * the certificate itself is to be trusted is the host verifier's question
 * (src/ssh/certs.ts): it gets the whole certificate.
 */
export const CERT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'rsa-sha2-512-cert-v01@openssh.com',
  'rsa-sha2-256-cert-v01@openssh.com',
];
const CERT_PRELUDE = `
const __cbBase = (n) => (typeof n === 'string' ? n.replace(/-cert-v01@openssh\\.com$/, '') : n);
function __cbCertKey(blob, name) {
  const base = __cbBase(name);
  if (base === name) return undefined;
  const count = base === 'ssh-ed25519' ? 1 : 2;
  let p = 4 + blob.readUInt32BE(0);
  p += 4 + blob.readUInt32BE(p);
  const start = p;
  for (let i = 0; i < count; i++) p += 4 + blob.readUInt32BE(p);
  return [blob.slice(start, p), base];
}
`;
const KEX_PATCHES: [string, string][] = [
  ['if (sigType !== negotiated.serverHostKey) {', 'if (sigType !== negotiated.serverHostKey && sigType !== __cbBase(negotiated.serverHostKey)) {'],
  [
    'const name = bufferParser.readString(true);\n          const hostKey = this._hostKey.slice(bufferParser.pos());\n          bufferParser.clear();\n          parsedHostKey = parseDERKey(hostKey, name);',
    'let name = bufferParser.readString(true);\n          let hostKey = this._hostKey.slice(bufferParser.pos());\n          bufferParser.clear();\n          const certKey = __cbCertKey(this._hostKey, name);\n          if (certKey) [hostKey, name] = certKey;\n          parsedHostKey = parseDERKey(hostKey, name);',
  ],
  [
    "switch (this.negotiated.serverHostKey) {\n          case 'rsa-sha2-256': hashAlgo = 'sha256'; break;\n          case 'rsa-sha2-512': hashAlgo = 'sha512'; break;\n        }\n\n        this._protocol._debug\n          && this._protocol._debug('Verifying signature ...');",
    "switch (__cbBase(this.negotiated.serverHostKey)) {\n          case 'rsa-sha2-256': hashAlgo = 'sha256'; break;\n          case 'rsa-sha2-512': hashAlgo = 'sha512'; break;\n        }\n\n        this._protocol._debug\n          && this._protocol._debug('Verifying signature ...');",
  ],
  [
    "                case 'rsa-sha2-512':\n                  if (hostPubKeyType === 'ssh-rsa')\n                    break;",
    "                case 'rsa-sha2-512':\n                  if (hostPubKeyType === 'ssh-rsa')\n                    break;\n                // FALLTHROUGH\n                case 'rsa-sha2-256-cert-v01@openssh.com':\n                case 'rsa-sha2-512-cert-v01@openssh.com':\n                  if (hostPubKeyType === 'ssh-rsa-cert-v01@openssh.com')\n                    break;",
  ],
];

/**
 * User certificates (CertificateFile, KEY-cert.pub): ssh2 signs the
 * userauth request for a key object whose type is a certificate's and
 * whose public blob is the certificate (src/ssh/userCerts.ts makes them),
 * but it names the signature after the certificate; OpenSSH wants the base
 * algorithm there, and ECDSA's signature converted as for the base type.
 */
const PROTOCOL_PATCHES: [string, string][] = [
  [
    '    cbSign(packet, (signature) => {\n      signature = convertSignature(signature, keyType);',
    '    cbSign(packet, (signature) => {\n      signature = convertSignature(signature, __cbBase(keyType));',
  ],
  [
    '      const sigLen = signature.length;\n      p = this._packetRW.write.allocStart;',
    '      const sigLen = signature.length;\n      const sigAlgo = __cbBase(keyAlgo);\n      const sigAlgoLen = Buffer.byteLength(sigAlgo);\n      p = this._packetRW.write.allocStart;',
  ],
  ['          + 4 + algoLen + 4 + sigLen\n      );', '          + 4 + sigAlgoLen + 4 + sigLen\n      );'],
  [
    '      writeUInt32BE(packet, 4 + algoLen + 4 + sigLen, p += pubKeyLen);\n\n      writeUInt32BE(packet, algoLen, p += 4);\n      packet.utf8Write(keyAlgo, p += 4, algoLen);\n\n      writeUInt32BE(packet, sigLen, p += algoLen);',
    '      writeUInt32BE(packet, 4 + sigAlgoLen + 4 + sigLen, p += pubKeyLen);\n\n      writeUInt32BE(packet, sigAlgoLen, p += 4);\n      packet.utf8Write(sigAlgo, p += 4, sigAlgoLen);\n\n      writeUInt32BE(packet, sigLen, p += sigAlgoLen);',
  ],
];

/** Loads one of ssh2's modules from its source with `patches` (each must match exactly once) and the prelude's helpers. */
function loadPatched(request: string, patches: readonly [string, string][]): void {
  const file = require.resolve(request);
  if (require.cache[file]) throw new Error('ssh2 was loaded before cloudbridge could add certificates to it');
  let src = fs.readFileSync(file, 'utf8');
  for (const [from, to] of patches) {
    if (src.split(from).length !== 2) throw new Error(`ssh2's ${request} is not the 1.17.0 cloudbridge patches (looking for: ${from.trim().split('\n')[0]})`);
    src = src.replace(from, to);
  }
  const Module = require('node:module') as unknown as {
    new (id: string, parent: null): { filename: string; paths: string[]; loaded: boolean; _compile(src: string, file: string): void };
    _nodeModulePaths(dir: string): string[];
  };
  const m = new Module(file, null);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  // "use strict" stays first: the prelude goes after it, on the same line (line numbers in stacks stay true)
  m._compile(src.replace("'use strict';\n", `'use strict';${CERT_PRELUDE.replace(/\n/g, ' ')}\n`), file);
  m.loaded = true;
  require.cache[file] = m as unknown as NodeJS.Module;
}

/** Adds certificates to ssh2: call once, before anything loads ssh2 itself. */
export function loadCertSupport(): void {
  loadPatched('ssh2/lib/protocol/kex.js', KEX_PATCHES);
  loadPatched('ssh2/lib/protocol/Protocol.js', PROTOCOL_PATCHES);
  const constants = require('ssh2/lib/protocol/constants.js') as { SUPPORTED_SERVER_HOST_KEY: string[]; DEFAULT_SERVER_HOST_KEY: string[] };
  constants.SUPPORTED_SERVER_HOST_KEY.push(...CERT_HOST_KEY_ALGORITHMS);
  defaultHostKeyAlgorithms = [...constants.DEFAULT_SERVER_HOST_KEY];
}
let defaultHostKeyAlgorithms: string[] = [];

/** The host key algorithms to offer: ssh2's, after the certificate ones when a CA could vouch for the host (as ssh orders them). */
export const hostKeyAlgorithms = (certs: boolean): Ssh2.ServerHostKeyAlgorithm[] =>
  (certs ? [...CERT_HOST_KEY_ALGORITHMS, ...defaultHostKeyAlgorithms] : [...defaultHostKeyAlgorithms]) as Ssh2.ServerHostKeyAlgorithm[];
