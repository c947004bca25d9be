import fs from 'node:fs';
import test from 'ava';
import { findEnvironment, parseConfigText } from '../../src/config/load.js';
import { dryRunPlan, formatPlan } from '../../src/cli/dryRun.js';
import { darwinCommand } from '../../src/platform/darwin/commands.js';
import { ROUTE_REFUSED, routeDestination } from '../../src/platform/darwin/net.js';
import { interfaceNetworks, parseIfconfig, parseNetstatDestination, parseNetstatRoutes, parseRouteGet, prefixOfMask } from '../../src/platform/darwin/parse.js';
import { interfaceNetworks6, parseNetstatRoutes6 } from '../../src/platform/darwin/parse6.js';
import { isPathChange } from '../../src/platform/darwin/watch.js';

const fixture = (name: string): string => fs.readFileSync(new URL(`../../../test/fixtures/darwin/${name}`, import.meta.url), 'utf8');

const env = findEnvironment(
  parseConfigText(
    `
environments:
  stg:
    host: bastion.example.test
    tunnel: { local: 10.9.0.1, remote: 10.9.0.2, mtu: 9000, remoteUnit: 4 }
    routes: [172.31.0.0/16, 10.20.0.0/24]
    nat: true
    dns: { domains: [vpc.internal], servers: [172.31.0.2] }
`,
    '/c.yaml',
    '/Users/dev',
  ),
  'stg',
);

test('netstat destinations: macOS abbreviations expand to CIDRs', (t) => {
  t.is(parseNetstatDestination('default'), '0.0.0.0/0');
  t.is(parseNetstatDestination('10.8/16'), '10.8.0.0/16');
  t.is(parseNetstatDestination('192.168.1'), '192.168.1.0/24');
  t.is(parseNetstatDestination('127'), '127.0.0.0/8');
  t.is(parseNetstatDestination('10.8.0.1'), '10.8.0.1/32');
  t.is(parseNetstatDestination('224.0.0/4'), '224.0.0.0/4');
  t.is(parseNetstatDestination('link#6'), undefined);
  t.is(parseNetstatDestination('fe80::%utun0/64'), undefined);
});

test('netstat -rn: routes with their interfaces, no default, ARP or multicast entries', (t) => {
  t.deepEqual(parseNetstatRoutes(fixture('netstat-rn.txt')), [
    { cidr: '10.8.0.0/16', dev: 'utun3' },
    { cidr: '10.8.0.1/32', dev: 'utun3' },
    { cidr: '127.0.0.0/8', dev: 'lo0' },
    { cidr: '127.0.0.1/32', dev: 'lo0' },
    { cidr: '169.254.0.0/16', dev: 'en0' },
    { cidr: '172.16.4.0/22', dev: 'en0' },
    { cidr: '192.168.1.0/24', dev: 'en0' },
    { cidr: '192.168.1.1/32', dev: 'en0' },
    { cidr: '192.168.1.23/32', dev: 'en0' },
    { cidr: '255.255.255.255/32', dev: 'en0' },
  ]);
});

test('route -n get: destination, mask, gateway, interface', (t) => {
  t.deepEqual(parseRouteGet(fixture('route-get-default.txt')), {
    destination: 'default',
    mask: 'default',
    gateway: '192.168.1.1',
    interface: 'en0',
    flags: ['UP', 'GATEWAY', 'DONE', 'STATIC', 'PRCLONING', 'GLOBAL'],
  });
  t.deepEqual(parseRouteGet(fixture('route-get-utun.txt')), {
    destination: '10.8.0.0',
    mask: '255.255.0.0',
    gateway: undefined,
    interface: 'utun3',
    flags: ['UP', 'DONE', 'CLONING', 'STATIC'],
  });
});

test('ifconfig: interfaces, flags, MTU, IPv4 addresses with peers and prefixes', (t) => {
  const ifaces = parseIfconfig(fixture('ifconfig.txt'));
  t.deepEqual(
    ifaces.map((i) => [i.name, i.mtu]),
    [
      ['lo0', 16384],
      ['gif0', 1280],
      ['stf0', 1280],
      ['en0', 1500],
      ['utun3', 1380],
    ],
  );
  t.deepEqual(ifaces.find((i) => i.name === 'utun3')!.inet, [{ addr: '10.8.0.2', peer: '10.8.0.1', prefix: 32 }]);
  t.deepEqual(ifaces.find((i) => i.name === 'stf0')!.flags, []);
  t.deepEqual(interfaceNetworks(ifaces), [
    { cidr: '127.0.0.0/8', dev: 'lo0' },
    { cidr: '192.168.1.0/24', dev: 'en0' },
    { cidr: '10.8.0.2/32', dev: 'utun3' },
  ]);
  // IPv6 as af_inet6.c's in6_status prints it: the %scope dropped, a point-to-point peer after -->
  t.deepEqual(ifaces.find((i) => i.name === 'utun3')!.inet6, [
    { addr: 'fe80::a8bb:ccff:fedd:eeff', prefix: 64 },
    { addr: 'fd00:8::2', prefix: 128 },
  ]);
  t.deepEqual(interfaceNetworks6(ifaces), [{ cidr: '2001:db8:42::/64', dev: 'en0' }], 'link-local, loopback and host addresses are no networks');
});

test('netstat -rn -f inet6: networks with their interface; default, hosts, link-local, multicast and NDP entries left out', (t) => {
  t.deepEqual(parseNetstatRoutes6(fixture('netstat-rn-inet6.txt')), [
    { cidr: '2001:db8:42::/64', dev: 'en0' },
    { cidr: 'fd00:77::/48', dev: 'en0' },
  ]);
  t.deepEqual(parseNetstatRoutes(fixture('netstat-rn-inet6.txt')), [], 'the IPv4 reader takes none of it');
});

test('darwin plan for a full environment: the exact command list', (t) => {
  const plan = dryRunPlan(env, 'darwin');
  t.is(plan.localDevice, 'utunN');
  t.deepEqual(
    plan.steps.map((s) => [s.apply.join(' '), s.undo?.join(' ') ?? null]),
    [
      ['ifconfig utunN inet 10.9.0.1/32 10.9.0.2 alias', 'ifconfig utunN inet 10.9.0.1 -alias'],
      ['ifconfig utunN mtu 9000 up', null],
      ['route -n add -net 172.31.0.0/16 -interface utunN', 'route -n delete -net 172.31.0.0/16 -interface utunN'],
      ['route -n add -net 10.20.0.0/24 -interface utunN', 'route -n delete -net 10.20.0.0/24 -interface utunN'],
      [
        `/bin/sh -c umask 022 && mkdir -p /etc/resolver && printf '%s\\n' 'nameserver 172.31.0.2' > /etc/resolver/vpc.internal`,
        'rm -f /etc/resolver/vpc.internal',
      ],
      ['ip addr add 10.9.0.2 peer 10.9.0.1 dev tun4', null],
      ['ip link set dev tun4 mtu 9000 up', null],
      ['sysctl -q -w net.ipv4.ip_forward=1', 'sysctl -q -w net.ipv4.ip_forward=0'],
      [
        'iptables -w -t nat -I POSTROUTING -s 10.9.0.1/32 -m comment --comment cloudbridge:stg -j MASQUERADE',
        'sh -c e=$(iptables -w -t nat -C POSTROUTING -s 10.9.0.1/32 -m comment --comment cloudbridge:stg -j MASQUERADE 2>&1 >/dev/null); c=$?; [ $c = 1 ] && exit 0; [ $c = 0 ] || { echo "$e" >&2; exit $c; }; exec iptables -w -t nat -D POSTROUTING -s 10.9.0.1/32 -m comment --comment cloudbridge:stg -j MASQUERADE',
      ],
      [
        'iptables -w -t filter -I FORWARD -i tun4 -m comment --comment cloudbridge:stg -j ACCEPT',
        'sh -c e=$(iptables -w -t filter -C FORWARD -i tun4 -m comment --comment cloudbridge:stg -j ACCEPT 2>&1 >/dev/null); c=$?; [ $c = 1 ] && exit 0; [ $c = 0 ] || { echo "$e" >&2; exit $c; }; exec iptables -w -t filter -D FORWARD -i tun4 -m comment --comment cloudbridge:stg -j ACCEPT',
      ],
      [
        'iptables -w -t filter -I FORWARD -o tun4 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment cloudbridge:stg -j ACCEPT',
        'sh -c e=$(iptables -w -t filter -C FORWARD -o tun4 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment cloudbridge:stg -j ACCEPT 2>&1 >/dev/null); c=$?; [ $c = 1 ] && exit 0; [ $c = 0 ] || { echo "$e" >&2; exit $c; }; exec iptables -w -t filter -D FORWARD -o tun4 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment cloudbridge:stg -j ACCEPT',
      ],
    ],
  );
});

test('a configured utunN is honoured on macOS; a Linux name is not', (t) => {
  const named = { ...env, tunnel: { ...env.tunnel!, device: 'utun7' } };
  t.is(dryRunPlan(named, 'darwin').steps[0]!.apply.join(' '), 'ifconfig utun7 inet 10.9.0.1/32 10.9.0.2 alias');
  t.is(dryRunPlan(env, 'linux').steps[0]!.apply.join(' '), 'ip addr add 10.9.0.1 peer 10.9.0.2 dev cb-stg');
});

test('darwin commands are argument arrays: a hostile value stays one word', (t) => {
  t.deepEqual(darwinCommand({ side: 'local', op: 'route-add', dev: 'utun3', cidr: '10.0.0.0/8; reboot' }), [
    'route',
    '-n',
    'add',
    '-net',
    '10.0.0.0/8; reboot',
    '-interface',
    'utun3',
  ]);
});

test('the formatted plan shows each step with its undo', (t) => {
  const text = formatPlan(dryRunPlan(env, 'darwin'));
  t.true(
    text.startsWith(
      'cloudbridge connect stg --dry-run (darwin): nothing is changed\n  ssh     root@bastion.example.test:22, tun@openssh.com point-to-point to tun4\n',
    ),
  );
  t.true(text.includes('  local   route -n add -net 172.31.0.0/16 -interface utunN\n          undo: route -n delete -net 172.31.0.0/16 -interface utunN\n'));
  t.true(text.includes('  remote  ip link set dev tun4 mtu 9000 up\n          undo: (goes with the tun device)\n'));
});

test('the resolver script writes resolver(5) lines, and its undo removes the file (run for real in a stand-in directory)', async (t) => {
  const { execa } = await import('execa');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-resolver-'));
  const swap = (argv: string[]): string[] => argv.map((w) => w.replaceAll('/etc/resolver', dir));
  const add = swap(darwinCommand({ side: 'local', op: 'resolver-add', domain: 'vpc.internal', servers: ['10.0.0.2', '10.0.0.3'] }));
  await execa(add[0]!, add.slice(1));
  t.is(fs.readFileSync(path.join(dir, 'vpc.internal'), 'utf8'), 'nameserver 10.0.0.2\nnameserver 10.0.0.3\n');
  const del = swap(darwinCommand({ side: 'local', op: 'resolver-del', domain: 'vpc.internal' }));
  await execa(del[0]!, del.slice(1));
  t.false(fs.existsSync(path.join(dir, 'vpc.internal')));
  fs.rmSync(dir, { recursive: true });
});

test('split DNS: /etc/resolver files on macOS; on Linux the dry run names the forwarder', (t) => {
  t.false(dryRunPlan(env, 'linux').steps.some((s) => s.apply.join(' ').includes('resolver')));
  t.true(dryRunPlan(env, 'linux').notes.some((n) => /^dns: a forwarder on 127\.0\.0\.153 answers vpc\.internal \(asked of 172\.31\.0\.2 over SSH\)/.test(n)));
});

test('split DNS on Linux is a step in the dry run: resolv.conf pointed at the forwarder, and put back', (t) => {
  const dns = dryRunPlan(env, 'linux').steps.find((s) => s.title.startsWith('resolv.conf'));
  t.truthy(dns);
  t.regex(
    dns!.apply.join(' '),
    /^sh -c cat > \/etc\/resolv\.conf <<'EOF'\n# written by cloudbridge for stg: vpc\.internal through the tunnel;\n.*\nnameserver 127\.0\.0\.153\n/s,
  );
  t.regex(dns!.undo!.join(' '), /^sh -c cat > \/etc\/resolv\.conf <</);
});

test("netstat -rn from an older macOS (Refs and Use before Netif): the interface comes from the header's column", (t) => {
  const older = [
    'Routing tables',
    '',
    'Internet:',
    'Destination        Gateway            Flags        Refs      Use   Netif Expire',
    'default            192.168.1.1        UGSc           12        0     en0',
    '10.8/16            link#24            UCS             1        0   utun3',
    '192.168.1          link#4             UCS             2        0     en0',
    '',
  ].join('\n');
  t.deepEqual(parseNetstatRoutes(older), [
    { cidr: '10.8.0.0/16', dev: 'utun3' },
    { cidr: '192.168.1.0/24', dev: 'en0' },
  ]);
});

test("Apple's route exits 0 when the kernel refuses: its words are what tell", (t) => {
  for (const said of [
    'route: writing to routing socket: File exists',
    'add net 10.8.0.0: gateway utun3: File exists',
    'delete net 10.8.0.0: not in table',
    'route: bad address: utun9',
  ]) {
    t.true(ROUTE_REFUSED.test(said), said);
  }
  t.false(ROUTE_REFUSED.test('add net 10.8.0.0: gateway utun3'));
  // a route is named exactly: -host for one address (192.168.5.0 alone reads as the classful network /24), -net for the rest
  t.deepEqual(routeDestination('192.168.5.0/32'), ['-inet', '-host', '192.168.5.0']);
  t.deepEqual(routeDestination('172.16.0.0/12'), ['-inet', '-net', '172.16.0.0/12']);
  t.deepEqual(routeDestination('2001:db8:1::/128'), ['-inet6', '-host', '2001:db8:1::']);
  t.deepEqual(routeDestination('::/1'), ['-inet6', '-net', '::/1']);
  // a mask as ifconfig, route get (IPv4) and route get (IPv6) print it, as a prefix
  t.deepEqual(['0xffffff00', '255.240.0.0', '0.0.0.0', 'ffff:ffff:ffff:ffff::', '::'].map(prefixOfMask), [24, 12, 0, 64, 0]);
});

test("route -n monitor: what counts as a change of paths (route.c's msgtypes[] and print_rtmsg)", (t) => {
  // as monitor() prints them: "got message of size N on DATE", then "MSGTYPE: len N, ..."
  const changes = [
    'RTM_DELETE: Delete Route: len 132, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,DONE,STATIC,PRCLONING>',
    'RTM_ADD: Add Route: len 132, pid: 215, seq 1, errno 0, flags:<UP,GATEWAY,DONE,STATIC>',
    'RTM_CHANGE: Change Metrics or flags: len 132, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,DONE,STATIC>',
    'RTM_NEWADDR: address being added to iface: len 64, metric 0, flags:',
    'RTM_DELADDR: address being removed from iface: len 64, metric 0, flags:',
    'RTM_IFINFO: iface status change: len 112, if# 6, flags:<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST>',
  ];
  const not = [
    '',
    'got message of size 132 on Sat Dec  5 12:00:00 2026',
    // an ARP entry: a route cloned per neighbour
    'RTM_ADD: Add Route: len 132, pid: 0, seq 0, errno 0, flags:<UP,HOST,DONE,LLINFO,WASCLONED,IFSCOPE,IFREF>',
    'RTM_GET: Report Metrics: len 132, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,DONE,STATIC>',
    'RTM_MISS: Lookup failed on this address: len 132, pid: 0, seq 0, errno 0, flags:<DONE>',
    'RTM_NEWMADDR: new multicast group membership on iface: len 48',
    'sockaddrs: <DST,GATEWAY,NETMASK>',
    ' 10.0.0.2 192.168.1.1 255.255.255.255',
  ];
  for (const l of changes) t.true(isPathChange(l), l);
  for (const l of not) t.false(isPathChange(l), l);
});
