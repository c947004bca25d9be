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
