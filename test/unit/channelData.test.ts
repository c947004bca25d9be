import { isSealer } from '../../src/ssh/aesGcm.js';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import test from 'ava';
import { ChannelDataWriter, type Ssh2Outbound } from '../../src/ssh/channelDataWriter.js';
import type { ByteSink } from '../../src/ssh/socketSink.js';

// ssh2's ciphers (AES-GCM: ours, from the addon, put in place by aesGcm.js) and its own
// deciphers: what the writer seals, ssh2 (and so sshd) must open.
const require = createRequire(import.meta.url);
const crypto = require('ssh2/lib/protocol/crypto.js') as {
  init: Promise<void>;
  CIPHER_INFO: Record<string, unknown>;
  createCipher(config: object): Ssh2Outbound['_cipher'];
  createDecipher(config: object): { decrypt(data: Buffer, p: number, len: number): unknown };
};
const { PacketWriter } = require('ssh2/lib/protocol/zlib.js') as { PacketWriter: new (proto: unknown) => unknown };

/** Collects what reaches the "socket" and counts the writes. */
class Sink implements ByteSink {
  chunks: Buffer[] = [];
  readonly queued = 0;
  readonly native = undefined;
  write(bytes: Uint8Array, done: () => void): void {
    this.chunks.push(Buffer.from(bytes));
    done();
  }
  batch(fn: () => void): void {
    fn();
  }
  onceDrained(cb: () => void): void {
    cb();
  }
}

function pair(name: string, keyLen: number, ivLen: number) {
  const key = randomBytes(keyLen);
  const iv = randomBytes(ivLen);
  const info = crypto.CIPHER_INFO[name];
  const cipher = crypto.createCipher({ outbound: { onWrite: () => {}, cipherInfo: info, cipherKey: key, cipherIV: iv, seqno: 7 } });
  const payloads: Buffer[] = [];
  const decipher = crypto.createDecipher({
    inbound: { onPayload: (p: Buffer) => void payloads.push(Buffer.from(p)), decipherInfo: info, decipherKey: key, decipherIV: iv, seqno: 7 },
  });
  const proto: Ssh2Outbound = { _kexinit: undefined, _cipher: cipher, _packetRW: { write: undefined } };
  proto._packetRW.write = new PacketWriter(proto);
  const sink = new Sink();
  const writer = new ChannelDataWriter(proto, sink);
  return { cipher, decipher, payloads, proto, sink, writer };
}

function channelData(recipient: number, data: Buffer): Buffer {
  const b = Buffer.alloc(9 + data.length);
  b[0] = 94;
  b.writeUInt32BE(recipient, 1);
  b.writeUInt32BE(data.length, 5);
  data.copy(b, 9);
  return b;
}

for (const [name, keyLen, ivLen] of [['aes128-gcm@openssh.com', 16, 12], ['aes256-gcm@openssh.com', 32, 12], ['chacha20-poly1305@openssh.com', 64, 0]] as const) {
  test.serial(`${name}: sealed CHANNEL_DATA opens with ssh2's decipher, in order, across batches and slabs`, async (t) => {
    await crypto.init;
    const { cipher, decipher, payloads, sink, writer } = pair(name, keyLen, ivLen);
    // sizes around block boundaries, and enough 16 KB packets to fill more than one 1 MB slab
    const sent = [1, 15, 16, 17, 40, 1500, 9000, ...Array.from({ length: 80 }, (_, i) => 16000 + (i % 17))].map((n) => randomBytes(n));
    let sealed = 0;
    writer.batch(() => {
      for (const d of sent.slice(0, 60)) sealed += writer.add(3, d) ? 1 : 0;
    });
    for (const d of sent.slice(60)) sealed += writer.add(3, d) ? 1 : 0; // outside a batch: one write each
    t.is(sealed, sent.length);
    await new Promise((r) => setImmediate(r));
    const wire = Buffer.concat(sink.chunks);
    decipher.decrypt(wire, 0, wire.length);
    t.is(payloads.length, sent.length);
    t.is(sent.findIndex((d, i) => !payloads[i]!.equals(channelData(3, d))), -1);
    t.is(cipher.outSeqno, 7 + sent.length);
    t.true(sink.chunks.length < sent.length, 'the batch left as fewer writes');
    t.is(isSealer((cipher as { _instance?: unknown })._instance), name.startsWith('aes'), 'AES-GCM is sealed by the addon');
  });
}

test.serial('declines during a key exchange, and for ciphers it does not seal in place', async (t) => {
  await crypto.init;
  const { proto, writer, sink } = pair('aes128-gcm@openssh.com', 16, 12);
  proto._kexinit = Buffer.alloc(1);
  t.false(writer.add(1, Buffer.alloc(10)));
  proto._kexinit = undefined;
  const ctr = crypto.createCipher({
    outbound: { onWrite: () => {}, cipherInfo: crypto.CIPHER_INFO['aes128-ctr'], cipherKey: randomBytes(16), cipherIV: randomBytes(16), seqno: 0, macInfo: { sslName: 'sha256', len: 32, actualLen: 32, isETM: false }, macKey: randomBytes(32) },
  });
  proto._cipher = ctr;
  t.false(writer.add(1, Buffer.alloc(10)));
  t.is(sink.chunks.length, 0);
});
