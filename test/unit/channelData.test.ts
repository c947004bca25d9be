import { randomBytes } from 'node:crypto';
import test from 'ava';
import { loadAddon, type OpenerInstance, type SealerInstance } from '../../src/native/addon.js';
import { ChannelDataWriter } from '../../src/datapath/ssh/channelDataWriter.js';
import type { ByteSink } from '../../src/datapath/ssh/socketSink.js';
import { cipherBox, decipherBox } from '../../src/ssh2/box.js';

// ssh2's ciphers and deciphers (for AES-GCM with the addon's classes inside, put in place
// by ssh2.ts; checked against node:crypto below): what the writer seals, ssh2 must open.

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

async function pair(name: string, keyLen: number, ivLen: number) {
  const key = randomBytes(keyLen);
  const iv = randomBytes(ivLen);
  const box = await cipherBox(name, key, iv, 7);
  const payloads: Buffer[] = [];
  const open = await decipherBox(name, key, iv, 7, (p) => void payloads.push(p));
  const sink = new Sink();
  const writer = new ChannelDataWriter(box.sealer, sink);
  return { box, open, payloads, sink, writer };
}

function channelData(recipient: number, data: Buffer): Buffer {
  const b = Buffer.alloc(9 + data.length);
  b[0] = 94;
  b.writeUInt32BE(recipient, 1);
  b.writeUInt32BE(data.length, 5);
  data.copy(b, 9);
  return b;
}

for (const [name, keyLen, ivLen] of [
  ['aes128-gcm@openssh.com', 16, 12],
  ['aes256-gcm@openssh.com', 32, 12],
  ['chacha20-poly1305@openssh.com', 64, 0],
] as const) {
  test.serial(`${name}: sealed CHANNEL_DATA opens with ssh2's decipher, in order, across batches and slabs`, async (t) => {
    const { box, open, payloads, sink, writer } = await pair(name, keyLen, ivLen);
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
    open(wire);
    t.is(payloads.length, sent.length);
    t.is(
      sent.findIndex((d, i) => !payloads[i]!.equals(channelData(3, d))),
      -1,
    );
    t.is(box.seqno(), 7 + sent.length);
    t.true(sink.chunks.length < sent.length, 'the batch left as fewer writes');
    t.is(box.addonSeals, name.startsWith('aes'), 'AES-GCM is sealed by the addon');
  });
}

// Declining during a key exchange and for other ciphers is the adapter's contract: test/unit/ssh2Seam.test.ts.

// The addon's AES-GCM against node:crypto, which shares no code path with it: OpenSSH's
// layout (RFC 5647), the 4-byte length as additional data, the invocation counter in the
// last 8 bytes of the IV incremented per packet.
for (const [ssl, keyLen] of [
  ['aes-128-gcm', 16],
  ['aes-256-gcm', 32],
] as const) {
  test(`${ssl}: the addon's Sealer and Opener agree with node:crypto, packet after packet`, async (t) => {
    // the same check scripts/check-arm64.sh runs in an arm64 Node
    const smoke = (await import(new URL('../../../scripts/addon-smoke.mjs', import.meta.url).href)) as {
      gcmAgrees(addon: unknown, ssl: string, keyLen: number): { problems: string[]; sealer: SealerInstance; opener: OpenerInstance };
    };
    const { problems, sealer, opener } = smoke.gcmAgrees(loadAddon(), ssl, keyLen);
    t.deepEqual(problems, []);
    t.is(sealer.count, 3);
    t.is(opener.count, 3);
    // a changed byte fails the tag
    const packet = Buffer.alloc(4 + 32 + 16);
    packet.writeUInt32BE(32, 0);
    sealer.encrypt(packet);
    packet[10]! ^= 1;
    t.throws(() => opener.decrypt(packet.subarray(4, 36), 32, packet.subarray(36)), { message: /decrypt/ });
  });
}
