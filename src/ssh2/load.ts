import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Socket } from 'node:net';
import type * as Ssh2 from 'ssh2';
import { addonFile, loadAddon, type OpenerInstance, type SealerInstance } from '../../native/addon.js';

/**
 * The one module that loads ssh2 as a value, and the one place its private
 * fields are described. Everything else imports ssh2 for types only (the
 * lint rule in eslint.config.js holds that).
 *
 * The data path reaches into ssh2 1.17.0 (pinned exactly in package.json):
 * its protocol object (cipher, decipher, packet writer and reader, the
 * message parser), its channel records and its channel manager. Those
 * fields are typed here once; the e2e tests against real sshd, which rekey
 * and reconnect under load, are what say they still mean what we think.
 *
 * Loading order matters once: ssh2 reads the AES-GCM classes of its addon
 * when its crypto module loads, and ours take their place before that (see
 * `install`), so that the packets sealed and opened in C and everything ssh2
 * handles share one cipher context per direction and its IV counter.
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

function loadCertSupport(): void {
  loadPatched('ssh2/lib/protocol/kex.js', KEX_PATCHES);
  loadPatched('ssh2/lib/protocol/Protocol.js', PROTOCOL_PATCHES);
  const constants = require('ssh2/lib/protocol/constants.js') as { SUPPORTED_SERVER_HOST_KEY: string[]; DEFAULT_SERVER_HOST_KEY: string[] };
  constants.SUPPORTED_SERVER_HOST_KEY.push(...CERT_HOST_KEY_ALGORITHMS);
  defaultHostKeyAlgorithms = [...constants.DEFAULT_SERVER_HOST_KEY];
}
let defaultHostKeyAlgorithms: string[] = [];
loadCertSupport();

/** The host key algorithms to offer: ssh2's, after the certificate ones when a CA could vouch for the host (as ssh orders them). */
export const hostKeyAlgorithms = (certs: boolean): Ssh2.ServerHostKeyAlgorithm[] =>
  (certs ? [...CERT_HOST_KEY_ALGORITHMS, ...defaultHostKeyAlgorithms] : [...defaultHostKeyAlgorithms]) as Ssh2.ServerHostKeyAlgorithm[];

/** ssh2 itself: Client, utils, OpenSSHAgent. */
export const ssh2 = require('ssh2') as typeof Ssh2;

/** ssh2's packet (de)compression stages; plain ones mean no compression is in the way. */
const zlib = require('ssh2/lib/protocol/zlib.js') as { PacketWriter: new (...args: never[]) => unknown; PacketReader: new (...args: never[]) => unknown };
const protocolUtils = require('ssh2/lib/protocol/utils.js') as { sendPacket(proto: Ssh2Protocol, packet: Buffer): boolean };
const channelConsts = require('ssh2/lib/Channel.js') as { PACKET_SIZE: number };

/** ssh2's crypto module: cipher and decipher factories (tests build sessions-in-a-box from them). */
export const sshCrypto = require('ssh2/lib/protocol/crypto.js') as {
  init: Promise<void>;
  CIPHER_INFO: Record<string, unknown>;
  createCipher(config: object): Ssh2Cipher;
  createDecipher(config: object): { decrypt(data: Buffer, p: number, len: number): unknown };
};

/** ssh2's plain packet writer, for a protocol object made by hand (tests). */
export const PacketWriter = zlib.PacketWriter as new (proto: unknown) => unknown;

/** The maximum packet size ssh2 announces for its channels. */
export const CHANNEL_PACKET_SIZE = channelConsts.PACKET_SIZE;

/** Sends an already built packet as ssh2 does (sealed by the current cipher). */
export function sendPacket(proto: Ssh2Protocol, packet: Buffer): boolean {
  return protocolUtils.sendPacket(proto, packet);
}

/* ---- the private shapes -------------------------------------------------- */

/** The cipher sealing outbound packets now (replaced at each key exchange). */
export interface Ssh2Cipher {
  outSeqno: number;
  _dead?: boolean;
  /** The binding's instance: ours (a Sealer) for AES-GCM when `install` ran. */
  _instance?: { encrypt(packet: Uint8Array, seqno?: number): void };
  /** Where sealed packets go; copied from the protocol at each key exchange. */
  _onWrite?: (data: Uint8Array) => void;
}

export type OnPayload = (payload: Buffer) => unknown;

/** The decipher opening inbound packets now (replaced at each key exchange). */
export interface Ssh2Decipher {
  _onPayload: OnPayload;
  inSeqno: number;
  /** A packet being assembled; may be a view of the last read. */
  _packet: Uint8Array | null;
  /** Bytes of the next packet's length field read so far (AES-GCM): 0 between packets. */
  _lenBytes?: number;
  _instance?: unknown;
}

/** ssh2's packet writer: builds a packet in its own buffer. */
export interface Ssh2PacketWriter {
  allocStart: number;
  alloc(n: number): Buffer;
  finalize(p: Buffer): Buffer;
}

/** ssh2's protocol object (the SSH transport of one connection). */
export interface Ssh2Protocol {
  /** Set while a key exchange is under way, cleared at its end. */
  _kexinit: unknown;
  _cipher: Ssh2Cipher;
  /** Set once the identification line has been read, replaced at each key exchange. */
  _decipher: Ssh2Decipher | undefined;
  _packetRW: { read: unknown; write: Ssh2PacketWriter };
  /** ssh2's debug callback: called with a formatted line for every packet while set. */
  _debug: ((msg: string) => void) | undefined;
  _handlers: { DEBUG?: ((p: unknown, display: boolean, msg: string) => void) | undefined };
  _onWrite: (data: Uint8Array) => void;
  parse(chunk: Buffer, start: number, end: number): void;
  channelData(id: number, data: Uint8Array): void;
  channelWindowAdjust(id: number, amount: number): void;
}

/** ssh2's record of a channel's receiving side (what we allow the peer). */
export interface IncomingSide {
  id: number;
  window: number;
  state: string;
}

/** ssh2's record of a channel's sending side (what the peer allows us). */
export interface OutgoingSide {
  id: number;
  window: number;
  packetSize: number;
  state: string;
}

/** A channel as ssh2's channel manager hands it to an open callback, before any stream wraps it. */
export interface RawChannel {
  incoming: IncomingSide;
  outgoing: OutgoingSide;
  push(chunk: Buffer | null): boolean;
  close(): void;
  /** Set: ssh2's WINDOW_ADJUST handler calls `_chunkcb` when no `_chunk` is pending. */
  _waitWindow: boolean;
  _chunk: Buffer | undefined;
  _chunkcb: (() => void) | undefined;
}

export type ChannelOpenCallback = ((err: (Error & { reason?: number }) | undefined, ch: RawChannel) => void) & { type?: string };

/** Node's handle of a socket (libuv's stream): its fd, reading started and stopped, bytes queued. */
export interface SocketHandle {
  fd?: number;
  writeQueueSize?: number;
  readStart(): number;
  readStop(): number;
}

/** A client's private side. */
export interface ClientInternals {
  _sock: Socket & { _handle?: SocketHandle | null };
  _protocol: Ssh2Protocol;
  _chanMgr: { add(cb: ChannelOpenCallback): number };
}

export function internalsOf(client: Ssh2.Client): ClientInternals {
  return client as unknown as ClientInternals;
}

/**
 * Stops ssh2's debug callback once a connection is ready: the handshake is
 * what -vv is for, and after it ssh2 would format a line for every packet
 * (the client keeps its own copy for socket events, which are rare).
 */
export function quietAfterHandshake(client: Ssh2.Client): void {
  internalsOf(client)._protocol._debug = undefined;
}

/** Node's handle of `socket`, if it has one (a TCP socket of our own; not a channel stream). */
export function socketHandle(socket: Socket): SocketHandle | null | undefined {
  return (socket as unknown as { _handle?: SocketHandle | null })._handle;
}

/** Whether ssh2 reads with its plain reader (no compression): payloads are parsed where they land. */
export function plainReader(proto: Ssh2Protocol): boolean {
  return proto._packetRW.read instanceof zlib.PacketReader;
}

/** Cipher classes of ssh2 that seal a whole packet in place, and their block size. */
const IN_PLACE: ReadonlyMap<string, number> = new Map([
  ['AESGCMCipherBinding', 16],
  ['ChaChaPolyCipherBinding', 8],
]);

/**
 * The block size when a whole packet may be built and sealed in place
 * outside ssh2 right now: no key exchange under way, no compression, and a
 * live cipher of ssh2's native AEAD bindings (aes*-gcm, chacha20-poly1305).
 * 0 otherwise: ssh2 must send it itself.
 */
export function canSealInPlace(proto: Ssh2Protocol): number {
  const cipher = proto._cipher;
  if (proto._kexinit !== undefined || cipher._dead || !cipher._instance) return 0;
  if (!(proto._packetRW.write instanceof zlib.PacketWriter)) return 0;
  return IN_PLACE.get(cipher.constructor.name) ?? 0;
}

/** Whether a cipher instance ssh2 made is ours. */
export function isSealer(instance: unknown): instance is SealerInstance {
  return sealerInstalled && instance instanceof loadAddon().Sealer;
}

/** Whether a decipher instance ssh2 made is ours. */
export function isOpener(instance: unknown): instance is OpenerInstance {
  return sealerInstalled && instance instanceof loadAddon().Opener;
}
