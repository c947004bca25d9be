import net from 'node:net';
import test from 'ava';
import { loadAddon } from '../../src/native/addon.js';
import type { ChannelEnds } from '../../src/ssh2/channel.js';
import { openChannel } from '../../src/ssh2/connection.js';
import { FRAME_HEADER, udpDatagram } from '../../src/datapath/packet.js';
import { ADMIT_ALL } from '../../src/datapath/sources.js';
import { TunChannel } from '../../src/datapath/ssh/tunChannel.js';
import { connect, rekey, type Pair } from './sshPair.js';

// The tun channel's C halves on a real SSH connection in this process (ssh2's own Server at
// the far end): the outlet seals tun packets in C, the inlet reads the socket and writes tun
// packets in C, each packet one CHANNEL_DATA, and both hand over to JavaScript and back at
// each key exchange. The far end is a direct-tcpip channel (ssh2's Server has no tun
// channel): what crosses is the same CHANNEL_DATA.

const WINDOW = 16 * 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A channel opened with the tun channel's window (as openTunChannel announces it), and the server's end of it. */
async function tunLike(p: Pair): Promise<{ tc: TunChannel; ends: ChannelEnds; far: NodeJS.ReadWriteStream & { close(): void } }> {
  const far = new Promise<NodeJS.ReadWriteStream & { close(): void }>((resolve) => p.peer.once('tcpip', (accept) => resolve(accept())));
  const extra = Buffer.alloc(4 + 9 + 4 + 4 + 9 + 4);
  for (const [at, v] of [
    [0, 9],
    [17, 9],
  ] as const)
    extra.writeUInt32BE(v, at);
  extra.write('127.0.0.1', 4, 'latin1');
  extra.write('127.0.0.1', 21, 'latin1');
  const ends = await new Promise<ChannelEnds>((resolve, reject) =>
    openChannel(p.client, 'direct-tcpip', WINDOW, extra, (err, e) => (err ? reject(err) : resolve(e!))),
  );
  return { tc: new TunChannel(ends, p.link, 0), ends, far: await far };
}

/** Framed UDP datagrams 10.9.0.2 → 10.9.0.1, numbered in their first payload bytes. */
const packets = (from: number, n: number, size = 1200): Buffer[] =>
  Array.from({ length: n }, (_, i) => {
    const payload = Buffer.alloc(size);
    payload.writeUInt32BE(from + i);
    return udpDatagram(0x0a090002, 4000, 0x0a090001, 5000, payload);
  });
const numberOf = (framed: Buffer): number => framed.readUInt32BE(FRAME_HEADER + 28);

/**
 * Splits the inlet's writes to a stream socket into packets, framed again: on Linux the
 * tun device takes bare IP packets (tun_linux.c drops the frame header).
 */
function split(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p + 4 <= stream.length;) {
    const len = stream.readUInt16BE(p + 2);
    out.push(Buffer.concat([Buffer.from([0, 0, 0, 2]), stream.subarray(p, p + len)]));
    p += len;
  }
  return out;
}

test.serial('outlet: tun packets sealed in C arrive whole; during a key exchange JavaScript sends; C resumes with the new keys', async (t) => {
  const addon = loadAddon();
  const p = await connect('aes128-gcm@openssh.com');
  const { tc, far } = await tunLike(p);
  const handle = tc.useOutlet({ dns: undefined, dns6: undefined, synToJs: false, otherToJs: false })!;
  t.truthy(handle);
  t.true(tc.native.outbound);
  const got: Buffer[] = [];
  far.on('data', (d: Buffer) => void got.push(d));
  const batch = (list: Buffer[]): number => addon.outletSend(handle, Buffer.concat(list), Uint32Array.from(list.map((b) => b.length)));

  const first = packets(0, 50);
  t.is(batch(first), 50, 'all sealed and written in C');
  // a key exchange starts: C stops at once, JavaScript sends (ssh2 queues until the new keys)
  const exchanged = rekey(p.client);
  const during = packets(50, 20);
  t.is(batch(during), 0, 'C sends nothing during the exchange');
  t.false(tc.native.outbound);
  for (const pkt of during) t.true(tc.send(pkt));
  await exchanged;
  await sleep(10);
  t.true(tc.native.outbound, 'C again, with the new keys and the sequence number ssh2 counted on');
  const after = packets(70, 50);
  t.is(batch(after), 50);
  const all = [...first, ...during, ...after];
  const total = all.reduce((n, b) => n + b.length, 0);
  for (let i = 0; i < 200 && Buffer.concat(got).length < total; i++) await sleep(10);
  t.deepEqual(Buffer.concat(got), Buffer.concat(all), 'every packet, in order, authenticated by the server');
  t.is(tc.outletSent.packets, 100);
  tc.close();
  p.close();
});

test.serial('inlet: CHANNEL_DATA read and opened in C is written to the tun fd whole; across a key exchange the inlet keeps up', async (t) => {
  const addon = loadAddon();
  const p = await connect('aes128-gcm@openssh.com');
  const { tc, far } = await tunLike(p);
  const [tunFd, testFd] = addon.socketPair();
  const tun = new net.Socket({ fd: testFd, readable: true, writable: false });
  const written: Buffer[] = [];
  tun.on('data', (d: Buffer) => void written.push(d));
  const inJs: Buffer[] = [];
  tc.onPacket = (framed) => void inJs.push(Buffer.from(framed));
  tc.useInlet({ tunFd, synToJs: false, sources: ADMIT_ALL });

  const sent = [...packets(0, 100), ...packets(100, 100, 9000)];
  for (const [i, pkt] of sent.entries()) {
    far.write(pkt);
    if (i === 60) await rekey(p.peer); // the server's new keys: the inlet takes the new Opener
    if (i === 130) await rekey(p.client);
  }
  for (let i = 0; i < 300 && split(Buffer.concat(written)).length + inJs.length < sent.length; i++) await sleep(10);
  const fromC = split(Buffer.concat(written));
  t.true(fromC.length > 0 && tc.native.inbound, 'the inlet wrote packets itself');
  t.is(tc.inletCounts.packets, fromC.length);
  t.deepEqual(
    [...inJs, ...fromC].map(numberOf).sort((a, b) => a - b),
    sent.map(numberOf),
    'every packet exactly once, through JavaScript before the hand-over and C after',
  );
  t.deepEqual(
    fromC.map((b) => b.equals(sent[numberOf(b)]!)),
    fromC.map(() => true),
    'whole and unchanged',
  );
  t.true(tc.maxPacket > 9000);
  tc.close();
  tun.destroy();
  p.close();
});

test.serial('parity: CHANNEL_DATA beyond our window is ignored alike by JavaScript (the read ring) and C (the inlet)', async (t) => {
  const addon = loadAddon();
  const p = await connect('aes128-gcm@openssh.com');
  const { tc, ends, far } = await tunLike(p);
  const inJs: number[] = [];
  tc.onPacket = (framed) => void inJs.push(numberOf(framed));
  const [tunFd, testFd] = addon.socketPair();
  const tun = new net.Socket({ fd: testFd, readable: true, writable: false });
  const inC: Buffer[] = [];
  tun.on('data', (d: Buffer) => void inC.push(d));
  const [a, b, c, d, e, f] = packets(0, 6);
  const arrive = async (pkt: Buffer): Promise<void> => {
    far.write(pkt);
    await sleep(50);
  };

  for (const window of [0, -10]) {
    ends.ourWindow = window;
    await arrive(window === 0 ? a! : b!);
  }
  ends.ourWindow = WINDOW;
  await arrive(c!);
  t.deepEqual(inJs, [2], 'JavaScript: nothing at a window of 0 or below');

  tc.useInlet({ tunFd, synToJs: false, sources: ADMIT_ALL });
  await arrive(d!);
  t.is(tc.inletCounts.packets, 1, 'C reads from here on');
  for (const window of [0, -10]) {
    ends.ourWindow = window;
    await arrive(window === 0 ? e! : f!);
  }
  t.is(tc.inletCounts.packets, 1, 'C: nothing at a window of 0 or below');
  t.deepEqual(split(Buffer.concat(inC)).map(numberOf), [3]);
  t.deepEqual(inJs, [2]);
  tc.close();
  tun.destroy();
  p.close();
});
