import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import test from 'ava';
import { loadAddon } from '../../src/native/addon.js';
import { CERT_HOST_KEY_ALGORITHMS, hostKeyAlgorithms } from '../../src/ssh2/certs.js';
import type { ChannelEnds } from '../../src/ssh2/channel.js';
import {
  atPacketBoundary,
  heldPacket,
  inPlaceSealer,
  openChannel,
  openerNow,
  quietAfterHandshake,
  sealerNow,
  serverDebug,
  transportOf,
} from '../../src/ssh2/connection.js';
import { ChannelFlow } from '../../src/datapath/ssh/flow.js';
import { channel, connect, rekey } from './sshPair.js';

// The ssh2 adapter's contract (src/ssh2/, each hook named in docs/ARCHITECTURE.md): ssh2's
// own Client and Server over loopback TCP in this process, keys exchanged again mid-stream.
// A new ssh2 that moves a private field fails here before any e2e test runs.

const require = createRequire(import.meta.url);
const sha = (chunks: Buffer[]): string => createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('swap the cipher: AES-GCM is sealed and opened by the addon, other ciphers are not; certificates offered first still negotiate', async (t) => {
  const addon = loadAddon();
  const expect: [string, boolean, number][] = [
    ['aes128-gcm@openssh.com', true, 16],
    ['aes256-gcm@openssh.com', true, 16],
    ['chacha20-poly1305@openssh.com', false, 8],
    ['aes128-ctr', false, 0],
  ];
  for (const [cipher, ours, block] of expect) {
    const p = await connect(cipher);
    t.is(sealerNow(p.client) instanceof addon.Sealer, ours, cipher);
    t.is(openerNow(p.client) instanceof addon.Opener, ours, cipher);
    t.is(inPlaceSealer(p.client).block(), block, `${cipher}: sealed in place with block ${block}`);
    p.close();
  }
  t.true(
    hostKeyAlgorithms(true)
      .slice(0, CERT_HOST_KEY_ALGORITHMS.length)
      .every((a, i) => a === CERT_HOST_KEY_ALGORITHMS[i]),
  );
  t.false(hostKeyAlgorithms(false).some((a) => a.includes('-cert-')));
});

test('a connection that stood before ssh2 took it (transport.ts): the banner waited in the kernel, and the session works through a rekey', async (t) => {
  const p = await connect('aes128-gcm@openssh.com', { ring: true, early: true });
  t.is(p.link.ring!.failure, undefined);
  await rekey(p.client);
  const { stream, far } = await channel(p);
  const back = new Promise<string>((resolve) => stream.once('data', (d: Buffer) => resolve(d.toString())));
  far.on('data', (d: Buffer) => far.write(d));
  (stream as unknown as { write(b: string): void }).write('ping');
  t.is(await back, 'ping');
  p.close();
});

test('seal in place declines while keys are being exchanged, and resumes with the new keys', async (t) => {
  const p = await connect('aes128-gcm@openssh.com');
  const sealer = inPlaceSealer(p.client);
  const before = sealerNow(p.client);
  const exchanged = rekey(p.client);
  t.is(sealer.block(), 0, 'a key exchange is under way');
  t.is(sealerNow(p.client), null);
  await exchanged;
  await tick();
  t.is(sealer.block(), 16);
  t.not(sealerNow(p.client), before, 'new keys, a new Sealer');
  p.close();
});

test('quiet after handshake; the transport is our socket, idle; between packets nothing is held', async (t) => {
  const p = await connect('aes128-gcm@openssh.com');
  t.true(p.debugLines.length > 0, 'ssh2 told the handshake');
  quietAfterHandshake(p.client);
  const told = p.debugLines.length;
  await rekey(p.client);
  t.is(p.debugLines.length, told, 'nothing after');
  const { fd, idle, socket } = transportOf(p.client);
  t.is(typeof fd, 'number');
  t.true(idle);
  t.is(socket, p.link.ring!.socket);
  await tick();
  t.true(atPacketBoundary(p.client));
  t.is(heldPacket(p.client), null);
  p.close();
});

test('open channel: a direct-tcpip open the server parses as sent; an unknown type comes back refused with its reason', async (t) => {
  const p = await connect('aes128-gcm@openssh.com');
  const info = new Promise<{ destIP: string; destPort: number; srcIP: string; srcPort: number }>((resolve) =>
    p.peer.once('tcpip', (accept, _reject, i) => {
      accept();
      resolve(i);
    }),
  );
  const extra = Buffer.alloc(4 + 9 + 4 + 4 + 9 + 4);
  let o = extra.writeUInt32BE(9, 0);
  o += extra.write('127.0.0.9', o, 'latin1');
  o = extra.writeUInt32BE(8080, o);
  o = extra.writeUInt32BE(9, o);
  o += extra.write('127.0.0.1', o, 'latin1');
  extra.writeUInt32BE(5555, o);
  const opened = await new Promise<ChannelEnds>((resolve, reject) => {
    t.true(openChannel(p.client, 'direct-tcpip', 3 * 1024 * 1024, extra, (err, ends) => (err ? reject(err) : resolve(ends!))));
  });
  t.deepEqual(await info, { destIP: '127.0.0.9', destPort: 8080, srcIP: '127.0.0.1', srcPort: 5555 });
  t.true(opened.sending);
  t.true(opened.peerMaxPacket > 0);
  const refused = await new Promise<Error & { reason?: number }>((resolve) => {
    openChannel(p.client, 'tun@openssh.com', 1 << 20, Buffer.alloc(8), (err) => resolve(err!));
  });
  t.is(refused.reason, 3, 'SSH_OPEN_UNKNOWN_CHANNEL_TYPE');
  p.close();
});

test('server debug: SSH_MSG_DEBUG reaches the listener until it is stopped', async (t) => {
  const p = await connect('aes128-gcm@openssh.com');
  const heard: string[] = [];
  const stop = serverDebug(p.client, (m) => void heard.push(m));
  // ssh2's Server has no call for it: the test builds the message on the server's protocol object
  const proto = (p.peer as unknown as { _protocol: { _packetRW: { write: { allocStart: number; alloc(n: number): Buffer; finalize(b: Buffer): Buffer } } } })
    ._protocol;
  const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket(proto: unknown, b: Buffer): void };
  const say = (text: string): void => {
    const w = proto._packetRW.write;
    const at = w.allocStart;
    const b = w.alloc(1 + 1 + 4 + text.length + 4);
    b[at] = 4; // SSH_MSG_DEBUG
    b[at + 1] = 0;
    b.writeUInt32BE(text.length, at + 2);
    b.write(text, at + 6, 'latin1');
    b.writeUInt32BE(0, at + 6 + text.length);
    sendPacket(proto, w.finalize(b));
  };
  say('Server has rejected tunnel device forwarding');
  await rekey(p.client); // a round trip: the message has arrived
  stop();
  say('after');
  await rekey(p.client);
  t.deepEqual(heard, ['Server has rejected tunnel device forwarding']);
  p.close();
});

for (const ring of [true, false]) {
  test(`${ring ? 'filter payloads (the read ring)' : 'take inbound data (ssh2 reads)'}, share the window, wait for WINDOW_ADJUST, route writes: 6 MB each way across rekeys on both sides`, async (t) => {
    const p = await connect('aes128-gcm@openssh.com', { ring });
    const { ends, far } = await channel(p);
    const peerWindow = new Float64Array(1);
    ends.sharePeerWindow(peerWindow, 0);
    t.is(peerWindow[0], ends.peerWindow, 'the window lives in the array');
    const flow = new ChannelFlow(p.link, ends, { window: 4 * 1024 * 1024, highWater: 1024 * 1024 });
    let keysIn = 0;
    p.link.ring?.watchKeysIn(() => keysIn++);

    // down: the server writes, our flow receives (the ring hands data over, or ssh2's push)
    const got: Buffer[] = [];
    let gotBytes = 0;
    const ended = new Promise<void>((resolve) => flow.receive((d) => void (got.push(Buffer.from(d)), (gotBytes += d.length)), resolve));
    flow.fill();
    t.is(ends.ourWindow, 4 * 1024 * 1024);
    const down = Array.from({ length: 96 }, () => randomBytes(64 * 1024));
    // up: our flow sends within the peer's window (ssh2's Server grants 2 MiB at a time) and the socket's high water
    const up = Array.from({ length: 96 }, () => randomBytes(64 * 1024));
    const farGot: Buffer[] = [];
    far.on('data', (d: Buffer) => void farGot.push(d));
    let waits = 0;
    const sent = new Promise<void>((resolve) => {
      let i = 0;
      let off = 0;
      const pushOn = (): void => {
        flow.batch(() => {
          while (i < up.length) {
            const size = flow.room(up[i]!.length - off, false);
            if (size === 0) {
              waits++;
              return;
            }
            flow.send(up[i]!.subarray(off, off + size));
            off += size;
            if (off === up[i]!.length) [i, off] = [i + 1, 0];
          }
        });
        if (i === up.length) resolve();
      };
      flow.onWritable = pushOn;
      pushOn();
    });
    const rekeys = (async () => {
      for (let k = 0; k < 3; k++) {
        await new Promise((r) => setTimeout(r, 5));
        // the client's side of each exchange done before the next: the server's callback can come before the
        // client has read its NEWKEYS, and a busy machine then started the next while that one was in flight
        const clientDone = new Promise((r) => p.client.once('handshake', r));
        await rekey(k % 2 ? p.peer : p.client);
        await clientDone;
        for (let n = 0; ring && keysIn < k + 1 && n < 500; n++) await new Promise((r) => setTimeout(r, 10));
      }
    })();
    for (const d of down) if (!far.write(d)) await new Promise((r) => far.once('drain', r));
    await Promise.all([sent, rekeys]);
    for (let n = 0; n < 500 && (gotBytes < 96 * 65536 || Buffer.concat(farGot).length < 96 * 65536); n++) await new Promise((r) => setTimeout(r, 10));
    t.is(sha(got), sha(down), 'down: every byte, in order');
    t.is(sha(farGot), sha(up), 'up: every byte, in order (sealed in place and by ssh2 during the exchanges)');
    t.true(waits > 0, 'the sender waited for WINDOW_ADJUST');
    t.is(peerWindow[0], ends.peerWindow);
    t.true(ends.ourWindow > 2 * 1024 * 1024, 'our window was topped up');
    if (ring) t.true(keysIn >= 3, 'every key exchange was seen');
    far.end();
    far.close();
    await ended;
    p.close();
  });
}
