import test from 'ava';
import fc from 'fast-check';
import { findEnvironment, parseConfigText } from '../../src/config/load.js';
import { clampMss, isTcpSyn } from '../../src/datapath/packet.js';
import { tcpChecksum, tcpSegment } from './segments.js';

const SYN = 0x02;
const ACK = 0x10;
// MSS 8960, SACK permitted, timestamps, NOP, window scale 7: what Linux sends
const linuxSynOptions = [2, 4, 0x23, 0x00, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];

test("a SYN's MSS is lowered and its checksum stays right", (t) => {
  const syn = tcpSegment(SYN, linuxSynOptions);
  t.true(isTcpSyn(syn));
  t.true(clampMss(syn, 1460));
  t.is(syn.readUInt16BE(24 + 22), 1460);
  t.is(syn.readUInt16BE(24 + 16), tcpChecksum(syn));
  const synAck = tcpSegment(SYN | ACK, linuxSynOptions);
  t.true(clampMss(synAck, 1460));
  t.is(synAck.readUInt16BE(24 + 16), tcpChecksum(synAck));
});

test('left alone: not a SYN, MSS already small, no MSS option, broken options', (t) => {
  const data = tcpSegment(ACK, linuxSynOptions);
  t.false(isTcpSyn(data));
  t.false(clampMss(data, 1460));
  t.false(clampMss(tcpSegment(SYN, [2, 4, 0x05, 0x00]), 1460)); // 1280
  t.false(clampMss(tcpSegment(SYN, [1, 1, 1, 0]), 1460));
  const before = tcpSegment(SYN, [2, 0, 0x23, 0x00]); // option length 0
  const copy = Buffer.from(before);
  t.false(clampMss(before, 1460));
  t.deepEqual(before, copy);
});

test('any bytes: no exception, and a changed packet always checksums', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 500, max: 9000 }), (bytes, mss) => {
      const b = Buffer.from(bytes);
      clampMss(b, mss);
      return true;
    }),
  );
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }), fc.integer({ min: 536, max: 9000 }), (opts, mss) => {
      const b = tcpSegment(SYN, [2, 4, 0x23, 0x00, ...opts]);
      return !clampMss(b, mss) || b.readUInt16BE(24 + 16) === tcpChecksum(b);
    }),
  );
  t.pass();
});

test('config: routes behind a large-MTU tunnel are clamped to 1500 unless their mtu says otherwise', (t) => {
  const env = (routes: string, mtu = 9000) =>
    findEnvironment(
      parseConfigText(
        `
environments:
  e:
    host: h
    tunnel: { local: 10.9.0.1, remote: 10.9.0.2, mtu: ${mtu} }
    routes: ${routes}
`,
        '/c.yaml',
        '/home/u',
      ),
      'e',
    );
  t.deepEqual(env('[10.1.0.0/16]').mssClamps, [{ cidr: '10.1.0.0/16', mss: 1460 }]);
  t.deepEqual(env('[{ cidr: 10.1.0.0/16, mtu: 9001 }, { cidr: 10.2.0.0/16, mtu: 1400 }]').mssClamps, [{ cidr: '10.2.0.0/16', mss: 1360 }]);
  t.deepEqual(env('[10.1.0.0/16]', 1500).mssClamps, []);
  t.deepEqual(env('[{ cidr: 10.1.0.0/16, mtu: 9001 }]').routes, ['10.1.0.0/16']);
});

/** A framed IPv6 TCP segment (fd00:1::1 -> fd00:9::2), its checksum over IPv6's pseudo-header. */
function tcp6Segment(flags: number, options: number[]): Buffer {
  const tcpLen = 20 + Math.ceil(options.length / 4) * 4;
  const b = Buffer.alloc(4 + 40 + tcpLen);
  b.writeUInt32BE(24, 0);
  b[4] = 0x60;
  b.writeUInt16BE(tcpLen, 4 + 4);
  b[4 + 6] = 6;
  b[4 + 7] = 64;
  Buffer.from('fd000001000000000000000000000001', 'hex').copy(b, 4 + 8);
  Buffer.from('fd000009000000000000000000000002', 'hex').copy(b, 4 + 24);
  const t = 44;
  b.writeUInt16BE(40000, t);
  b.writeUInt16BE(443, t + 2);
  b[t + 12] = (tcpLen / 4) << 4;
  b[t + 13] = flags;
  options.forEach((v, i) => (b[t + 20 + i] = v));
  b.writeUInt16BE(tcp6Checksum(b), t + 16);
  return b;
}

function tcp6Checksum(b: Buffer): number {
  const t = 44;
  let sum = 6 + (b.length - t);
  for (let i = 4 + 8; i < 4 + 40; i += 2) sum += b.readUInt16BE(i);
  for (let i = t; i < b.length; i += 2) if (i !== t + 16) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

test("an IPv6 SYN's MSS is lowered and its checksum stays right; other IPv6 packets are left alone", (t) => {
  const syn = tcp6Segment(SYN, linuxSynOptions);
  t.true(isTcpSyn(syn));
  t.true(clampMss(syn, 1340));
  t.is(syn.readUInt16BE(44 + 22), 1340);
  t.is(syn.readUInt16BE(44 + 16), tcp6Checksum(syn));
  const ack = tcp6Segment(ACK, []);
  t.false(isTcpSyn(ack));
  t.false(clampMss(ack, 1340));
  const udp = tcp6Segment(SYN, linuxSynOptions);
  udp[4 + 6] = 17;
  t.false(isTcpSyn(udp), 'not TCP');
  t.false(clampMss(udp, 1340));
});
