import test from 'ava';
import type { NativeHandle } from '../../src/native/addon.js';
import { FRAME_HEADER, udpDatagram } from '../../src/datapath/packet.js';
import type { PacketChannel, PacketDevice } from '../../src/datapath/ports.js';
import type { BatchHandler } from '../../src/tun/device.js';
import { Pump } from '../../src/datapath/pump.js';
import { sourceTable } from '../../src/datapath/sources.js';
import { tcpSegment } from './segments.js';

// The pump on fakes of its two ends, as wireguard-go's tuntest: a tun device that is an
// array of batches in and packets out, a channel with a window the test sets. Nothing in
// C runs here (the fakes have no outlet or inlet); tunChannel.test.ts covers those.

class FakeTun implements PacketDevice {
  readonly fd = -1;
  written: Buffer[] = [];
  reading = false;
  writeResult = 0;
  private onBatch: BatchHandler | undefined;
  startReading(_mtu: number, onBatch: BatchHandler): void {
    this.onBatch = onBatch;
    this.reading = true;
  }
  setOutlet(_outlet: NativeHandle | undefined): void {}
  pause(): void {
    this.reading = false;
  }
  resume(): void {
    this.reading = true;
  }
  write(framed: Uint8Array): number {
    this.written.push(Buffer.from(framed));
    return this.writeResult || framed.length;
  }
  /** The kernel hands the pump a batch, packed back to back in one arena as the reader does. */
  read(packets: Buffer[]): void {
    this.onBatch!(Buffer.concat(packets), Uint32Array.from(packets.map((p) => p.length)), packets.length, 0, 0);
  }
}

class FakeChannel implements PacketChannel {
  onPacket: (framed: Buffer) => void = () => {};
  onWritable: () => void = () => {};
  maxPacket = 32768 - 4;
  probing = false;
  readonly native = { outbound: false, inbound: false };
  readonly outletSent = { packets: 0, bytes: 0 };
  readonly inletCounts = { packets: 0, bytes: 0, malformed: 0, dropped: 0, spoofed: 0 };
  sent: Buffer[] = [];
  batches = 0;
  /** Packets it takes before it says "no room". */
  room = Infinity;
  /** Answers each packet sent, as the far end would (a probe's echo). */
  answer: ((pkt: Buffer) => Buffer | undefined) | undefined;
  send(framed: Uint8Array): boolean {
    if (this.room <= 0) return false;
    this.room--;
    const pkt = Buffer.from(framed);
    this.sent.push(pkt);
    const reply = this.answer?.(pkt);
    if (reply) queueMicrotask(() => this.onPacket(reply));
    return true;
  }
  batch(fn: () => void): void {
    this.batches++;
    fn();
  }
  useOutlet(): NativeHandle | undefined {
    return undefined;
  }
  useInlet(): void {}
  stopInlet(): void {}
  /** The window opens again. */
  open(room = Infinity): void {
    this.room = room;
    this.onWritable();
  }
}

const A = 0x0a090001; // here
const B = 0x0a090002; // the remote end
const udp = (n: number, size = 100): Buffer => {
  const p = Buffer.alloc(size);
  p.writeUInt32BE(n);
  return udpDatagram(A, 4000, B, 5000, p);
};
const numbers = (list: Buffer[]): number[] => list.map((b) => b.readUInt32BE(FRAME_HEADER + 28));

function pump(opts: ConstructorParameters<typeof Pump>[2] = {}): { p: Pump; tun: FakeTun } {
  const tun = new FakeTun();
  const p = new Pump(tun, 1500, opts);
  p.start(() => undefined);
  return { p, tun };
}

test('outbound: one tun batch becomes one batch of sends, counted', (t) => {
  const { p, tun } = pump();
  const ch = new FakeChannel();
  p.attach(ch);
  tun.read([udp(1), udp(2), udp(3)]);
  t.deepEqual(numbers(ch.sent), [1, 2, 3]);
  t.is(ch.batches, 2, 'the flush at attach, then this batch');
  t.is(p.stats.txPackets, 3);
  t.is(p.stats.txBytes, 3 * udp(1).length);
});

test('no room: packets are held in order and the tun paused; the window opens and they go first', (t) => {
  const { p, tun } = pump();
  const ch = new FakeChannel();
  p.attach(ch);
  ch.room = 2;
  tun.read([udp(1), udp(2), udp(3), udp(4)]);
  t.deepEqual(numbers(ch.sent), [1, 2]);
  t.false(tun.reading, 'back pressure: the tun is not read');
  ch.open(1);
  t.deepEqual(numbers(ch.sent), [1, 2, 3]);
  t.false(tun.reading);
  ch.open();
  t.deepEqual(numbers(ch.sent), [1, 2, 3, 4]);
  t.true(tun.reading, 'all sent: reading again');
  t.is(p.stats.txPackets, 4);
});

test('no channel: packets wait and wake the keeper; a new channel takes them, or they are dropped', (t) => {
  const { p, tun } = pump();
  let wakes = 0;
  p.onWake = () => void wakes++;
  tun.read([udp(1), udp(2)]);
  t.is(wakes, 1);
  t.false(tun.reading);
  const ch = new FakeChannel();
  p.attach(ch);
  t.deepEqual(numbers(ch.sent), [1, 2], 'held packets leave first');
  p.detach();
  tun.read([udp(3)]);
  p.dropHeld();
  t.is(p.stats.txDropped, 1);
  t.true(tun.reading);
});

test('a packet larger than the peer takes is dropped, not held; the hold is bounded', (t) => {
  const { p, tun } = pump();
  const ch = new FakeChannel();
  ch.maxPacket = 200;
  p.attach(ch);
  tun.read([udp(1, 300), udp(2)]);
  t.deepEqual(numbers(ch.sent), [2]);
  t.is(p.stats.txDropped, 1);
  // no channel: 4 MiB of 30 KB packets held at most
  p.detach();
  ch.maxPacket = 40000;
  for (let i = 0; i < 200; i++) tun.read([udp(100 + i, 30000)]);
  t.true(p.stats.txDropped > 1 + 50, 'beyond the bound, dropped');
  const next = new FakeChannel();
  p.attach(next);
  t.true(next.sent.length <= Math.ceil((4 * 1024 * 1024) / 30000));
});

test('inbound: malformed and spoofed packets are counted and dropped, the rest written to the tun', (t) => {
  const { p, tun } = pump({ sources: sourceTable({ remote: '10.9.0.2', routes: ['192.168.5.0/24'], routes6: [], fullTunnel: false, fullTunnel6: false }) });
  const ch = new FakeChannel();
  p.attach(ch);
  const good = udpDatagram(B, 5000, A, 4000, Buffer.from('hi'));
  const routed = udpDatagram(0xc0a80509, 53, A, 4000, Buffer.from('hi'));
  const spoofed = udpDatagram(0x08080808, 53, A, 4000, Buffer.from('hi'));
  const malformed = good.subarray(0, 20);
  for (const pkt of [good, routed, spoofed, malformed]) ch.onPacket(pkt);
  t.deepEqual(tun.written, [good, routed]);
  t.like(p.stats, { rxPackets: 2, rxSpoofed: 1, rxMalformed: 1 });
  tun.writeResult = -11; // EAGAIN: the kernel's queue is full
  ch.onPacket(good);
  t.is(p.stats.rxDropped, 1);
});

test('MSS clamps: an outbound SYN to a clamped network and an inbound SYN from one are lowered', (t) => {
  const clamp = { addr: 0xc0a80500, mask: 0xffffff00, mss: 1200 };
  const { p, tun } = pump({ clamps: [clamp] });
  const ch = new FakeChannel();
  p.attach(ch);
  const mssOf = (b: Buffer): number => b.readUInt16BE(FRAME_HEADER + 20 + 22);
  const syn = (src: number, dst: number): Buffer => tcpSegment(0x02, [2, 4, 0x23, 0x28], 0, { src, dst }); // MSS 9000
  tun.read([syn(A, 0xc0a80507), syn(A, 0x0a0a0a0a)]);
  t.deepEqual(ch.sent.map(mssOf), [1200, 9000], 'outbound: by destination');
  ch.onPacket(syn(0xc0a80507, A));
  ch.onPacket(syn(A, 0xc0a80507));
  t.deepEqual(tun.written.map(mssOf), [1200, 9000], 'inbound: by source');
});

test('DNS to the in-tunnel address is answered here, never sent', async (t) => {
  const { p, tun } = pump({ dns: { addr: B, addr6: undefined, answer: async (q) => Buffer.concat([q, Buffer.from('!')]) } });
  const ch = new FakeChannel();
  p.attach(ch);
  tun.read([udpDatagram(A, 3333, B, 53, Buffer.from('query')), udp(1)]);
  t.deepEqual(numbers(ch.sent), [1]);
  await new Promise((r) => setImmediate(r));
  t.is(tun.written.length, 1);
  t.deepEqual(tun.written[0], udpDatagram(B, 53, A, 3333, Buffer.from('query!')));
});

test('a probe resolves on its echo reply, which does not reach the tun; probing is set only while it waits', async (t) => {
  const { p, tun } = pump();
  const ch = new FakeChannel();
  const probingSeen: boolean[] = [];
  ch.answer = (req) => {
    probingSeen.push(ch.probing);
    const reply = Buffer.from(req);
    reply.copy(reply, FRAME_HEADER + 12, FRAME_HEADER + 16, FRAME_HEADER + 20); // from the far end
    reply[FRAME_HEADER + 20] = 0; // echo reply
    return reply;
  };
  p.attach(ch);
  const ms = await p.ping(A, B, 1000);
  t.true(ms >= 0);
  t.deepEqual(probingSeen, [true]);
  t.false(ch.probing);
  t.is(tun.written.length, 0);
  ch.answer = undefined;
  await t.throwsAsync(p.ping(A, B, 50), { message: /no echo reply within 50 ms/ });
  t.false(ch.probing);
});
