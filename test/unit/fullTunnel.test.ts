import test from 'ava';
import { parseCidr, parseIPv4 } from '../../src/config/ipv4.js';
import { envOf, refusalOf, tableRoute } from './configs.js';
import { dryRunPlan, formatPlan } from '../../src/cli/dryRun.js';
import { clashWithOthers } from '../../src/daemon/preflight.js';
import { halves, pinStep, planLanThroughTunnel } from '../../src/plan/fullTunnel.js';
import { planResolvectl, planResolvedAll } from '../../src/plan/dns.js';
import { choosePath, type TableRoute } from '../../src/platform/pathChoice.js';
import { parseProcNetTcp } from '../../src/platform/linux/procNet.js';
import { linuxCommand } from '../../src/platform/linux/commands.js';
import { darwinCommand } from '../../src/platform/darwin/commands.js';
import { parseLsofPeers, parsePsParents } from '../../src/platform/darwin/parse.js';
import { processTree } from '../../src/platform/processTree.js';

const TUNNEL = '    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n';
const env = (body: string, name = 'stg'): ReturnType<typeof envOf> => envOf(`${TUNNEL}${body}`, name);
const error = (body: string): string => refusalOf(`${TUNNEL}${body}`);

test('routes: default (or 0.0.0.0/0) is a full tunnel; dns.all follows it; lan and exclude are read', (t) => {
  const full = env('    routes: [default]\n    exclude: [192.0.2.0/24]\n    lan: tunnel\n');
  t.true(full.fullTunnel);
  t.deepEqual(full.routes, [], 'the halves are planned apart');
  t.deepEqual(full.exclude, ['192.0.2.0/24']);
  t.is(full.lan, 'tunnel');
  t.true(full.dns.all);
  t.true(env('    routes: [0.0.0.0/0]\n').fullTunnel);
  t.false(env('    routes: [default]\n    dns: { all: false }\n').dns.all);
  const split = env('    routes: [172.20.0.0/16]\n    exclude: [172.20.1.0/24]\n');
  t.false(split.fullTunnel);
  t.false(split.dns.all);
  t.is(split.lan, 'local');
  t.deepEqual(
    env('    routes: [{ cidr: default, mtu: 1400 }]\n').mssClamps,
    [{ cidr: '0.0.0.0/0', mss: 1360 }],
    'a full tunnel clamps MSS to the path beyond too',
  );
});

test('full tunnel mistakes get one line naming the field', (t) => {
  t.regex(error('    routes: [default, 172.20.0.0/16]\n'), /environments\.stg\.routes\.1: "172\.20\.0\.0\/16" is inside default already/);
  t.regex(error('    routes: [172.20.0.0/16, default]\n'), /routes\.1: default takes every address: "172\.20\.0\.0\/16" is inside it already/);
  t.regex(error('    routes: [default, default]\n'), /routes\.1: default is listed twice/);
  t.regex(error('    routes: ["::/0"]\n'), /routes\.0: "::\/0": IPv6 routes need tunnel\.local6 and tunnel\.remote6/);
  t.regex(error('    routes: [172.20.0.0/16]\n    exclude: [192.168.0.0/16]\n'), /exclude\.0: "192\.168\.0\.0\/16" is outside every route/);
  t.regex(error('    routes: [default]\n    exclude: [0.0.0.0/1]\n'), /exclude\.0: "0\.0\.0\.0\/1" is too wide/);
  t.regex(error('    routes: [default]\n    exclude: [172.16.0.0/12, 172.20.0.0/16]\n'), /exclude\.1: "172\.20\.0\.0\/16" overlaps "172\.16\.0\.0\/12"/);
  t.regex(error('    routes: [default]\n    exclude: [10.99.0.0/24]\n'), /exclude\.0: "10\.99\.0\.0\/24" covers the tunnel's own address 10\.99\.0\.1/);
  t.regex(error('    routes: [172.20.0.0/16]\n    lan: tunnel\n'), /lan: only applies to a full tunnel/);
  t.regex(error('    routes: [default]\n    lan: everything\n'), /lan: must be one of: local, tunnel/);
  t.regex(error('    routes: [default]\n    onDemand: true\n'), /onDemand: a full tunnel \(routes: \[default\]\) is never idle/);
});

test('halves: each one bit longer, together the whole', (t) => {
  t.deepEqual(halves('0.0.0.0/0'), ['0.0.0.0/1', '128.0.0.0/1']);
  t.deepEqual(halves('192.168.1.0/24'), ['192.168.1.0/25', '192.168.1.128/25']);
  t.deepEqual(halves('10.0.0.0/30'), ['10.0.0.0/31', '10.0.0.2/31']);
});

const r = (cidr: string, dev: string, more: Partial<TableRoute> = {}): TableRoute => tableRoute(parseCidr(cidr)!, dev, more);

test('the path outside the tunnel: longest prefix, lowest metric, our own routes left out', (t) => {
  const table = [
    r('0.0.0.0/0', 'wlan0', { gateway: parseIPv4('192.168.1.1'), metric: 600 }),
    r('0.0.0.0/0', 'eth0', { gateway: parseIPv4('10.1.0.1'), metric: 100 }),
    r('10.1.0.0/16', 'eth0'),
    r('0.0.0.0/1', 'cb-stg', { ours: true }),
    r('203.0.113.0/24', 'cb-stg', { ours: true }),
    r('198.51.100.0/24', '', { reject: true }),
  ];
  t.deepEqual(choosePath(table, parseIPv4('203.0.113.5')!), { via: '10.1.0.1', dev: 'eth0' }, 'our route and our half are not the path');
  t.deepEqual(choosePath(table, parseIPv4('10.1.2.3')!), { via: undefined, dev: 'eth0' }, 'on the link');
  t.is(choosePath(table, parseIPv4('198.51.100.7')!), 'unreachable');
  t.deepEqual(choosePath(table, 'default'), { via: '10.1.0.1', dev: 'eth0' });
  t.is(choosePath([r('10.0.0.0/8', 'eth0')], parseIPv4('192.0.2.1')!), undefined);
});

test('pins and excluded networks as commands on both platforms', (t) => {
  const pin = pinStep('203.0.113.9', 'SSH server', { via: '192.168.1.1', dev: 'en0' });
  t.is(pin.title, 'pin SSH server 203.0.113.9 via 192.168.1.1 dev en0, outside the tunnel');
  t.deepEqual(linuxCommand(pin.apply as never), ['ip', 'route', 'add', '203.0.113.9/32', 'via', '192.168.1.1', 'dev', 'en0', 'proto', '203']);
  t.deepEqual(darwinCommand(pin.apply as never), ['route', '-n', 'add', '-host', '203.0.113.9', '192.168.1.1']);
  t.deepEqual(darwinCommand(pin.undo as never), ['route', '-n', 'delete', '-host', '203.0.113.9', '192.168.1.1']);
  const onLink = pinStep('192.168.1.1', 'gateway', { via: undefined, dev: 'en0' });
  t.deepEqual(darwinCommand(onLink.apply as never), ['route', '-n', 'add', '-host', '192.168.1.1', '-interface', 'en0']);
  const nowhere = { side: 'local', op: 'route-add', dev: '', cidr: '198.51.100.0/24', reject: true } as const;
  t.deepEqual(linuxCommand(nowhere), ['ip', 'route', 'add', 'unreachable', '198.51.100.0/24', 'proto', '203']);
  t.deepEqual(darwinCommand(nowhere), ['route', '-n', 'add', '-net', '198.51.100.0/24', '127.0.0.1', '-reject']);
  const lan = planLanThroughTunnel('cb-stg', { networks: ['192.168.1.0/24'], gateway: '192.168.1.1', dev: 'wlan0' });
  t.deepEqual(
    lan.map((s) => s.title),
    [
      'pin gateway 192.168.1.1 dev wlan0, outside the tunnel',
      'lan: 192.168.1.0/25 (half of 192.168.1.0/24 on wlan0) via cb-stg',
      'lan: 192.168.1.128/25 (half of 192.168.1.0/24 on wlan0) via cb-stg',
    ],
  );
});

test('systemd-resolved: ~. while the full tunnel stands, the split domains alone after', (t) => {
  const all = planResolvedAll('cb-stg', ['vpc.internal']);
  t.deepEqual(all.apply, { side: 'local', op: 'resolvectl', argv: ['domain', 'cb-stg', '~.', '~vpc.internal'] });
  t.deepEqual(all.undo, { side: 'local', op: 'resolvectl', argv: ['domain', 'cb-stg', '~vpc.internal'] });
  t.deepEqual(planResolvedAll('cb-stg', []).undo, { side: 'local', op: 'resolvectl', argv: ['domain', 'cb-stg', ''] });
  t.is(planResolvectl('cb-stg', ['10.99.0.2'], []).length, 1, 'no routing-domain step without domains');
});

test("a TCP connection's far end from /proc/net/tcp and tcp6 (IPv4-mapped), and from lsof", (t) => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0 100 0 0 10 0',
    '   1: 0103E40A:C350 0200E40A:0016 01 00000000:00000000 02:000A7A3B 00000000     0        0 2222 2 0 20 4 30 10 -1',
  ].join('\n');
  t.deepEqual(parseProcNetTcp(tcp), [{ inode: 2222, remote: '10.228.0.2' }], 'established only');
  const tcp6 = [
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0000000000000000FFFF00000103E40A:C351 0000000000000000FFFF00000200E40A:0016 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0 20 4 30 10 -1',
    '   1: 00000000000000000000000001000000:C352 00000000000000000000000001000000:0016 01 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 20 4 30 10 -1',
  ].join('\n');
  t.deepEqual(
    parseProcNetTcp(tcp6),
    [
      { inode: 3333, remote: '10.228.0.2' },
      { inode: 4444, remote: '::1' },
    ],
    'IPv4-mapped as IPv4; IPv6 words in host order',
  );
  t.deepEqual(processTree(parsePsParents('  1     0\n 40     1\n 41    40\n 42    41\n 50     1\n'), 40), [40, 41, 42]);
  t.deepEqual(parseLsofPeers('p41\nf3\nn192.168.1.23:50123->203.0.113.9:22\np42\nf5\nn[fd00::5]:1->[fd00::2]:22\n'), ['203.0.113.9', 'fd00::2']);
});

test('--dry-run shows pins, exclusions and the halves on both platforms', (t) => {
  const e = env('    routes: [default]\n    exclude: [192.0.2.0/24]\n    lan: tunnel\n    nat: true\n');
  const linux = formatPlan(dryRunPlan(e, 'linux'));
  t.regex(linux, /ip route add 10\.0\.0\.2\/32 via GATEWAY dev DEV proto 203/);
  t.regex(linux, /ip route add 192\.0\.2\.0\/24 via GATEWAY dev DEV proto 203/);
  t.regex(linux, /ip route add GATEWAY\/32 dev DEV proto 203/);
  t.regex(linux, /ip route add 0\.0\.0\.0\/1 dev cb-stg proto 203\n\s+undo: ip route del 0\.0\.0\.0\/1 dev cb-stg proto 203/);
  t.regex(linux, /# written by cloudbridge for stg: every name through the tunnel/);
  const mac = formatPlan(dryRunPlan(e, 'darwin'));
  t.regex(mac, /route -n add -host 10\.0\.0\.2 GATEWAY/);
  t.regex(mac, /route -n add -net 128\.0\.0\.0\/1 -interface utunN/);
  t.regex(mac, /networksetup -setdnsservers SERVICE 10\.99\.0\.2\n\s+undo: networksetup -setdnsservers SERVICE THE_SERVERS_IT_HAD/);
  t.regex(mac, /note: dns\.all: every network service \(SERVICE: each one networksetup -listallnetworkservices lists/);
  const split = formatPlan(dryRunPlan(env('    routes: [172.16.0.0/12]\n'), 'linux'));
  t.notRegex(split, /pin /, 'a server outside every route needs no pin');
  t.regex(formatPlan(dryRunPlan(env('    routes: [10.0.0.0/16]\n'), 'linux')), /ip route add 10\.0\.0\.2\/32 via GATEWAY/);
});

test('two full tunnels cannot be up together; a full and a split one can', (t) => {
  const a = env('    routes: [default]\n');
  const other = { env: 'prod', local: '10.98.0.1', remote: '10.98.0.2', localDevice: 'cb-prod' };
  t.regex(clashWithOthers(a, [{ ...other, routes: ['default'] }])!, /stg and prod both route everything/);
  t.is(clashWithOthers(a, [{ ...other, routes: ['10.20.0.0/16'] }]), undefined);
  t.is(clashWithOthers(env('    routes: [10.20.0.0/16]\n'), [{ ...other, routes: ['default'] }]), undefined);
});
