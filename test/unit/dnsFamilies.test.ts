import test from 'ava';
import dnsPacket from 'dns-packet';
import { keepFamilies, withoutHint } from '../../src/dns/families.js';

// An IPv4-only tunnel hands out no IPv6 address by any record, and an IPv6-only one no
// IPv4 address: ANY's AAAA (or A), glue, and the hints of SVCB/HTTPS (RFC 9460 §7.3).

const v4only = { v4: true, v6: false };
const v6only = { v4: false, v6: true };

/** HTTPS rdata: priority 1, target ".", alpn h2, ipv4hint 192.0.2.1, ipv6hint 2001:db8::1. */
const https = Buffer.concat([
  Buffer.from([0, 1, 0]),
  Buffer.from([0, 1, 0, 3, 2, 0x68, 0x32]),
  Buffer.from([0, 4, 0, 4, 192, 0, 2, 1]),
  Buffer.from([0, 6, 0, 16, 0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 1]),
]);

function response(answers: dnsPacket.Answer[], additionals: dnsPacket.Answer[] = []): Buffer {
  return dnsPacket.encode({ type: 'response', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'a.example' }], answers, additionals });
}

const types = (b: Buffer): string[] => (dnsPacket.decode(b).answers ?? []).map((a) => a.type as string);

test('ANY and glue: the other family goes, the rest stays', (t) => {
  const any = response(
    [
      { type: 'A', name: 'a.example', ttl: 60, data: '192.0.2.1' },
      { type: 'AAAA', name: 'a.example', ttl: 60, data: '2001:db8::1' },
      { type: 'TXT', name: 'a.example', ttl: 60, data: 'v=1' },
    ],
    [{ type: 'AAAA', name: 'ns.example', ttl: 60, data: '2001:db8::53' }],
  );
  const v4 = keepFamilies(any, v4only);
  t.deepEqual(types(v4), ['A', 'TXT']);
  t.deepEqual(dnsPacket.decode(v4).additionals, []);
  t.is(dnsPacket.decode(v4).id, 7);
  t.deepEqual(types(keepFamilies(any, v6only)), ['AAAA', 'TXT']);
  t.is(keepFamilies(any, { v4: true, v6: true }), any, 'both families: the bytes as they came');
  const plain = response([{ type: 'CNAME', name: 'a.example', ttl: 60, data: 'b.example' }]);
  t.is(keepFamilies(plain, v4only), plain, 'nothing to cut: the same buffer');
});

test('HTTPS/SVCB: the hint of the missing family is cut, the other params stay', (t) => {
  const cutV6 = withoutHint(https, 6)!;
  t.deepEqual(Buffer.from(cutV6), https.subarray(0, 3 + 7 + 8));
  const cutV4 = withoutHint(https, 4)!;
  t.deepEqual(Buffer.from(cutV4), Buffer.concat([https.subarray(0, 10), https.subarray(18)]));
  const msg = response([{ type: 'UNKNOWN_65', name: 'a.example', ttl: 60, data: https } as unknown as dnsPacket.Answer]);
  const out = dnsPacket.decode(keepFamilies(msg, v4only)).answers![0] as unknown as { type: string; data: Buffer };
  t.is(out.type, 'UNKNOWN_65');
  t.deepEqual(out.data, Buffer.from(cutV6));
  t.false(out.data.includes(Buffer.from([0x20, 0x01, 0x0d, 0xb8])), 'no IPv6 address left in it');
  // rdata that is not RFC 9460's: the record goes
  t.is(withoutHint(Buffer.from([0, 1, 5, 0x61]), 6), undefined);
  t.is(withoutHint(Buffer.concat([https.subarray(0, 3), Buffer.from([0, 6, 0, 16, 1])]), 6), undefined);
  const bad = response([{ type: 'UNKNOWN_64', name: 'a.example', ttl: 60, data: Buffer.from([0, 1, 9]) } as unknown as dnsPacket.Answer]);
  t.deepEqual(types(keepFamilies(bad, v4only)), []);
});

test('what cannot be read is refused, not passed on', (t) => {
  t.throws(() => keepFamilies(Buffer.from([0, 7, 0x81, 0x80, 0, 1, 0, 1]), v4only));
});
