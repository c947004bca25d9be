import { randomBytes } from 'node:crypto';
import test from 'ava';
import { AF_INET, AF_INET6, checkFramed, echoRequest, isEchoReply } from '../../src/datapath/packet.js';

function ipv4(totalLen: number, pad = 0): Buffer {
  const b = Buffer.alloc(4 + totalLen + pad);
  b.writeUInt32BE(AF_INET, 0);
  b[4] = 0x45;
  b.writeUInt16BE(totalLen, 6);
  return b;
}

test('framed IPv4 and IPv6 packets pass the check', (t) => {
  t.is(checkFramed(ipv4(40)), undefined);
  t.is(checkFramed(ipv4(40, 10)), undefined); // trailing padding is legal
  const v6 = Buffer.alloc(4 + 40 + 8);
  v6.writeUInt32BE(AF_INET6, 0);
  v6[4] = 0x60;
  v6.writeUInt16BE(8, 8);
  t.is(checkFramed(v6), undefined);
  t.is(checkFramed(echoRequest(0x0a000001, 0x0a000002, 1, 1)), undefined);
});

test('malformed frames are named, never thrown', (t) => {
  t.is(checkFramed(Buffer.alloc(3)), 'short');
  const wrongFamily = ipv4(40);
  wrongFamily.writeUInt32BE(7, 0);
  t.is(checkFramed(wrongFamily), 'family');
  const v6InV4 = ipv4(40);
  v6InV4[4] = 0x65;
  t.is(checkFramed(v6InV4), 'version');
  t.is(checkFramed(ipv4(40).subarray(0, 30)), 'length');
  const badIhl = ipv4(40);
  badIhl[4] = 0x41;
  t.is(checkFramed(badIhl), 'length');
});

test('random and truncated input never throws', (t) => {
  for (let i = 0; i < 20000; i++) {
    const b = randomBytes(i % 97);
    if (i % 3 === 0 && b.length > 4) b.writeUInt32BE(i % 2 ? AF_INET : AF_INET6, 0);
    t.notThrows(() => {
      checkFramed(b);
      isEchoReply(b, 1, 1);
    });
  }
  const ok = echoRequest(0x0a000001, 0x0a000002, 7, 1);
  for (let n = 0; n < ok.length; n++) t.notThrows(() => checkFramed(ok.subarray(0, n)));
});

test('echo request checksums verify and only the matching reply is taken', (t) => {
  const req = echoRequest(0x0a000001, 0x0a000002, 0xcb01, 3);
  const sum = (b: Buffer, s: number, e: number): number => {
    let x = 0;
    for (let i = s; i < e; i += 2) x += (b[i]! << 8) | (i + 1 < e ? b[i + 1]! : 0);
    while (x > 0xffff) x = (x & 0xffff) + (x >>> 16);
    return x;
  };
  t.is(sum(req, 4, 24), 0xffff);
  t.is(sum(req, 24, req.length), 0xffff);
  // turn it into the reply the peer would send
  const reply = Buffer.from(req);
  reply.writeUInt32BE(0x0a000002, 4 + 12);
  reply.writeUInt32BE(0x0a000001, 4 + 16);
  reply[24] = 0;
  t.true(isEchoReply(reply, 0x0a000002, 0xcb01));
  t.false(isEchoReply(reply, 0x0a000002, 0xcb02));
  t.false(isEchoReply(reply, 0x0a000003, 0xcb01));
  t.false(isEchoReply(req, 0x0a000001, 0xcb01)); // a request is not a reply
});

test('UDP to the in-tunnel DNS address: picked out whole, answered with a checksummed datagram', async (t) => {
  const { udpTo, udpDatagram } = await import('../../src/datapath/packet.js');
  const q = udpDatagram(0x0a000001, 40000, 0x0a000002, 53, Buffer.from('query'));
  t.deepEqual(udpTo(q, 0x0a000002, 53), { src: 0x0a000001, sport: 40000, payload: Buffer.from('query') });
  t.is(udpTo(q, 0x0a000003, 53), undefined);
  t.is(udpTo(q, 0x0a000002, 54), undefined);
  const frag = Buffer.from(q);
  frag[4 + 6] = 0x20; // more fragments
  t.is(udpTo(frag, 0x0a000002, 53), undefined);
  // the UDP checksum over the pseudo-header verifies to zero
  const r = udpDatagram(0x0a000002, 53, 0x0a000001, 40000, Buffer.from('answer!'));
  let sum = 17 + (r.length - 24);
  for (let i = 16; i < 24; i += 2) sum += r.readUInt16BE(i);
  for (let i = 24; i < r.length; i += 2) sum += (r[i]! << 8) | (i + 1 < r.length ? r[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  t.is(sum, 0xffff);
  t.is(checkFramed(r), undefined);
});
