import { inPlaceSealerOf, type InPlaceSealer } from './connection.js';
import { isSealer, PacketWriter, sshCrypto } from './privates.js';

/**
 * ssh2's own cipher and decipher for a cipher name and keys, outside any
 * connection: what the channel-data writer's and the C outlet's tests seal
 * with and open with (ssh2's AES-GCM has the addon's classes inside).
 */
export async function cipherBox(
  name: string,
  key: Buffer,
  iv: Buffer,
  seqno: number,
): Promise<{ sealer: InPlaceSealer; seqno(): number; addonSeals: boolean }> {
  await sshCrypto.init;
  const cipher = sshCrypto.createCipher({ outbound: { onWrite: () => {}, cipherInfo: sshCrypto.CIPHER_INFO[name], cipherKey: key, cipherIV: iv, seqno } });
  const proto = { _kexinit: undefined, _cipher: cipher, _packetRW: { read: undefined, write: undefined as unknown } };
  proto._packetRW.write = new PacketWriter(proto);
  return { sealer: inPlaceSealerOf(proto as never), seqno: () => cipher.outSeqno, addonSeals: isSealer(cipher._instance) };
}

/** Opens a sealed stream of packets with ssh2's decipher: each payload, authenticated, to `onPayload` (a copy). */
export async function decipherBox(name: string, key: Buffer, iv: Buffer, seqno: number, onPayload: (p: Buffer) => void): Promise<(wire: Buffer) => void> {
  await sshCrypto.init;
  const decipher = sshCrypto.createDecipher({
    inbound: { onPayload: (p: Buffer) => onPayload(Buffer.from(p)), decipherInfo: sshCrypto.CIPHER_INFO[name], decipherKey: key, decipherIV: iv, seqno },
  });
  return (wire) => void decipher.decrypt(wire, 0, wire.length);
}
