import test from 'ava';
import { cidr6Contains, cidrs6Overlap, formatIPv6, parseCidr6, parseIPv6 } from '../../src/config/ipv6.js';
import { envOf, refusalOf, tableRoute } from './configs.js';
import { planLocal, planLocalMtu, planRemote } from '../../src/plan/plan.js';
import { pinStep, planHalves } from '../../src/plan/fullTunnel.js';
import { choosePath6, type TableRoute6 } from '../../src/platform/pathChoice.js';
import { FlowLog } from '../../src/datapath/flows.js';
import { refusal6 } from '../../src/datapath/packet6.js';
import { containerFacts } from '../../src/docker/labels.js';
import { describeAction } from '../../src/plan/steps.js';
import { darwinCommand } from '../../src/platform/darwin/commands.js';
import { linuxCommand } from '../../src/platform/linux/commands.js';

const T6 = '    tunnel: { local: 10.99.0.1, remote: 10.99.0.2, local6: "fd00:99::1", remote6: "fd00:99::2" }\n';
const env = (body: string): ReturnType<typeof envOf> => envOf(body);
const error = refusalOf;

test('IPv6 text: parsed with :: and an IPv4 tail, written back in RFC 5952 form', (t) => {
  t.is(parseIPv6('::'), 0n);
  t.is(parseIPv6('::1'), 1n);
  t.is(formatIPv6(parseIPv6('FD00:0:0:0:0:0:0:1')!), 'fd00::1');
  t.is(formatIPv6(parseIPv6('::ffff:10.0.0.1')!), '::ffff:a00:1');
  t.is(formatIPv6(parseIPv6('2001:db8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1');
  for (const bad of ['', ':', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '::1.2.3.256', 'fd00::1/64']) t.is(parseIPv6(bad), undefined, bad);
  t.deepEqual(parseCidr6('fd00:1::/64'), { addr: 0xfd000001n << 96n, prefix: 64 });
  t.is(parseCidr6('fd00:1::1/64'), undefined, 'host bits');
  t.is(parseCidr6('fd00::/129'), undefined);
  t.true(cidr6Contains(parseCidr6('fd00::/16')!, parseIPv6('fd00:9::2')!));
  t.false(cidr6Contains(parseCidr6('fd00:1::/32')!, parseIPv6('fd00:2::1')!));
  t.true(cidrs6Overlap(parseCidr6('::/0')!, parseCidr6('fd00::/8')!));
  t.false(cidrs6Overlap(parseCidr6('fd00:1::/32')!, parseCidr6('fd00:2::/32')!));
});

test('IPv6 config: tunnel addresses, routes, default for both families, resolvers and the docker daemon', (t) => {
  const e = env(
    `${T6}    routes: [10.1.0.0/16, "FD00:9:0::/64", { cidr: "fd00:6::/48", mtu: 1400 }]\n    dns: { servers: ["fd00:9::53"] }\n    docker: { mode: tcp, host: "tcp://[fd00:99::2]:2375" }\n`,
  );
  t.is(e.tunnel!.local6, 'fd00:99::1');
  t.deepEqual(e.routes, ['10.1.0.0/16']);
  t.deepEqual(e.routes6, ['fd00:9::/64', 'fd00:6::/48'], 'written back in canonical form');
  t.deepEqual(e.mssClamps6, [
    { cidr: 'fd00:9::/64', mss: 1440 },
    { cidr: 'fd00:6::/48', mss: 1340 },
  ]);
  t.deepEqual(e.dns.servers, ['fd00:9::53']);
  t.deepEqual(e.docker.api, { kind: 'inet', host: 'fd00:99::2', port: 2375 });
  const full = env(`${T6}    routes: [default]\n`);
  t.true(full.fullTunnel && full.fullTunnel6, 'default: both families where the tunnel has both');
  const v4only = env(`${T6}    routes: [0.0.0.0/0]\n`);
  t.true(v4only.fullTunnel && !v4only.fullTunnel6);
  const v6only = env(`${T6}    routes: ["::/0"]\n`);
  t.true(!v6only.fullTunnel && v6only.fullTunnel6);
  t.false(env('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n    routes: [default]\n').fullTunnel6);
});

test('IPv6 config mistakes get one line naming the field', (t) => {
  t.regex(
    error('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n    routes: ["fd00::/64"]\n'),
    /routes\.0: "fd00::\/64": IPv6 routes need tunnel\.local6 and tunnel\.remote6/,
  );
  t.regex(error('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2, local6: "fd00::1" }\n'), /tunnel: local6 and remote6 go together/);
  t.regex(error('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2, local6: "fd00::1", remote6: "fd00::1" }\n'), /local6 and remote6 must differ/);
  t.regex(
    error('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2, local6: "fd00::g", remote6: "fd00::2" }\n'),
    /tunnel\.local6: "fd00::g" is not an IPv6 address/,
  );
  t.regex(
    error('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2, local6: "fd00::1", remote6: "fd00::2", mtu: 1200 }\n'),
    /tunnel\.mtu: IPv6 needs an MTU of at least 1280/,
  );
  t.regex(error(`${T6}    routes: ["fd00:1::1/64"]\n`), /"fd00:1::1\/64" is not an IPv6 CIDR with zero host bits/);
  t.regex(error(`${T6}    routes: ["fd01::/16", "fd01:1::/32"]\n`), /routes\.1: "fd01:1::\/32" overlaps "fd01::\/16"/);
  t.regex(error(`${T6}    routes: ["fd00::/16"]\n`), /covers the tunnel's own address fd00:99::1/);
  t.regex(error(`${T6}    routes: [default, "fd00:1::/32"]\n`), /routes\.1: "fd00:1::\/32" is inside default already/);
  t.regex(error(`${T6}    routes: ["fd00:1::/32", "::/0"]\n`), /routes\.1: ::\/0 takes every IPv6 address/);
  t.regex(error(`${T6}    docker: { mode: tcp, host: "tcp://fd00::2:2375" }\n`), /is not of the form tcp:\/\/IPv4:PORT or tcp:\/\/\[IPv6\]:PORT/);
  t.regex(error(`${T6}    dns: { servers: ["fd00::g"] }\n`), /dns\.servers\.0: "fd00::g" is not an IPv4 or IPv6 address/);
});

test('IPv6 plans: the address after the link is up on both ends, routes, NAT66 undone, the probed MSS, the halves', (t) => {
  const e = env(`${T6}    routes: ["fd00:9::/64"]\n    nat: true\n`);
  const local = planLocal(e, 'cb-stg').map((s) => describeAction(s.apply));
  t.deepEqual(local.slice(0, 4), [
    'local: addr-add 10.99.0.1 peer 10.99.0.2 dev cb-stg',
    'local: link cb-stg mtu 16000 up',
    'local: addr-add fd00:99::1 peer fd00:99::2 dev cb-stg',
    'local: route-add fd00:9::/64 dev cb-stg',
  ]);
  t.like(planLocal(e, 'cb-stg')[1]!.apply, { ipv6: true }, 'IPv6 stays on for this device');
  const masq6 = planLocal(e, 'cb-stg').find((s) => s.title.startsWith('masquerade IPv6'))!;
  t.deepEqual(linuxCommand(masq6.apply as never), [
    'ip6tables',
    '-w',
    '-t',
    'nat',
    '-A',
    'POSTROUTING',
    '-o',
    'cb-stg',
    '-m',
    'comment',
    '--comment',
    'cloudbridge:stg',
    '-j',
    'MASQUERADE',
  ]);
  t.is(describeAction(masq6.undo!), 'local: ip6tables -t nat -D POSTROUTING -o cb-stg -m comment --comment cloudbridge:stg -j MASQUERADE');
  t.like(planLocalMtu(e.tunnel!, 'cb-stg', 'tun0', 32760, 16000)[0]!.apply, { ipv6: true }, 'and after the probe');
  const remote = planRemote(e, e.tunnel!, 'tun0', { ipForward: '0', ip6Forward: '0' });
  const argv = remote.map((s) => s.apply.side === 'remote' && s.apply.argv.join(' '));
  t.is(argv[2], 'ip -6 addr add fd00:99::2 peer fd00:99::1 dev tun0 nodad');
  t.true(argv.includes('sysctl -q -w net.ipv6.conf.all.forwarding=1'));
  t.true(argv.includes('ip6tables -w -t nat -I POSTROUTING -s fd00:99::1/128 -m comment --comment cloudbridge:stg -j MASQUERADE'));
  // each rule's removal checks it is there first (-C), so an undo fails only when it could not do its work
  const undo6 = remote
    .filter((s) => s.undo?.side === 'remote' && /^e=\$\(ip6tables -w -t \w+ -C /.test(s.undo.argv[2] ?? ''))
    .map((s) => (s.undo as { argv: readonly string[] }).argv[2]!);
  t.is(undo6.length, 3);
  t.true(undo6.every((c) => /\[ \$c = 1 \] && exit 0; .*; exec ip6tables -w -t \w+ -D /.test(c)));
  t.false(
    planRemote(e, e.tunnel!, 'tun0', { ipForward: '1', ip6Forward: '1' }).some((s) => s.title === 'remote IPv6 forwarding on'),
    'on already: left alone',
  );
  const mtu = planLocalMtu(e.tunnel!, 'cb-stg', 'tun0', 32760, 16000).map((s) => s.apply.side === 'remote' && s.apply.argv.join(' '));
  t.true(mtu.includes('ip -6 route replace fd00:99::1 dev tun0 proto kernel metric 256 advmss 32700'));
  t.deepEqual(
    planHalves('cb-stg', { v4: true, v6: true }).map((s) => (s.apply as { cidr: string }).cidr),
    ['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1'],
  );
});

test('IPv6 commands on both platforms', (t) => {
  const addr = { side: 'local', op: 'addr-add', dev: 'utun4', local: 'fd00:99::1', peer: 'fd00:99::2' } as const;
  t.deepEqual(darwinCommand(addr), ['ifconfig', 'utun4', 'inet6', 'fd00:99::1', 'fd00:99::2', 'prefixlen', '128', 'alias']);
  t.deepEqual(darwinCommand({ ...addr, op: 'addr-del' }), ['ifconfig', 'utun4', 'inet6', 'fd00:99::1', '-alias']);
  t.deepEqual(linuxCommand({ ...addr, dev: 'cb-stg' }), ['ip', 'addr', 'add', 'fd00:99::1', 'peer', 'fd00:99::2', 'dev', 'cb-stg']);
  const route = { side: 'local', op: 'route-add', dev: 'utun4', cidr: '8000::/1' } as const;
  t.deepEqual(darwinCommand(route), ['route', '-n', 'add', '-inet6', '-net', '8000::/1', '-interface', 'utun4']);
  t.deepEqual(darwinCommand({ ...route, cidr: 'fd00:1::5/128', via: 'fe80::1%en0', dev: 'en0' }), [
    'route',
    '-n',
    'add',
    '-inet6',
    '-host',
    'fd00:1::5',
    'fe80::1%en0',
  ]);
  t.deepEqual(linuxCommand({ ...route, dev: 'cb-stg' }), ['ip', 'route', 'add', '8000::/1', 'dev', 'cb-stg', 'proto', '203']);
});

test('IPv6 exclusions and the path outside our IPv6 routes', (t) => {
  const e = env(`${T6}    routes: [default]\n    exclude: ["2001:db8::/32", 192.0.2.0/24]\n`);
  t.deepEqual(e.exclude, ['2001:db8::/32', '192.0.2.0/24']);
  t.regex(error(`${T6}    routes: ["fd00:9::/64"]\n    exclude: ["2001:db8::/32"]\n`), /exclude\.0: "2001:db8::\/32" is outside every IPv6 route/);
  t.regex(error(`${T6}    routes: [default]\n    exclude: ["fd00:99::/64"]\n`), /covers the tunnel's own address fd00:99::1/);
  t.regex(error(`${T6}    routes: [default]\n    exclude: ["::/1"]\n`), /too wide/);
  const r = (cidr: string, dev: string, more: Partial<TableRoute6> = {}): TableRoute6 => tableRoute(parseCidr6(cidr)!, dev, more);
  const table = [
    r('::/0', 'eth0', { gateway: parseIPv6('fe80::1'), metric: 1024 }),
    r('fd00:3::/64', 'eth0', { metric: 256 }),
    r('::/1', 'cb-stg', { ours: true }),
    r('2001:db8::/32', '', { reject: true }),
  ];
  t.deepEqual(choosePath6(table, parseIPv6('2a00:1450::1')!), { via: 'fe80::1', dev: 'eth0' }, 'our half is not the path');
  t.deepEqual(choosePath6(table, parseIPv6('fd00:3::9')!), { via: undefined, dev: 'eth0' });
  t.is(choosePath6(table, parseIPv6('2001:db8::1')!), 'unreachable');
  t.deepEqual(pinStep('fd00::2', 'SSH server', { via: 'fe80::1', dev: 'eth0' }).apply, {
    side: 'local',
    op: 'route-add',
    dev: 'eth0',
    cidr: 'fd00::2/128',
    via: 'fe80::1',
  });
});

test('the flow log names IPv6 flows: TCP by their SYN, UDP and ICMPv6 once a while', (t) => {
  const lines: string[] = [];
  const log = new FlowLog((l) => lines.push(l));
  const v6 = (next: number, l4: number[]): Buffer => {
    const b = Buffer.alloc(4 + 40 + 20);
    b.writeUInt32BE(24, 0);
    b[4] = 0x60;
    b.writeUInt16BE(20, 8);
    b[10] = next;
    Buffer.from('fd000001000000000000000000000001', 'hex').copy(b, 12);
    Buffer.from('fd000009000000000000000000000002', 'hex').copy(b, 28);
    l4.forEach((v, i) => (b[44 + i] = v));
    return b;
  };
  const tcp = (flags: number): Buffer => v6(6, [0x9c, 0x40, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, flags]);
  log.note(tcp(0x02), 'routed');
  log.note(tcp(0x10), 'routed');
  log.note(v6(17, [0x13, 0x88, 0, 53]), 'routed');
  log.note(v6(17, [0x13, 0x88, 0, 53]), 'routed');
  log.note(v6(58, [128, 0]), 'refused');
  t.deepEqual(lines, [
    'flow tcp [fd00:1::1]:40000 -> [fd00:9::2]:80 routed',
    'flow udp [fd00:1::1]:5000 -> [fd00:9::2]:53 routed',
    'flow icmpv6 fd00:1::1 -> fd00:9::2 refused',
  ]);
});

test("a container's IPv6 address from the daemon's answer", (t) => {
  const facts = containerFacts({
    Id: 'a'.repeat(64),
    Name: '/web',
    NetworkSettings: { Networks: { net6: { IPAddress: '10.20.0.2', GlobalIPv6Address: 'fd00:20::2' } } },
  });
  t.like(facts, { name: 'web', address: '10.20.0.2', address6: 'fd00:20::2' });
  t.is(containerFacts({ Id: 'b'.repeat(64), NetworkSettings: { Networks: { n: { GlobalIPv6Address: 'not-an-address' } } } })!.address6, undefined);
});

/** The checksum of a framed IPv6 packet's upper layer, recomputed: 0 when the one it carries is right. */
function verify6(b: Buffer): number {
  let sum = b[10]! + (b.length - 44);
  for (let i = 12; i < 44; i += 2) sum += b.readUInt16BE(i);
  for (let i = 44; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

test('a refused IPv6 packet is answered as its destination would: a RST for TCP, ICMPv6 administratively prohibited for the rest', (t) => {
  const packet = (next: number, l4: number[], len = 20): Buffer => {
    const b = Buffer.alloc(4 + 40 + len);
    b.writeUInt32BE(24, 0);
    b[4] = 0x60;
    b.writeUInt16BE(len, 8);
    b[10] = next;
    Buffer.from('fd000001000000000000000000000001', 'hex').copy(b, 12);
    Buffer.from('fd000009000000000000000000000002', 'hex').copy(b, 28);
    l4.forEach((v, i) => (b[44 + i] = v));
    return b;
  };
  const syn = packet(6, [0x9c, 0x40, 0, 80, 0, 0, 0, 7, 0, 0, 0, 0, 0x50, 0x02]);
  const rst = refusal6(syn)!;
  t.is(rst.subarray(12, 28).toString('hex'), 'fd000009000000000000000000000002', 'from the destination');
  t.is(rst.readUInt16BE(44), 80);
  t.is(rst.readUInt16BE(46), 40000);
  t.is(rst.readUInt32BE(52), 8, 'acks the SYN');
  t.is(rst[57], 0x14, 'RST, ACK');
  t.is(verify6(rst), 0, 'TCP checksum over the IPv6 pseudo-header');
  const echo = packet(58, [128, 0, 0, 0, 0, 1, 0, 1]);
  const prohibited = refusal6(echo)!;
  t.deepEqual([prohibited[10], prohibited[44], prohibited[45]], [58, 1, 1]);
  t.true(prohibited.subarray(52).equals(echo.subarray(4)), 'quotes the packet');
  t.is(verify6(prohibited), 0);
  t.truthy(refusal6(packet(17, [0x13, 0x88, 0, 53, 0, 8, 0, 0])), 'UDP gets ICMPv6 too');
  t.is(refusal6(packet(58, [1, 4, 0, 0])), undefined, 'never an error about an error');
  t.is(refusal6(packet(6, [0x9c, 0x40, 0, 80, 0, 0, 0, 7, 0, 0, 0, 0, 0x50, 0x04])), undefined, 'never a RST for a RST');
});
