import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { EnvironmentConfig } from '../../src/config/types.js';
import { cleanupStale } from '../../src/daemon/cleanup.js';
import { stepExecutor } from '../../src/daemon/executor.js';
import { localProblem } from '../../src/daemon/preflight.js';
import { StepJournal } from '../../src/plan/apply.js';
import { planLocal } from '../../src/plan/plan.js';
import { planServiceDns } from '../../src/plan/dns.js';
import { excludeStep, pinStep, planHalves, type OutsidePath } from '../../src/plan/fullTunnel.js';
import { darwinCommand, resolverFile } from '../../src/platform/darwin/commands.js';
import { DarwinNet } from '../../src/platform/darwin/net.js';
import { journalFile } from '../../src/util/paths.js';
import { invokingUser } from '../../src/util/user.js';
import { darwinEnv, darwinStandIn } from './darwinSetup.js';

// cloudbridge's darwin LocalNet and its whole local plan, applied and undone
// against a stand-in macOS: ifconfig, route and netstat as small programs on
// PATH that keep state and behave as Apple's do (test/standin/darwin, written
// from Apple's sources): classful masks, `route` exiting 0 on refusals, mask
// guessing in `route get`, abbreviated netstat destinations, utun devices
// that take their routes with them when closed.

const { sh, utun, done } = darwinStandIn();
const net = new DarwinNet();
const exec = stepExecutor({ net }, undefined, false);

const env = (name: string, body: string): EnvironmentConfig => darwinEnv(name, body);
const stg = env('stg', '    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n    routes: [172.16.0.0/12, 10.0.0.0/12, 192.168.4.0/22]\n');
const prod = env('prod', '    tunnel: { local: 10.98.0.1, remote: 10.98.0.2 }\n    routes: [10.30.0.0/16]\n');

async function facts(e: EnvironmentConfig): Promise<string | undefined> {
  return localProblem(e, {
    platform: 'darwin',
    force: false,
    deviceExists: false,
    resolverTaken: undefined,
    interfaceNetworks: await net.interfaceNetworks(),
    routes: await net.routes(),
  });
}

test.after.always(done);

test.serial('two environments up and down on the stand-in: /32 addresses, classful networks routed, everything undone', async (t) => {
  const before = sh('netstat', '-rn', '-f', 'inet') + sh('ifconfig');
  utun('open', 5);
  t.is(await facts(stg), undefined);
  const jStg = new StepJournal(undefined, 'stg');
  await jStg.apply(planLocal(stg, 'utun5', 'darwin'), exec);
  // the address as /32: not 10.0.0.0/8 on utun5, which would have clashed with prod below
  t.regex(sh('ifconfig'), /utun5: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> mtu \d+\n\tinet 10\.99\.0\.1 --> 10\.99\.0\.2 netmask 0xffffffff\n/);
  t.false((await net.interfaceNetworks()).some((n) => n.cidr === '10.0.0.0/8'));
  // every route, classful-looking ones too, reaches utun5 (checked by a host inside, as DarwinNet does)
  const routes = (await net.routes()).filter((r) => r.dev === 'utun5').map((r) => r.cidr);
  for (const r of ['172.16.0.0/12', '10.0.0.0/12', '192.168.4.0/22']) t.true(routes.includes(r), `${r} in ${routes.join(' ')}`);
  t.regex(sh('netstat', '-rn'), /\n10\/12 +link#\d+ +UCS +utun5\n/);
  t.regex(sh('route', '-n', 'get', '-inet', '172.16.0.1'), /interface: utun5/);

  utun('open', 6);
  t.is(await facts(prod), undefined, 'a second 10.x environment is not taken for an overlap');
  const jProd = new StepJournal(undefined, 'prod');
  await jProd.apply(planLocal(prod, 'utun6', 'darwin'), exec);
  const clash = env('dup', '    tunnel: { local: 10.97.0.1, remote: 10.97.0.2 }\n    routes: [172.20.0.0/16]\n');
  t.regex((await facts(clash)) ?? '', /^route 172\.20\.0\.0\/16 overlaps 172\.16\.0\.0\/12 on utun5/);

  t.deepEqual(await jProd.undo(exec), []);
  utun('close', 6);
  t.deepEqual(await jStg.undo(exec), []);
  utun('close', 5);
  t.is(sh('netstat', '-rn', '-f', 'inet') + sh('ifconfig'), before, 'the stand-in is as it was');
  t.deepEqual(await net.networks6(), [{ cidr: '2001:db8:42::/64', dev: 'en0' }], "en0's network, once; lo0's and link-local ones are none");
});

test.serial("route's refusals are read from its output although it exits 0", async (t) => {
  utun('open', 7);
  const add = { side: 'local', op: 'route-add', cidr: '10.40.0.0/16', dev: 'utun7' } as const;
  await net.apply(add);
  const again = execFileSync('sh', ['-c', 'route -n add -net 10.40.0.0/16 -interface utun7 2>&1; echo "exit $?"'], { encoding: 'utf8' });
  t.regex(again, /route: writing to routing socket: File exists\n.*File exists\nexit 0\n/);
  await t.throwsAsync(net.apply(add), { message: /File exists/ });
  await net.apply({ side: 'local', op: 'route-del', cidr: '10.40.0.0/16', dev: 'utun7' });
  t.regex(
    execFileSync('sh', ['-c', 'route -n delete -net 10.40.0.0/16 -interface utun7 2>&1; echo "exit $?"'], { encoding: 'utf8' }),
    /not in table\nexit 0\n/,
  );
  // an undo of a route that is gone already is done: nothing of ours to delete
  await net.apply({ side: 'local', op: 'route-del', cidr: '10.40.0.0/16', dev: 'utun7' });
  utun('close', 7);
  await t.throwsAsync(net.apply(add), { message: /bad address: utun7/ });
});

test.serial("bug: a route over the LAN when the gateway is its first host: the gateway's own pin does not fail the route's check", async (t) => {
  const before = sh('netstat', '-rn', '-f', 'inet');
  utun('open', 14);
  const j = new StepJournal(undefined, 'lan');
  // lan: tunnel's shape: the gateway pinned on en0 first, then its network through the utun
  await j.apply(
    [
      pinStep('192.168.1.1', 'gateway', { via: undefined, dev: 'en0' }),
      {
        title: 'LAN through the tunnel',
        apply: { side: 'local', op: 'route-add', cidr: '192.168.1.0/25', dev: 'utun14' },
        undo: { side: 'local', op: 'route-del', cidr: '192.168.1.0/25', dev: 'utun14' },
      },
    ],
    exec,
  );
  t.regex(sh('route', '-n', 'get', '-inet', '192.168.1.40'), /interface: utun14/);
  t.deepEqual(await j.undo(exec), []);
  utun('close', 14);
  t.is(sh('netstat', '-rn', '-f', 'inet'), before);
});

test.serial('bug: an SSH server at an address ending in .0 is pinned by the route it really takes', async (t) => {
  sh('route', '-n', 'add', '-net', '192.168.4.0/23', '192.168.1.99');
  try {
    t.deepEqual(await net.outsidePath('192.168.5.0', 'utun15'), { via: '192.168.1.99', dev: 'en0' });
  } finally {
    sh('route', '-n', 'delete', '-net', '192.168.4.0/23');
  }
});

test.serial('bug: an undo leaves the route another VPN took over for the same destination and mask', async (t) => {
  // our half 0.0.0.0/1 on utun4 was replaced by another VPN's, on utun16, while ours was up
  utun('open', 4);
  utun('open', 16);
  try {
    sh('route', '-n', 'add', '-net', '0.0.0.0/1', '-interface', 'utun16');
    await net.apply({ side: 'local', op: 'route-del', cidr: '0.0.0.0/1', dev: 'utun4' });
    t.regex(sh('route', '-n', 'get', '-inet', '8.8.8.8'), /interface: utun16/, "the other VPN's route stands");
  } finally {
    utun('close', 16);
    utun('close', 4);
  }
});

test.serial('bug: cleanup after another VPN took our utun unit: its routes stay, what was on ours is forgotten', async (t) => {
  const before = sh('netstat', '-rn', '-f', 'inet');
  utun('open', 4);
  fs.mkdirSync(path.dirname(journalFile('stg')), { recursive: true });
  await new StepJournal(journalFile('stg'), 'stg').apply([...planLocal(stg, 'utun4', 'darwin'), ...planHalves('utun4')], exec);
  // kill -9, and another VPN opens the next free unit (the same) with routes where ours were
  utun('close', 4);
  utun('open', 4);
  const lines: string[] = [];
  try {
    sh('ifconfig', 'utun4', 'inet', '10.77.0.1/32', '10.77.0.2', 'alias');
    sh('route', '-n', 'add', '-net', '0.0.0.0/1', '-interface', 'utun4');
    sh('route', '-n', 'add', '-net', '172.16.0.0/12', '-interface', 'utun4');
    const r = await cleanupStale(stg, { user: invokingUser(), progress: (l) => void lines.push(l), platform: 'darwin' });
    t.deepEqual(r.errors, []);
    t.regex(lines.join('\n'), /utun4 is another program's now \(no address of ours on it\)/);
    t.regex(sh('route', '-n', 'get', '-inet', '8.8.8.8'), /interface: utun4/, "the other VPN's half stands");
    t.regex(sh('route', '-n', 'get', '-inet', '172.16.0.1'), /interface: utun4/, 'and its route where ours was');
    t.regex(sh('ifconfig'), /inet 10\.77\.0\.1 --> 10\.77\.0\.2/, 'and its address');
    t.false(fs.existsSync(journalFile('stg')));
  } finally {
    utun('close', 4);
  }
  t.is(sh('netstat', '-rn', '-f', 'inet'), before);
});

test.serial('bug: cleanup of an IPv6 route after the utun went: gone, not an error', async (t) => {
  utun('open', 17);
  const v6 = env('six', '    tunnel: { local: 10.95.0.1, remote: 10.95.0.2, local6: "fd00:95::1", remote6: "fd00:95::2" }\n    routes: [fd00:96::/64]\n');
  fs.mkdirSync(path.dirname(journalFile('six')), { recursive: true });
  await new StepJournal(journalFile('six'), 'six').apply(planLocal(v6, 'utun17', 'darwin'), exec);
  utun('close', 17);
  const r = await cleanupStale(v6, { user: invokingUser(), progress: () => undefined, platform: 'darwin' });
  t.deepEqual(r.errors, []);
  t.false(fs.existsSync(journalFile('six')));
});

test.serial('netstat with the Refs and Use columns of older releases: Netif is still found', async (t) => {
  utun('open', 8);
  await net.apply({ side: 'local', op: 'route-add', cidr: '10.50.0.0/16', dev: 'utun8' });
  process.env['STANDIN_NETSTAT_REFS'] = '1';
  try {
    t.regex(sh('netstat', '-rn'), /Flags +Refs +Use +Netif Expire/);
    t.true((await net.routes()).some((r) => r.cidr === '10.50.0.0/16' && r.dev === 'utun8'));
  } finally {
    delete process.env['STANDIN_NETSTAT_REFS'];
    utun('close', 8);
  }
});

test.serial('a controller killed with -9: its device went with it, cleanup undoes the journal and calls the rest gone', async (t) => {
  const before = sh('netstat', '-rn', '-f', 'inet');
  utun('open', 5);
  fs.mkdirSync(path.dirname(journalFile('stg')), { recursive: true });
  await new StepJournal(journalFile('stg'), 'stg').apply(planLocal(stg, 'utun5', 'darwin'), exec);
  // kill -9: the process is gone without undoing; the kernel closes its utun
  utun('close', 5);
  const r = await cleanupStale(stg, { user: invokingUser(), progress: () => undefined, platform: 'darwin' });
  t.deepEqual(r.errors, []);
  t.true(r.undone > 0);
  t.false(fs.existsSync(journalFile('stg')));
  t.is(sh('netstat', '-rn', '-f', 'inet'), before);
});

test.serial("/etc/resolver/DOMAIN as resolver(5) reads it: one nameserver line per server, written by the plan's own command", (t) => {
  if (process.geteuid?.() !== 0) return t.pass('needs root for a private mount namespace');
  const a = { side: 'local', op: 'resolver-add', domain: 'vpc.internal', servers: ['172.31.0.2', '172.31.0.3'] } as const;
  // run as planned, in a mount namespace whose /etc is a fresh tmpfs: this machine's /etc is not touched
  const cmd = darwinCommand(a);
  const text = execFileSync(
    'unshare',
    ['-m', 'sh', '-c', `mount -t tmpfs none /etc && "$@" && cat ${resolverFile('vpc.internal')} && stat -c %a ${resolverFile('vpc.internal')}`, 'sh', ...cmd],
    {
      encoding: 'utf8',
    },
  );
  const [mode, ...rev] = text.trim().split('\n').reverse();
  const lines = rev.reverse();
  t.is(mode, '644');
  // resolver(5): "nameserver" followed by an address; comments with #; nothing else here
  t.deepEqual(lines, ['nameserver 172.31.0.2', 'nameserver 172.31.0.3']);
  t.false(fs.existsSync('/etc/resolver/vpc.internal'));
});

test.serial('a full tunnel on the stand-in: pins through the gateway, halves through the utun, the path outside found with the halves in place', async (t) => {
  const before = sh('netstat', '-rn', '-f', 'inet');
  utun('open', 9);
  const full = env('all', '    tunnel: { local: 10.96.0.1, remote: 10.96.0.2 }\n    routes: [default]\n');
  const j = new StepJournal(undefined, 'all');
  await j.apply(planLocal(full, 'utun9', 'darwin'), exec);
  t.is(await net.outsidePath('127.0.0.1', 'utun9'), 'local');
  const server = await net.outsidePath('203.0.113.9', 'utun9');
  t.deepEqual(server, { via: '192.168.1.1', dev: 'en0' });
  await j.apply([pinStep('203.0.113.9', 'SSH server', server as OutsidePath), excludeStep('198.51.100.0/24', 'unreachable'), ...planHalves('utun9')], exec);
  t.regex(sh('route', '-n', 'get', '-inet', '8.8.8.8'), /interface: utun9/, 'everything else through the tunnel');
  t.regex(sh('route', '-n', 'get', '-inet', '203.0.113.9'), /gateway: 192\.168\.1\.1\n\s+interface: en0/, 'the server stays on the old path');
  t.regex(sh('route', '-n', 'get', '-inet', '192.168.1.40'), /interface: en0/, 'the LAN stays direct');
  // a reconnect to a server that moved: the halves answer route get, so the default route is the path
  t.deepEqual(await net.outsidePath('8.8.4.4', 'utun9'), { via: '192.168.1.1', dev: 'en0' });
  t.is(await net.outsidePath('198.51.100.7', 'utun9'), 'unreachable');
  await t.throwsAsync(net.apply({ side: 'local', op: 'route-add', dev: 'en0', cidr: '192.0.2.1/32', via: '172.30.0.1' }), {
    message: /Network is unreachable/,
  });
  // kill -9 takes the utun and its halves; the rest is the journal's
  utun('close', 9);
  t.regex(sh('route', '-n', 'get', '-inet', '8.8.8.8'), /interface: en0/, 'no blackhole once the device is gone');
  const left = await j.undo(exec);
  t.true(
    left.every((e) => /not in table|bad address|does not exist/.test(e)),
    left.join('; '),
  );
  t.is(sh('netstat', '-rn', '-f', 'inet'), before);
});

test.serial('full-tunnel DNS on the stand-in: every network service asks the in-tunnel addresses, each gets its own back, after kill -9 too', async (t) => {
  const before = await net.dnsServices();
  t.deepEqual(before, [
    { service: 'Wi-Fi', servers: [] },
    { service: 'USB 10/100/1000 LAN', servers: ['192.168.1.1', '1.1.1.1'] },
    { service: 'Thunderbolt Bridge', servers: [] },
  ]);
  const full = env('all', '    tunnel: { local: 10.96.0.1, remote: 10.96.0.2, local6: "fd00:96::1", remote6: "fd00:96::2" }\n    routes: [default]\n');
  t.true(full.dns.all, 'on by default with a full tunnel');
  const steps = planServiceDns(before, ['10.96.0.2', 'fd00:96::2']);
  t.deepEqual(darwinCommand(steps[1]!.apply as never), ['networksetup', '-setdnsservers', 'USB 10/100/1000 LAN', '10.96.0.2', 'fd00:96::2']);
  t.deepEqual(darwinCommand(steps[0]!.undo as never), ['networksetup', '-setdnsservers', 'Wi-Fi', 'Empty'], 'none before: Empty, DHCP decides again');
  fs.mkdirSync(path.dirname(journalFile('all')), { recursive: true });
  await new StepJournal(journalFile('all'), 'all').apply(steps, exec);
  t.true(
    (await net.dnsServices()).every((s) => s.servers.join() === '10.96.0.2,fd00:96::2'),
    'disabled services too',
  );
  t.is(sh('networksetup', '-getdnsservers', 'Wi-Fi'), '10.96.0.2\nfd00:96::2\n');
  // networksetup says no on stdout and exits 0: DarwinNet reads it
  await t.throwsAsync(net.apply({ side: 'local', op: 'service-dns', service: 'Gone', servers: ['10.96.0.2'] }), {
    message: /not a recognized network service/,
  });
  // kill -9: nothing took the settings back; cleanup's journal does
  const r = await cleanupStale(full, { user: invokingUser(), progress: () => undefined, platform: 'darwin' });
  t.deepEqual(r.errors, []);
  t.deepEqual(await net.dnsServices(), before);
});

test.serial('IPv6 on the stand-in: the pair on the utun, the halves, a pin through the link-local router, a -reject exclusion, all undone', async (t) => {
  const before = sh('netstat', '-rn', '-f', 'inet6') + sh('ifconfig');
  utun('open', 11);
  const dual = env('dual', '    tunnel: { local: 10.95.0.1, remote: 10.95.0.2, local6: "fd00:95::1", remote6: "fd00:95::2" }\n    routes: [default]\n');
  const j = new StepJournal(undefined, 'dual');
  await j.apply(planLocal(dual, 'utun11', 'darwin'), exec);
  t.regex(sh('ifconfig'), /\n\tinet6 fd00:95::1 --> fd00:95::2 prefixlen 128 \n/, 'as in6_status prints a point-to-point pair');
  const server = await net.outsidePath('2001:db8:77::9', 'utun11');
  t.deepEqual(server, { via: 'fe80::1%en0', dev: 'en0' }, "the default router's link-local address, with its zone");
  await j.apply(
    [
      pinStep('2001:db8:77::9', 'SSH server', server as OutsidePath),
      excludeStep('2001:db8:99::/48', 'unreachable'),
      ...planHalves('utun11', { v4: true, v6: true }),
    ],
    exec,
  );
  t.regex(sh('route', '-n', 'get', '-inet6', '2606:4700::1111'), /interface: utun11/, 'everything else through the tunnel');
  t.regex(sh('route', '-n', 'get', '-inet6', '2001:db8:77::9'), /gateway: fe80::1%en0\n\s+interface: en0/, 'the server on its old path');
  t.regex(sh('route', '-n', 'get', '-inet6', '2001:db8:42::5'), /interface: en0/, 'the LAN stays direct');
  t.is(await net.outsidePath('2001:db8:99::1', 'utun11'), 'unreachable');
  t.deepEqual(await net.outsidePath('2606:4700::1111', 'utun11'), { via: 'fe80::1%en0', dev: 'en0' }, 'with the halves in place, the path outside');
  // route.c reads a -reject route's gateway in the route's family: IPv4's loopback is refused
  t.regex(
    execFileSync('sh', ['-c', 'route -n add -inet6 -net 2001:db8:98::/48 127.0.0.1 -reject 2>&1; echo "exit $?"'], { encoding: 'utf8' }),
    /bad address: 127\.0\.0\.1\nexit 68/,
  );
  t.deepEqual(await j.undo(exec), []);
  utun('close', 11);
  t.is(sh('netstat', '-rn', '-f', 'inet6') + sh('ifconfig'), before, 'the stand-in is as it was');
});
