import { randomBytes } from 'node:crypto';
import net from 'node:net';
import test from 'ava';
import fc from 'fast-check';
import { parseAllowEntry, type AllowRule } from '../../src/config/allow.js';
import { AllowList } from '../../src/datapath/allowList.js';
import { FlowTable } from '../../src/datapath/conntrack.js';
import { loadAddon } from '../../src/native/addon.js';
import { AF_INET, AF_INET6, checkFramed, FRAME_HEADER, isTcpSyn } from '../../src/datapath/packet.js';
import { ChannelDataWriter } from '../../src/datapath/ssh/channelDataWriter.js';
import type { ByteSink } from '../../src/datapath/ssh/socketSink.js';
import { cipherBox, decipherBox } from '../../src/ssh2/box.js';
import { socketHandle } from '../../src/util/socketHandle.js';
import { tcpSegment, udpDatagram } from './segments.js';

// The C packet path and its JavaScript twin, fed the same input, must agree.

test('framed packet check: C (framed_ok) and JavaScript (checkFramed) give one verdict', (t) => {
  const frame = (family: number, ip: Uint8Array): Uint8Array => {
    const b = new Uint8Array(FRAME_HEADER + ip.length);
    b[3] = family;
    b.set(ip, FRAME_HEADER);
    return b;
  };
  // well-formed-ish IPv4 and IPv6 headers with random lengths, and every truncation of them
  const ipv4 = fc
    .tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 120 }), fc.uint8Array({ minLength: 0, maxLength: 100 }))
    .map(([ihl, total, rest]) => {
      const ip = new Uint8Array(20 + rest.length);
      ip[0] = 0x40 | ihl;
      ip[2] = total >> 8;
      ip[3] = total & 255;
      ip.set(rest, 20);
      return frame(2, ip);
    });
  const ipv6 = fc.tuple(fc.integer({ min: 0, max: 100 }), fc.uint8Array({ minLength: 0, maxLength: 100 })).map(([payload, rest]) => {
    const ip = new Uint8Array(40 + rest.length);
    ip[0] = 0x60;
    ip[4] = payload >> 8;
    ip[5] = payload & 255;
    ip.set(rest, 40);
    return frame(24, ip);
  });
  const anyBytes = fc.uint8Array({ minLength: 0, maxLength: 80 });
  const { framedOk } = loadAddon();
  fc.assert(
    fc.property(fc.oneof(ipv4, ipv6, anyBytes), fc.nat(), (b, cut) => {
      for (const bytes of [b, b.subarray(0, b.length === 0 ? 0 : cut % b.length)]) {
        if (framedOk(bytes) !== (checkFramed(bytes) === undefined)) return false;
      }
      return true;
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

test('TCP handshakes: the C outlet and inlet hand JavaScript every SYN isTcpSyn sees, IPv4 and IPv6', (t) => {
  const { tcpHandshake } = loadAddon();
  // TCP over IPv4 (any header length) and IPv6 (next header TCP or another), flags random, cut anywhere
  const v4 = fc
    .tuple(fc.integer({ min: 5, max: 8 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 0, maxLength: 60 }))
    .map(([ihl, flags, rest]) => {
      const ip = new Uint8Array(ihl * 4 + 20 + rest.length);
      ip[0] = 0x40 | ihl;
      ip[2] = ip.length >> 8;
      ip[3] = ip.length & 255;
      ip[9] = 6;
      ip[ihl * 4 + 13] = flags;
      ip.set(rest, ihl * 4 + 20);
      return ip;
    });
  const v6 = fc
    .tuple(fc.constantFrom(6, 6, 17, 0), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 0, maxLength: 60 }))
    .map(([next, flags, rest]) => {
      const ip = new Uint8Array(60 + rest.length);
      ip[0] = 0x60;
      ip[4] = (ip.length - 40) >> 8;
      ip[5] = (ip.length - 40) & 255;
      ip[6] = next;
      ip[53] = flags;
      ip.set(rest, 60);
      return ip;
    });
  const framed =
    (family: number) =>
    (ip: Uint8Array): Uint8Array => {
      const b = new Uint8Array(FRAME_HEADER + ip.length);
      b[3] = family;
      b.set(ip, FRAME_HEADER);
      return b;
    };
  fc.assert(
    fc.property(fc.oneof(v4.map(framed(2)), v6.map(framed(24))), fc.nat(), (b, cut) => {
      // a cut frame's length fields still claim the whole: fix them as the kernel would have written them
      const bytes = b.slice(0, Math.max(FRAME_HEADER + 20, b.length - (cut % 40)));
      if (bytes[3] === 24) {
        if (bytes.length < FRAME_HEADER + 40) return true;
        bytes[FRAME_HEADER + 4] = (bytes.length - FRAME_HEADER - 40) >> 8;
        bytes[FRAME_HEADER + 5] = (bytes.length - FRAME_HEADER - 40) & 255;
      } else {
        bytes[FRAME_HEADER + 2] = (bytes.length - FRAME_HEADER) >> 8;
        bytes[FRAME_HEADER + 3] = (bytes.length - FRAME_HEADER) & 255;
      }
      if (checkFramed(bytes) !== undefined) return true;
      // JavaScript's SYN is always C's; C may also send what is too short to judge
      return !isTcpSyn(bytes) || tcpHandshake(bytes);
    }),
    { numRuns: 5000 },
  );
  const syn6 = framed(24)(Object.assign(new Uint8Array(60), { 0: 0x60, 5: 20, 6: 6, 53: 0x02 }));
  t.true(tcpHandshake(syn6) && isTcpSyn(syn6));
  const ack6 = framed(24)(Object.assign(new Uint8Array(60), { 0: 0x60, 5: 20, 6: 6, 53: 0x10 }));
  t.false(tcpHandshake(ack6) || isTcpSyn(ack6), 'an ACK stays in C');
});

/** Splits a stream of AES-GCM sealed SSH packets: each packet's length field (sent in clear). */
function packetLengths(wire: Buffer): number[] {
  const out: number[] = [];
  for (let p = 0; p + 4 <= wire.length;) {
    const len = wire.readUInt32BE(p);
    out.push(len);
    p += 4 + len + 16;
  }
  return out;
}

/** Opens a sealed stream with ssh2's decipher (our Opener inside): the payloads, authenticated. */
async function open(wire: Buffer, name: string, key: Buffer, iv: Buffer): Promise<Buffer[]> {
  const payloads: Buffer[] = [];
  (await decipherBox(name, key, iv, 0, (p) => void payloads.push(p)))(wire);
  return payloads;
}

/** A loopback TCP connection: the client's fd for the addon's writer, and all the server reads. */
async function loopback(): Promise<{ fd: number; received: () => Buffer; close: () => void }> {
  const chunks: Buffer[] = [];
  const server = net.createServer((s) => s.on('data', (c: Buffer) => chunks.push(c)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  return {
    fd: socketHandle(client)!.fd!,
    received: () => Buffer.concat(chunks),
    close: () => {
      client.destroy();
      server.close();
    },
  };
}

for (const [name, ssl, keyLen] of [
  ['aes128-gcm@openssh.com', 'aes-128-gcm', 16],
  ['aes256-gcm@openssh.com', 'aes-256-gcm', 32],
] as const) {
  test.serial(`${name}: the C outlet and the JavaScript writer frame and seal the same tun packets alike`, async (t) => {
    const key = randomBytes(keyLen);
    const iv = randomBytes(12);
    const packets = [1, 15, 16, 17, 40, 63, 64, 65, 1500, 9000, 16000].map((n) => randomBytes(n));
    const recipient = 0x01020304;

    // JavaScript: ChannelDataWriter with ssh2's cipher (the addon's Sealer inside)
    const box = await cipherBox(name, key, iv, 0);
    const jsChunks: Buffer[] = [];
    const sink: ByteSink = {
      write: (bytes, done) => {
        jsChunks.push(Buffer.from(bytes));
        done();
      },
      queued: 0,
      native: undefined,
      batch: (fn) => fn(),
      onceDrained: (cb) => cb(),
    };
    const writer = new ChannelDataWriter(box.sealer, sink);
    writer.batch(() => {
      for (const p of packets) t.true(writer.add(recipient, p));
    });
    const jsWire = Buffer.concat(jsChunks);

    // C: the outlet, fed the same packets back to back as the tun reader hands them over
    const addon = loadAddon();
    const conn = await loopback();
    const queued = new Float64Array(1);
    const w = addon.writer(conn.fd, queued, () => {});
    const { outletCtl: CTL, outletNum: NUM } = addon.layout;
    const ctl = new Int32Array(CTL.LEN);
    const num = new Float64Array(NUM.LEN);
    const outlet = addon.outlet(w, ctl, num);
    ctl[CTL.RECIPIENT] = recipient;
    ctl[CTL.MAX_PACKET] = 1 << 20;
    ctl[CTL.HIGH_WATER] = 1 << 24;
    num[NUM.WINDOW] = 1 << 24;
    const sealer = new addon.Sealer(ssl, key, iv);
    addon.outletSealer(outlet, sealer);
    ctl[CTL.ENABLED] = 1;
    const taken = addon.outletSend(outlet, Buffer.concat(packets), Uint32Array.from(packets.map((p) => p.length)));
    t.is(taken, packets.length);
    for (let i = 0; i < 200 && conn.received().length < jsWire.length; i++) await new Promise((r) => setTimeout(r, 10));
    const cWire = conn.received();
    addon.outletClose(outlet);
    addon.writerClose(w);
    conn.close();

    // Padding is random on both sides; everything else must be the same.
    t.is(cWire.length, jsWire.length, 'same bytes on the wire');
    t.deepEqual(packetLengths(cWire), packetLengths(jsWire), 'same packet and padding lengths');
    const fromC = await open(cWire, name, key, iv);
    const fromJs = await open(jsWire, name, key, iv);
    t.is(fromC.length, packets.length);
    t.deepEqual(fromC, fromJs, 'same CHANNEL_DATA payloads, authenticated');
    t.is(fromC[0]!.readUInt32BE(1), recipient);
    t.is(sealer.count, box.seqno(), 'same sequence count');
    t.deepEqual(
      [num[NUM.PACKETS], num[NUM.BYTES], num[NUM.WINDOW]],
      [packets.length, packets.reduce((n, p) => n + p.length, 0), (1 << 24) - packets.reduce((n, p) => n + p.length, 0)],
    );
  });
}

test('the addon exports every shared-array field TypeScript uses', (t) => {
  const { layout } = loadAddon();
  for (const [array, fields] of Object.entries(layout)) {
    const indices = Object.entries(fields)
      .filter(([k]) => k !== 'LEN')
      .map(([, v]) => v)
      .sort((a, b) => a - b);
    t.deepEqual(
      indices,
      Array.from({ length: fields.LEN }, (_, i) => i),
      `${array}: indices 0..LEN-1, each once`,
    );
  }
});

test("the allow-list's flow tracking: C's fast path (conntrack.c) and JavaScript's give the same verdicts and leave the same table", (t) => {
  const ME = 0x0a010001;
  const rules = ['10.20.0.5 tcp 5432', '10.20.0.0/24 udp 53', '10.20.0.6 tcp'].map((x) => parseAllowEntry(x) as AllowRule);
  const packet = fc.record({
    outbound: fc.boolean(),
    proto: fc.constantFrom(6, 17),
    peer: fc.constantFrom(0x0a140005, 0x0a140006, 0x0a140007),
    remotePort: fc.constantFrom(5432, 53, 80),
    localPort: fc.constantFrom(40000, 40001),
    flags: fc.constantFrom(0x02, 0x12, 0x10, 0x11, 0x04, 0x18),
    wait: fc.constantFrom(0, 0, 500, 31_000, 200_000),
  });
  const { flowCheck, flowTable } = loadAddon();
  fc.assert(
    fc.property(fc.array(packet, { maxLength: 80 }), fc.integer({ min: 2, max: 16 }), (seq, capacity) => {
      const jsNow = new Float64Array([5000]);
      const cNow = new Float64Array([5000]);
      const js = new AllowList(rules, new FlowTable(capacity, jsNow));
      const withC = new AllowList(rules, new FlowTable(capacity, cNow));
      const native = flowTable({ ...withC.flows.shared(), hits: withC.hits });
      for (const p of seq) {
        jsNow[0]! += p.wait;
        cNow[0]! += p.wait;
        const ends = p.outbound
          ? { src: ME, dst: p.peer, sport: p.localPort, dport: p.remotePort }
          : { src: p.peer, dst: ME, sport: p.remotePort, dport: p.localPort };
        const b = p.proto === 6 ? tcpSegment(p.flags, [], 0, ends) : udpDatagram(ends.src, ends.dst, ends.sport, ends.dport);
        const fast = flowCheck(native, b, p.outbound);
        const verdict = fast >= 0 ? fast : withC.check(b, p.outbound);
        if (verdict !== js.check(b, p.outbound)) return false;
      }
      const a = js.flows.shared();
      const c = withC.flows.shared();
      for (const k of Object.keys(a) as (keyof typeof a)[]) {
        if (k !== 'now' && Buffer.compare(Buffer.from(a[k].buffer), Buffer.from(c[k].buffer)) !== 0) return false;
      }
      return Buffer.compare(Buffer.from(js.hits.buffer), Buffer.from(withC.hits.buffer)) === 0 && js.unsolicited === withC.unsolicited;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('IPv6 filters: C hands JavaScript every datagram udpTo6 answers as in-tunnel DNS, and every reply isEchoReply6 waits for', async (t) => {
  const { dns6Candidate, probe6Candidate } = loadAddon();
  const { udpDatagram6, udpTo6, echoRequest6, isEchoReply6 } = await import('../../src/datapath/packet6.js');
  const dns = Uint8Array.from(Buffer.from('fd000099000000000000000000000002', 'hex'));
  const low = Buffer.from(dns).readUInt32BE(12);
  // UDP (and not) to the DNS address or one that differs in a single byte, to port 53 or another, cut anywhere
  const packet = fc.record({
    next: fc.constantFrom(17, 17, 6, 58, 44),
    flip: fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }),
    port: fc.constantFrom(53, 53, 5353),
    payload: fc.uint8Array({ maxLength: 40 }),
    cut: fc.nat({ max: 60 }),
  });
  fc.assert(
    fc.property(packet, ({ next, flip, port, payload, cut }) => {
      const dst = Uint8Array.from(dns);
      if (flip !== undefined) dst[flip] = dst[flip]! ^ 0x5a;
      const b = udpDatagram6(Uint8Array.from(Buffer.alloc(16, 0xfd)), 40000, dst, port, payload);
      b[FRAME_HEADER + 6] = next;
      const bytes = b.subarray(0, Math.max(FRAME_HEADER + 40, b.length - cut));
      // what JavaScript would answer never stays in C; C's narrower test lets only matching tails by
      const answered = udpTo6(bytes, dns, 53) !== undefined;
      const candidate = dns6Candidate(bytes, low);
      return (!answered || candidate) && (!candidate || (next === 17 && (flip === undefined || flip < 12)));
    }),
    { numRuns: 3000 },
  );
  // echo replies, whole or as a first fragment, reach the probe
  const reply = echoRequest6(dns, Uint8Array.from(Buffer.alloc(16, 0xfd)), 0xcb07, 1, 1280);
  reply[FRAME_HEADER + 40] = 129;
  t.true(isEchoReply6(reply, dns, 0xcb07) && probe6Candidate(reply));
  const frag = Buffer.concat([reply.subarray(0, FRAME_HEADER + 40), Buffer.from([58, 0, 0, 1, 0, 0, 0, 9]), reply.subarray(FRAME_HEADER + 40, 300)]);
  frag[FRAME_HEADER + 6] = 44;
  t.true(isEchoReply6(frag, dns, 0xcb07) && probe6Candidate(frag));
  t.false(probe6Candidate(udpDatagram6(dns, 53, dns, 53, new Uint8Array(8))), 'UDP is no probe reply');
});

test("sources: C's source_ok and sourceOk admit exactly the same frames, for any table sources.ts builds", async (t) => {
  const { sourceOk: cSourceOk } = loadAddon();
  const { sourceOk, sourceTable } = await import('../../src/datapath/sources.js');
  const prefix4 = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 })).map(([a, p]) => {
    const m = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
    const n = (a & m) >>> 0;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${p}`;
  });
  const prefix6 = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 })).map(([b, p]) => {
    const bits = BigInt(`0x${Buffer.from(b).toString('hex')}`);
    const mask = p === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - p)) - 1n);
    const v = bits & mask;
    const hex = v.toString(16).padStart(32, '0');
    return `${hex.match(/.{4}/g)!.join(':')}/${p}`;
  });
  const rules = fc.record({
    routes: fc.array(prefix4, { maxLength: 4 }),
    routes6: fc.array(prefix6, { maxLength: 3 }),
    fullTunnel: fc.boolean(),
    fullTunnel6: fc.boolean(),
  });
  // frames of either family whose source is near the table's prefixes (random words often miss everything)
  const frame = fc.record({ v6: fc.boolean(), src: fc.uint8Array({ minLength: 16, maxLength: 16 }), len: fc.integer({ min: 0, max: 80 }) });
  fc.assert(
    fc.property(rules, frame, fc.boolean(), (r, f, near) => {
      const table = sourceTable({ remote: '10.9.0.2', remote6: 'fd00:9::2', ...r });
      const b = Buffer.alloc(FRAME_HEADER + (f.v6 ? 60 : 40));
      b.writeUInt32BE(f.v6 ? AF_INET6 : AF_INET, 0);
      b[FRAME_HEADER] = f.v6 ? 0x60 : 0x45;
      if (f.v6) b.writeUInt16BE(20, FRAME_HEADER + 4);
      else b.writeUInt16BE(40, FRAME_HEADER + 2);
      const src = Buffer.from(f.src);
      // near: a route's own first address (random words miss most prefixes)
      if (near && !f.v6 && r.routes.length) Buffer.from(r.routes[0]!.split('/')[0]!.split('.').map(Number)).copy(src);
      if (near && f.v6 && r.routes6.length) Buffer.from(r.routes6[0]!.split('/')[0]!.replace(/:/g, ''), 'hex').copy(src);
      src.copy(b, FRAME_HEADER + (f.v6 ? 8 : 12), 0, f.v6 ? 16 : 4);
      const bytes = b.subarray(0, Math.min(b.length, FRAME_HEADER + 20 + f.len));
      const js = checkFramed(bytes) === undefined && sourceOk(table, bytes);
      return cSourceOk(bytes, table) === js;
    }),
    { numRuns: 5000 },
  );
  // a short or hostile table is never read past in C
  const frame4 = Buffer.alloc(FRAME_HEADER + 20);
  frame4.writeUInt32BE(AF_INET, 0);
  frame4[FRAME_HEADER] = 0x45;
  frame4.writeUInt16BE(20, FRAME_HEADER + 2);
  t.false(cSourceOk(frame4, Uint32Array.from([1000, 1000, 0, 0])));
  t.false(cSourceOk(frame4, new Uint32Array(0)));
  t.true(cSourceOk(frame4, Uint32Array.from([1, 0, 0, 0])), '0.0.0.0/0 admits it');
});
