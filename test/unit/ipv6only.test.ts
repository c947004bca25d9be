import dgram from 'node:dgram';
import test from 'ava';
import { envOf, refusalOf } from './configs.js';
import { ipv6Bytes, parseIPv6 } from '../../src/config/ipv6.js';
import { mainPair, shownPairs } from '../../src/config/tunnelPair.js';
import { DnsForwarder } from '../../src/dns/forwarder.js';
import { query, TYPE_AAAA } from '../../src/dns/message.js';
import { checkFramed } from '../../src/datapath/packet.js';
import { echoRequest6, isEchoReply6, udpDatagram6, udpTo6 } from '../../src/datapath/packet6.js';
import { planLocal, planLocalMtu, planRemote, planStaleDevice } from '../../src/plan/plan.js';
import { clashWithOthers } from '../../src/daemon/preflight.js';
import { describeAction } from '../../src/plan/steps.js';
import { planResolvectl } from '../../src/plan/dns.js';

// A tunnel with IPv6 addresses only: no IPv4 pair anywhere, the probes and
// the in-tunnel DNS over IPv6.

const ONLY6 = '    tunnel: { local6: "fd00:99::1", remote6: "fd00:99::2" }\n';
const A = ipv6Bytes(parseIPv6('fd00:99::1')!);
const B = ipv6Bytes(parseIPv6('fd00:99::2')!);

test('config: IPv6 addresses alone make an IPv6-only tunnel; default is ::/0; IPv4 routes are refused', (t) => {
  const e = envOf(`${ONLY6}    routes: [default]\n    docker: { mode: tcp }\n`);
  t.is(e.tunnel!.local, undefined);
  t.deepEqual(mainPair(e.tunnel!), { local: 'fd00:99::1', remote: 'fd00:99::2', v6: true });
  t.is(shownPairs(e.tunnel!), 'fd00:99::1 <-> fd00:99::2');
  t.true(!e.fullTunnel && e.fullTunnel6, 'default: the one family the tunnel carries');
  t.true(e.dns.all, 'everything goes through the tunnel: names too');
  t.false(
    envOf('    tunnel: { local: 10.9.0.1, remote: 10.9.0.2, local6: "fd00:99::1", remote6: "fd00:99::2" }\n    routes: ["::/0"]\n').dns.all,
    "IPv6's alone beside IPv4: names as before",
  );
  t.deepEqual(e.docker.api, { kind: 'inet', host: 'fd00:99::2', port: 2375 }, "tcp's default host is the remote IPv6 address");
  t.regex(
    refusalOf(`${ONLY6}    routes: [10.1.0.0/16]\n`),
    /routes\.0: "10\.1\.0\.0\/16": IPv4 routes need tunnel\.local and tunnel\.remote \(the tunnel carries IPv6 only\)/,
  );
  t.regex(refusalOf(`${ONLY6}    routes: [0.0.0.0/0]\n`), /IPv4 routes need tunnel\.local/);
  t.regex(refusalOf(`${ONLY6}    routes: ["::/0", default]\n`), /routes\.1: default is listed twice/);
  t.regex(refusalOf('    tunnel: { local6: "fd00:99::1" }\n'), /local6 and remote6 go together/);
  t.regex(refusalOf('    tunnel: { remote: 10.0.0.2, local6: "fd00:99::1", remote6: "fd00:99::2" }\n'), /tunnel\.local: is required/);
  t.regex(refusalOf('    tunnel: { mtu: 1500 }\n'), /tunnel\.local: is required/);
  const dual = envOf('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2, local6: "fd00:99::1", remote6: "fd00:99::2" }\n');
  t.deepEqual(mainPair(dual.tunnel!), { local: '10.99.0.1', remote: '10.99.0.2', v6: false }, 'dual-stack: the probes go over IPv4');
  t.is(shownPairs(dual.tunnel!), '10.99.0.1 <-> 10.99.0.2, fd00:99::1 <-> fd00:99::2');
});

test('plans: no IPv4 step on either end, NAT66 only, the probed MSS for IPv6 only', (t) => {
  const e = envOf(`${ONLY6}    routes: ["fd00:9::/64"]\n    nat: true\n`);
  t.deepEqual(
    planLocal(e, 'cb-stg')
      .slice(0, 3)
      .map((s) => describeAction(s.apply)),
    ['local: link cb-stg mtu 16000 up', 'local: addr-add fd00:99::1 peer fd00:99::2 dev cb-stg', 'local: route-add fd00:9::/64 dev cb-stg'],
  );
  const remote = planRemote(e, e.tunnel!, 'tun0', { ipForward: '0', ip6Forward: '0' }).map((s) => s.apply.side === 'remote' && s.apply.argv.join(' '));
  t.is(remote[0], 'ip link set dev tun0 mtu 16000 up');
  t.is(remote[1], 'ip -6 addr add fd00:99::2 peer fd00:99::1 dev tun0 nodad');
  t.false(
    remote.some((a) => a && /ipv4|^iptables/.test(a)),
    'no IPv4 forwarding, no IPv4 rules',
  );
  t.true(remote.includes('ip6tables -w -t nat -I POSTROUTING -s fd00:99::1/128 -m comment --comment cloudbridge:stg -j MASQUERADE'));
  const mtu = planLocalMtu(e.tunnel!, 'cb-stg', 'tun0', 32760, 16000).map((s) => s.apply.side === 'remote' && s.apply.argv.join(' '));
  t.deepEqual(mtu.slice(1), ['ip -6 route replace fd00:99::1 dev tun0 proto kernel metric 256 advmss 32700']);
  t.regex((planStaleDevice(e.tunnel!, 'tun3').apply as { argv: readonly string[] }).argv[2]!, /grep -q ' fd00:99::2 peer '/);
  // systemd-resolved is given every in-tunnel DNS address the tunnel has
  t.deepEqual((planResolvectl('cb-stg', ['10.99.0.2', 'fd00:99::2'], [])[0]!.apply as { argv: readonly string[] }).argv, [
    'dns',
    'cb-stg',
    '10.99.0.2',
    'fd00:99::2',
  ]);
});

test('preflight: IPv6 pairs clash with a connected environment holding the same addresses', (t) => {
  const e = envOf(`${ONLY6}    routes: ["fd00:9::/64"]\n`);
  const other = { env: 'prod', local: '', remote: '', localDevice: 'cb-prod', routes: [] };
  t.is(clashWithOthers(e, [{ ...other, local6: 'fd00:98::1', remote6: 'fd00:98::2' }]), undefined);
  t.regex(
    clashWithOthers(e, [{ ...other, local6: 'fd00:99::1', remote6: 'fd00:99::3' }]) ?? '',
    /tunnel addresses of stg \(fd00:99::1 <-> fd00:99::2\) clash with prod's \(fd00:99::1 <-> fd00:99::3\), which is connected/,
  );
  t.is(clashWithOthers(e, [{ ...other, local: '10.0.0.1', remote: '10.0.0.2', routes: ['10.0.0.0/8'] }]), undefined, 'IPv4 does not meet IPv6');
  t.regex(
    clashWithOthers(e, [{ ...other, local6: 'fd00:98::1', remote6: 'fd00:98::2', routes: ['fd00:9:0:0::/56'] }]) ?? '',
    /route fd00:9::\/64 of stg overlaps fd00:9:0:0::\/56 of prod/,
  );
  // two full tunnels of IPv6 cannot stand together; IPv4's beside IPv6's can
  const full6 = envOf(`${ONLY6}    routes: [default]\n`);
  t.regex(clashWithOthers(full6, [{ ...other, local6: 'fd00:98::1', remote6: 'fd00:98::2', routes: ['::/0'] }]) ?? '', /both route everything/);
  t.is(clashWithOthers(full6, [{ ...other, local: '10.0.0.1', remote: '10.0.0.2', routes: ['default'] }]), undefined);
});

test("preflight: IPv6 tunnel addresses and routes stay clear of the host's IPv6 networks, unless --force", async (t) => {
  const { localProblem } = await import('../../src/daemon/preflight.js');
  const e = envOf(`${ONLY6}    routes: ["fd00:9::/64"]\n`);
  const facts = { platform: 'linux', force: false, deviceExists: false, resolverTaken: undefined, interfaceNetworks: [], routes: [] } as const;
  t.is(localProblem(e, { ...facts, networks6: [{ cidr: 'fd00:1::/64', dev: 'eth0' }] }), undefined);
  t.is(
    localProblem(e, { ...facts, networks6: [{ cidr: 'fd00:99::/64', dev: 'eth0' }] }),
    "tunnel address fd00:99::1 lies in fd00:99::/64 on eth0; pick tunnel addresses outside the host's networks (or --force)",
  );
  t.regex(
    localProblem(e, { ...facts, networks6: [{ cidr: 'fd00:9::/48', dev: 'wlan0' }] }) ?? '',
    /^route fd00:9::\/64 overlaps fd00:9::\/48 on wlan0; refusing/,
  );
  t.is(localProblem(e, { ...facts, force: true, networks6: [{ cidr: 'fd00:9::/48', dev: 'wlan0' }] }), undefined);
});

test('ICMPv6 echo: a request is a valid frame; its reply is known, in one piece or as a first fragment', (t) => {
  const req = echoRequest6(A, B, 0xcb01, 3, 1280);
  t.is(req.length, 4 + 1280);
  t.is(checkFramed(req), undefined);
  // the reply: addresses swapped, type 129, checksum irrelevant to the match
  const reply = Buffer.from(req);
  reply.set(B, 4 + 8);
  reply.set(A, 4 + 24);
  reply[4 + 40] = 129;
  t.true(isEchoReply6(reply, B, 0xcb01));
  t.false(isEchoReply6(reply, B, 0xcb02), 'another probe');
  t.false(isEchoReply6(reply, A, 0xcb01), 'from elsewhere');
  t.false(isEchoReply6(req, A, 0xcb01), 'a request is no reply');
  // a large reply comes fragmented: [IPv6][fragment header, next 58, offset 0, M][ICMPv6 ...]
  const frag = Buffer.concat([reply.subarray(0, 44), Buffer.from([58, 0, 0, 1, 0, 0, 0, 7]), reply.subarray(44, 200)]);
  frag[4 + 6] = 44;
  t.true(isEchoReply6(frag, B, 0xcb01));
  const later = Buffer.from(frag);
  later[44 + 3] = 0xb9; // offset 23 (x8 bytes), more fragments
  t.false(isEchoReply6(later, B, 0xcb01), 'a later fragment holds no ICMPv6 header');
});

test('in-tunnel DNS over IPv6: the query read out of a datagram, the answer a checksummed datagram back', (t) => {
  const q = udpDatagram6(A, 40000, B, 53, Buffer.from('query'));
  t.is(checkFramed(q), undefined);
  const got = udpTo6(q, B, 53)!;
  t.deepEqual([got.src, got.sport, got.payload.toString()], [Buffer.from(A), 40000, 'query']);
  t.is(udpTo6(q, A, 53), undefined, 'to another address');
  t.is(udpTo6(q, B, 54), undefined, 'to another port');
  // the UDP checksum over IPv6's pseudo-header: summing the segment with it gives 0xffff
  let sum = 17 + (q.length - 44);
  for (let i = 4 + 8; i < 4 + 40; i += 2) sum += q.readUInt16BE(i);
  for (let i = 44; i < q.length; i += 2) sum += i + 1 < q.length ? q.readUInt16BE(i) : q[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  t.is(sum, 0xffff);
});

test('the forwarder: an IPv6-only tunnel answers A under the split domains with no records; it listens on IPv6 addresses', async (t) => {
  const fwd = new DnsForwarder({
    domains: ['vpc.internal'],
    ipv6: true,
    ipv4: false,
    remoteServers: () => [],
    dialRemote: () => Promise.reject(new Error('not asked')),
    upstream: [],
    zone: { domain: 'stg.docker', lookup: () => ({ addr: 0x0a140002, addr6: (0xfd00n << 112n) | 2n }) },
  });
  const a = (await fwd.resolve(query(1, 'db.vpc.internal'), 'udp'))!.response;
  t.is(a.readUInt16BE(6), 0, 'no A records');
  t.is(a[3]! & 0x0f, 0, 'and no error: the name is there, in the other family');
  t.is((await fwd.resolve(query(2, 'web.stg.docker'), 'udp'))!.response.readUInt16BE(6), 0, 'a container: its IPv4 address left out too');
  t.is((await fwd.resolve(query(3, 'web.stg.docker', TYPE_AAAA), 'udp'))!.response.readUInt16BE(6), 1);
  t.like(fwd.stats, { noIPv4: 1 });
  // and on an IPv6 address, as udp6 (port 0: any free one, found by asking)
  const probe = dgram.createSocket('udp6');
  await new Promise<void>((r) => probe.bind(0, '::1', () => r()));
  const port = probe.address().port;
  probe.close();
  await fwd.listen('::1', port);
  const client = dgram.createSocket('udp6');
  const reply = await new Promise<Buffer>((resolve) => {
    client.on('message', (m) => resolve(m));
    client.send(query(4, 'web.stg.docker', TYPE_AAAA), port, '::1');
  });
  client.close();
  await fwd.close();
  t.is(reply.readUInt16BE(6), 1, 'answered over IPv6');
});
