import net from 'node:net';
import test from 'ava';
import { DnsForwarder } from '../../src/dns/forwarder.js';
import { parseResolvConf } from '../../src/plan/dns.js';
import { answer, aRecords, fitUdp, inDomain, MAX_UDP_ANSWER, parseQuery, query, RCODE_NXDOMAIN, TYPE_AAAA } from '../../src/dns/message.js';

test('queries parse; responses, other opcodes and broken names do not', (t) => {
  const q = query(0x1234, 'DB.Vpc.Internal');
  t.like(parseQuery(q), { id: 0x1234, name: 'db.vpc.internal', type: 1, end: q.length });
  const resp = Buffer.from(q);
  resp[2] = 0x81;
  t.is(parseQuery(resp), undefined);
  const notify = Buffer.from(q);
  notify[2] = 0x20; // opcode 4
  t.is(parseQuery(notify), undefined);
  t.is(parseQuery(q.subarray(0, 20)), undefined);
  t.is(parseQuery(Buffer.alloc(5)), undefined);
});

test("answers: A records with the question's id and name, NXDOMAIN, no data for other types", (t) => {
  const q = query(7, 'web.stg.docker');
  const a = answer(q, parseQuery(q)!, [0x0a000002, 0x0a000003], 5);
  t.is(a.readUInt16BE(0), 7);
  t.is(a[2]! & 0x80, 0x80);
  t.deepEqual(aRecords(a), [0x0a000002, 0x0a000003]);
  const nx = answer(q, parseQuery(q)!, [], 5, RCODE_NXDOMAIN);
  t.is(nx[3]! & 0x0f, 3);
  t.deepEqual(aRecords(nx), []);
  const aaaa = query(8, 'web.stg.docker', 28);
  t.deepEqual(aRecords(answer(aaaa, parseQuery(aaaa)!, [1], 5)), []);
  t.true(inDomain('a.vpc.internal', 'vpc.internal'));
  t.true(inDomain('vpc.internal', 'vpc.internal'));
  t.false(inDomain('xvpc.internal', 'vpc.internal'));
});

test('over 512 bytes a UDP answer is cut to its question with TC set', (t) => {
  const q = query(9, 'big.vpc.internal');
  const big = answer(
    q,
    parseQuery(q)!,
    Array.from({ length: 40 }, (_, i) => i + 1),
    60,
  );
  t.true(big.length > 512);
  const cut = fitUdp(big, parseQuery(q)!);
  t.is(cut.length, q.length);
  t.is(cut[2]! & 0x02, 0x02);
});

test('EDNS(0): an OPT record raises the UDP size a client takes, up to 1232; junk after the question is no OPT', (t) => {
  const withOpt = (size: number): Buffer => {
    const q = query(7, 'big.vpc.internal');
    q.writeUInt16BE(1, 10); // ARCOUNT
    const opt = Buffer.from([0, 0, 41, size >> 8, size & 0xff, 0, 0, 0, 0, 0, 0]);
    return Buffer.concat([q, opt]);
  };
  t.is(parseQuery(query(1, 'a.example'))!.udpSize, 512);
  t.is(parseQuery(withOpt(4096))!.udpSize, MAX_UDP_ANSWER);
  t.is(parseQuery(withOpt(1232))!.udpSize, 1232);
  t.is(parseQuery(withOpt(100))!.udpSize, 512, 'below 512 counts as 512 (RFC 6891)');
  const truncated = withOpt(4096).subarray(0, -5);
  t.is(parseQuery(truncated)!.udpSize, 512);
  const q = withOpt(4096);
  const big = answer(
    q,
    parseQuery(q)!,
    Array.from({ length: 40 }, (_, i) => i + 1),
    60,
  );
  t.true(big.length > 512 && big.length <= 1232);
  t.is(fitUdp(big, parseQuery(q)!), big, 'fits what the client offered: no TC, no retry over TCP');
});

test('resolv.conf: nameservers, and search/options kept', (t) => {
  t.deepEqual(parseResolvConf('# x\nnameserver 10.0.0.2\nsearch corp.example\nnameserver 1.1.1.1\noptions ndots:2\n'), {
    nameservers: ['10.0.0.2', '1.1.1.1'],
    rest: ['search corp.example', 'options ndots:2'],
  });
});

/** A DNS-over-TCP responder on loopback standing where the remote resolver would be (the e2e tests use dnsmasq over SSH). */
async function tcpResolver(addr: number): Promise<{ port: number; asked: string[]; close(): void }> {
  const asked: string[] = [];
  const srv = net.createServer((s) => {
    s.once('data', (b: Buffer) => {
      const msg = b.subarray(2);
      const q = parseQuery(msg)!;
      asked.push(q.name);
      const r = answer(msg, q, [addr], 30);
      const framed = Buffer.alloc(2 + r.length);
      framed.writeUInt16BE(r.length, 0);
      r.copy(framed, 2);
      s.end(framed);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, asked, close: () => srv.close() };
}

test('the forwarder sends split domains to the remote side, answers the container zone itself, SERVFAILs what it cannot reach', async (t) => {
  const remote = await tcpResolver(0x0a090002);
  const fwd = new DnsForwarder({
    domains: ['vpc.internal'],
    remoteServers: () => ['10.0.0.53'],
    dialRemote: (host, port) => {
      t.deepEqual([host, port], ['10.0.0.53', 53]);
      return Promise.resolve(net.connect(remote.port, '127.0.0.1'));
    },
    upstream: [],
    zone: { domain: 'stg.docker', lookup: (n) => (n === 'web' ? { addr: 0x0a140002, addr6: (0xfd00n << 112n) | 2n } : undefined) },
  });
  try {
    const viaRemote = await fwd.resolve(query(1, 'db.vpc.internal'), 'udp');
    t.deepEqual(aRecords(viaRemote!.response), [0x0a090002]);
    t.deepEqual(remote.asked, ['db.vpc.internal']);
    t.deepEqual(aRecords((await fwd.resolve(query(2, 'web.stg.docker'), 'udp'))!.response), [0x0a140002]);
    t.is((await fwd.resolve(query(3, 'gone.stg.docker'), 'udp'))!.response[3]! & 0x0f, RCODE_NXDOMAIN);
    t.is((await fwd.resolve(query(4, 'example.com'), 'udp'))!.response[3]! & 0x0f, 2, 'no upstream: SERVFAIL');
    t.is(await fwd.resolve(Buffer.from('junk'), 'udp'), undefined);
    t.like(fwd.stats, { queries: 4, remote: 1, zone: 2, upstream: 1, failed: 1 });
    // AAAA under a split domain: no records (the tunnel is IPv4), and the remote resolver is not asked
    const v6 = (await fwd.resolve(query(5, 'db.vpc.internal', TYPE_AAAA), 'udp'))!.response;
    t.is(v6[3]! & 0x0f, 0, 'NOERROR');
    t.is(v6.readUInt16BE(6), 0, 'no answers');
    t.deepEqual(remote.asked, ['db.vpc.internal']);
    t.like(fwd.stats, { queries: 5, noIPv6: 1, remote: 1 });
    const zone6 = (await fwd.resolve(query(6, 'web.stg.docker', TYPE_AAAA), 'udp'))!.response;
    t.is(zone6.readUInt16BE(6), 0, "a container's IPv6 address is not given while the tunnel has none");
  } finally {
    remote.close();
  }
});

test('with IPv6 in the tunnel: AAAA from the remote side passed on, and a container answers with its IPv6 address', async (t) => {
  const remote = await tcpResolver(0x0a090002);
  const fwd = new DnsForwarder({
    domains: ['vpc.internal'],
    ipv6: true,
    remoteServers: () => ['10.0.0.53'],
    dialRemote: () => Promise.resolve(net.connect(remote.port, '127.0.0.1')),
    upstream: [],
    zone: { domain: 'stg.docker', lookup: (n) => (n === 'web' ? { addr: 0x0a140002, addr6: (0xfd00n << 112n) | 2n } : undefined) },
  });
  try {
    await fwd.resolve(query(1, 'db.vpc.internal', TYPE_AAAA), 'udp');
    t.deepEqual(remote.asked, ['db.vpc.internal'], 'asked, not answered empty here');
    const r = (await fwd.resolve(query(2, 'web.stg.docker', TYPE_AAAA), 'udp'))!.response;
    t.is(r.readUInt16BE(6), 1);
    const rr = r.length - 28;
    t.is(r.readUInt16BE(rr + 2), TYPE_AAAA);
    t.is(r.readUInt16BE(rr + 10), 16);
    t.is(r.subarray(rr + 12).toString('hex'), 'fd000000000000000000000000000002');
    t.deepEqual(aRecords((await fwd.resolve(query(3, 'web.stg.docker'), 'udp'))!.response), [0x0a140002], 'A as before');
  } finally {
    remote.close();
  }
});

test('a remote resolver that answers junk gets SERVFAIL passed on, never an exception or its bytes', async (t) => {
  const junk = [Buffer.alloc(0), Buffer.from([1]), Buffer.alloc(11, 0xff), Buffer.from('not dns at all, but long enough'), Buffer.alloc(600, 7)];
  for (const body of junk) {
    const srv = net.createServer((s) => {
      s.once('data', () => {
        const framed = Buffer.alloc(2 + body.length);
        framed.writeUInt16BE(body.length, 0);
        body.copy(framed, 2);
        s.end(framed);
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const fwd = new DnsForwarder({
      domains: ['vpc.internal'],
      remoteServers: () => ['10.0.0.53'],
      dialRemote: () => Promise.resolve(net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1')),
      upstream: [],
      zone: undefined,
    });
    const r = await fwd.resolve(query(9, 'db.vpc.internal'), 'udp');
    t.is(r!.response[3]! & 0x0f, 2, `SERVFAIL for ${body.length} bytes of junk`);
    t.is(r!.response.readUInt16BE(0), 9);
    srv.close();
  }
});
