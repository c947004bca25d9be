import test from 'ava';
import { parseAllowEntry, type AllowRule } from '../../src/config/allow.js';
import { findEnvironment, parseConfigText } from '../../src/config/load.js';
import { formatEndpoint } from '../../src/config/forwards.js';
import { parseGetent } from '../../src/daemon/allowNames.js';
import { AllowList, PASSED, REFUSED } from '../../src/datapath/allowList.js';
import { refusal } from '../../src/datapath/packet.js';
import { ipChecksum, tcpChecksum, tcpSegment, udpDatagram } from './segments.js';

const rule = (x: unknown): AllowRule => {
  const r = parseAllowEntry(x);
  if (typeof r === 'string') throw new Error(r);
  return r;
};

const HOST = 0x0a090002; // 10.9.0.2
const ME = 0x0a010001;
const SYN = 0x02;
const ACK = 0x10;

test('allow entries: the short form and the mapping say the same', (t) => {
  t.deepEqual(rule('10.0.0.0/16'), { text: '10.0.0.0/16', to: '10.0.0.0/16', isName: false, proto: 'any', ports: undefined });
  t.deepEqual(rule('10.9.0.2 tcp 8000-8100'), { text: '10.9.0.2 tcp 8000-8100', to: '10.9.0.2/32', isName: false, proto: 'tcp', ports: [8000, 8100] });
  t.like(rule({ to: 'DB.vpc.internal', proto: 'tcp', ports: 5432 }), { to: 'db.vpc.internal', isName: true, ports: [5432, 5432] });
  t.like(rule('10.1.2.3 icmp'), { proto: 'icmp', ports: undefined });
});

test('allow entries: each mistake is named', (t) => {
  t.regex(parseAllowEntry('10.0.0.1/16') as string, /zero host bits/);
  t.regex(parseAllowEntry('10.0.0.0/8 sctp') as string, /not one of/);
  t.regex(parseAllowEntry('10.0.0.0/8 icmp 80') as string, /ports need protocol tcp or udp/);
  t.regex(parseAllowEntry('10.0.0.0/8 tcp 90-80') as string, /low-high/);
  t.regex(parseAllowEntry('10.0.0.0/8 tcp 70000') as string, /1-65535/);
  t.regex(parseAllowEntry('a b c d') as string, /expected/);
  t.regex(parseAllowEntry({ to: '10.0.0.0/8', port: 1 }) as string, /unknown field "port"/);
  t.regex(parseAllowEntry(42) as string, /must be a string/);
  t.regex(parseAllowEntry('bad_name!') as string, /not a CIDR with zero host bits, an address or a host name/);
  t.regex(parseAllowEntry('fd00::1/64') as string, /not an IPv6 CIDR with zero host bits/);
  t.like(rule('FD00:9::2 tcp 80'), { to: 'fd00:9::2/128', isName: false, proto: 'tcp', ports: [80, 80] });
});

test("first match wins; near misses count as the rule's drops, the rest as unlisted", (t) => {
  const list = new AllowList([rule('10.9.0.2 tcp 8080'), rule('10.9.0.0/24 udp 53'), rule('10.8.0.0/16')]);
  t.is(list.check(tcpSegment(SYN, [], 0, { src: ME, dst: HOST, dport: 8080 }), true), 0);
  t.is(list.check(udpDatagram(ME, HOST, 5000, 53), true), 1);
  t.is(list.check(tcpSegment(SYN, [], 0, { src: ME, dst: 0x0a080909, dport: 1 }), true), 2);
  t.is(list.check(tcpSegment(SYN, [], 0, { src: ME, dst: HOST, dport: 8081 }), true), REFUSED);
  t.is(list.check(tcpSegment(SYN, [], 0, { src: ME, dst: 0x0a070001, dport: 8080 }), true), REFUSED);
  t.deepEqual(
    list.counters.map((c) => [c.hits, c.drops]),
    [
      [1, 1],
      [1, 0],
      [1, 0],
    ],
  );
  t.is(list.unlisted, 1);
  // inbound: only as part of a flow this side started, so answers from allowed peers come back
  t.is(list.check(tcpSegment(SYN | ACK, [], 0, { src: HOST, dst: ME, sport: 8080, dport: 40000 }), false), 0);
  t.is(list.check(tcpSegment(SYN, [], 0, { src: HOST, dst: ME, sport: 9999, dport: 22 }), false), REFUSED);
});

test('ICMP errors pass when they quote a known flow; later fragments match on address and protocol', (t) => {
  const list = new AllowList([rule('10.9.0.2 udp 53')]);
  const frag = udpDatagram(ME, HOST, 5000, 9999);
  frag.writeUInt16BE(100, 4 + 6); // fragment offset 800: no ports in it
  t.is(list.check(frag, true), 0);
  const sent = udpDatagram(ME, HOST, 5000, 53);
  t.is(list.check(refusal(sent)!, false), REFUSED, 'before the flow: a forged error');
  t.is(list.check(sent, true), 0);
  t.is(list.check(refusal(sent)!, false), PASSED, 'an error about what we sent');
  t.is(list.check(refusal(udpDatagram(ME, HOST, 5001, 53))!, false), REFUSED, 'about a flow we never started');
});

test('host-name rules match what they resolve to, and streams by name', (t) => {
  const list = new AllowList([rule('api.vpc.internal tcp 443')]);
  t.is(list.check(tcpSegment(SYN, [], 0, { dst: HOST, dport: 443 }), true), REFUSED);
  list.setAddresses(0, [HOST]);
  t.is(list.check(tcpSegment(SYN, [], 0, { dst: HOST, dport: 443 }), true), 0);
  t.true(list.admitsStream('API.vpc.internal', 443));
  t.true(list.admitsStream('10.9.0.2', 443));
  t.false(list.admitsStream('api.vpc.internal', 80));
  t.false(list.admitsStream('other.internal', 443));
  // before it resolved, the name stood for nothing: that first refusal is unlisted
  t.deepEqual(list.counters[0], { hits: 3, drops: 1 });
  t.is(list.unlisted, 2);
});

test('a refused TCP SYN is answered with a RST+ACK from its destination, checksums right', (t) => {
  const syn = tcpSegment(SYN, [2, 4, 5, 0xb4], 0, { src: ME, dst: HOST, sport: 40000, dport: 8081, seq: 0xfffffff0 });
  const rst = refusal(syn)!;
  t.is(rst.readUInt32BE(4 + 12), HOST);
  t.is(rst.readUInt32BE(4 + 16), ME);
  t.is(rst.readUInt16BE(24), 8081);
  t.is(rst.readUInt16BE(26), 40000);
  t.is(rst.readUInt32BE(24 + 8), 0xfffffff1); // their seq + 1 for the SYN, wrapped
  t.is(rst[24 + 13], 0x14);
  t.is(ipChecksum(rst.subarray(4, 24)), 0);
  t.is(rst.readUInt16BE(24 + 16), tcpChecksum(rst));
  // a segment with ACK: RST with seq = their ack
  const data = tcpSegment(ACK, [], 10, { src: ME, dst: HOST, ack: 12345 });
  const r2 = refusal(data)!;
  t.is(r2.readUInt32BE(24 + 4), 12345);
  t.is(r2[24 + 13], 0x04);
  t.is(refusal(tcpSegment(0x04, [], 0, { src: ME, dst: HOST })), undefined, 'never answer a RST');
});

test('refused UDP and ICMP get "administratively prohibited" quoting the packet', (t) => {
  const udp = udpDatagram(ME, HOST, 5000, 53, 40);
  const icmp = refusal(udp)!;
  t.is(icmp[4 + 9], 1);
  t.is(icmp[24], 3);
  t.is(icmp[25], 13);
  t.deepEqual(icmp.subarray(32), udp.subarray(4, 4 + 28));
  t.is(ipChecksum(icmp.subarray(24)), 0);
  t.is(ipChecksum(icmp.subarray(4, 24)), 0);
  t.is(refusal(icmp), undefined, 'never answer an ICMP error');
  t.is(refusal(Buffer.alloc(10)), undefined);
});

test('getent output: blocks per name, duplicates folded', (t) => {
  const out = '@@ a.internal\n10.0.0.1      STREAM a.internal\n10.0.0.1      DGRAM\n10.0.0.2      STREAM\n@@ b.internal\n';
  t.deepEqual(Object.fromEntries(parseGetent(out)), { 'a.internal': { v4: [0x0a000001, 0x0a000002], v6: [] }, 'b.internal': { v4: [], v6: [] } });
});

const base = `
environments:
  e:
    host: h.example.test
    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }
`;

test('config: allow and forwards, with messages that name the field', (t) => {
  const env = findEnvironment(
    parseConfigText(
      `${base}
    allow: ["10.0.0.0/16", { to: db.internal, proto: tcp, ports: 5432 }]
    forwards:
      - { listen: 8443, to: "127.0.0.1:8080", tls: true, health: http }
      - { listen: /run/app.sock, to: /var/run/app.sock, maxConnections: 4 }
      - { listen: "0.0.0.0:5353", to: "10.0.0.53:53", protocol: udp }
      - { listen: 2525, to: "mail:25", tls: { cert: certs/a.crt, key: /k.key }, health: { check: smtp, interval: 10 } }
`,
      '/etc/cb/config.yaml',
      '/home/dev',
    ),
    'e',
  );
  t.is(env.allow.length, 2);
  t.deepEqual(
    env.forwards.map((f) => [f.protocol, f.name, f.listen.kind, f.to.kind]),
    [
      ['tcp', '8443', 'inet', 'inet'],
      ['tcp', '/run/app.sock', 'unix', 'unix'],
      ['udp', '0.0.0.0:5353', 'inet', 'inet'],
      ['tcp', '2525', 'inet', 'inet'],
    ],
  );
  t.like(env.forwards[0]!, {
    listen: { kind: 'inet', host: '127.0.0.1', port: 8443 },
    tls: 'self-signed',
    health: { kind: 'http', path: '/', interval: 5, timeout: 2 },
  });
  t.deepEqual(env.forwards[3]!.tls, { cert: '/etc/cb/certs/a.crt', key: '/k.key' });
  t.is(env.forwards[1]!.maxConnections, 4);

  const err = (extra: string): string => t.throws(() => parseConfigText(`${base}${extra}`, '/c.yaml', '/h'))!.message;
  t.regex(err('    allow: ["10.0.0.0/8 tcp 99999"]'), /environments\.e\.allow\.0: .*1-65535/);
  t.regex(err('    forwards: [{ listen: 80 }]'), /forwards\.0\.to: must be a non-empty string/);
  t.regex(err('    forwards: [{ listen: "x:y", to: "a:1" }]'), /forwards\.0\.listen: "x:y" is not HOST:PORT/);
  t.regex(err('    forwards: [{ listen: 53, to: "db:53", protocol: udp }]'), /forwards\.0\.to: a UDP forward goes to IPv4:PORT or \[IPv6\]:PORT/);
  t.regex(err('    forwards: [{ listen: 53, to: "10.0.0.1:53", protocol: udp, tls: true }]'), /forwards\.0\.tls: does not apply to UDP/);
  t.regex(err('    forwards: [{ listen: 1, to: "a:1", health: ping }]'), /forwards\.0\.health\.check: must be one of: tcp, http, smtp/);
  t.regex(err('    forwards: [{ listen: 1, to: "a:1", health: { check: tcp, path: /x } }]'), /health\.path: only applies to check: http/);
  t.regex(err('    forwards: [{ listen: 1, to: "a:1" }, { listen: "127.0.0.1:1", to: "b:2" }]'), /forwards\.1\.listen: .*listed twice/);
  t.regex(err('    forwards: [{ listen: 1, to: "a:1", tls: yes }]'), /forwards\.0\.tls: must be true/);
  t.regex(err('    docker: { mode: off, expose: labels }'), /docker\.expose: needs docker mode socket or tcp/);
  t.regex(err('    forwards: [{ listen: 1, to: "[1::2::3]:80" }]'), /forwards\.0\.to: "\[1::2::3\]" is not an IPv6 address/);
  t.regex(err('    forwards: [{ listen: 1, to: "::1:80" }]'), /forwards\.0\.to: "::1:80" is not HOST:PORT, \[IPV6\]:PORT/);
});

test('forwards to and from IPv6 literals, written [ADDRESS]:PORT', (t) => {
  const env = findEnvironment(
    parseConfigText(`${base}    forwards: [{ listen: "[::1]:8080", to: "[fd00::5]:80" }, { listen: 8081, to: "[::1]:9006" }]\n`, '/c.yaml', '/h'),
    'e',
  );
  t.deepEqual(env.forwards[0]!.listen, { kind: 'inet', host: '::1', port: 8080 });
  t.deepEqual(env.forwards[0]!.to, { kind: 'inet', host: 'fd00::5', port: 80 });
  t.is(env.forwards[0]!.name, '[::1]:8080');
  t.is(formatEndpoint(env.forwards[1]!.to), '[::1]:9006');
});
