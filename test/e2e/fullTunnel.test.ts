import fs from 'node:fs';
import test from 'ava';
import { execa, type ResultPromise } from 'execa';
import {
  AS_USER,
  crash,
  cliInRoot,
  cliAs,
  cliIn,
  dnsLeaving,
  inNs,
  labDown,
  labUp,
  leftovers,
  logOf,
  makeTestUser,
  removeTestFiles,
  rebootTakes,
  run,
  sshdSessions,
  sudoEnv,
  userCopy,
  userOnly,
  variantConfig,
  waitFor,
  type Lab,
} from './helpers.js';

// routes: [default] in the "router" lab: this machine is a namespace on a LAN
// (10.228.3.1) whose gateway (a router namespace) leads to the remote host
// and to "the internet" (10.228.7.1, 10.228.8.1 on the router's loopback,
// and 10.228.3.77, a LAN neighbour). A web server there answers with the
// address a request came from: 10.228.0.2 (the remote host, NAT) means it
// went through the tunnel; 10.228.3.1 means it went straight. Everything
// runs in the lab's namespaces; this machine's own routes and resolv.conf
// are never touched. Beside the IPv4 internet there is an IPv6 one
// (fd00:228:7::1 on the router's loopback, the LAN fd00:228:3::/64): the
// tunnel carries no IPv6, so a full tunnel must block it, not let it go
// straight out of the LAN.

let lab: Lab;
let web: ResultPromise | undefined;
let web6: ResultPromise | undefined;
const WEB6 = 'fd00:228:7::1';
const DIRECT6 = 'fd00:228:3::1';
let full = '';
const NS = (): string => lab.clientNs!;
const TUNNEL = '10.228.0.2';
const DIRECT = '10.228.3.1';

test.before(async () => {
  lab = await labUp('cbu', 228, 'router');
  const w = lab.routerNs!;
  await run('ip', ['-n', w, 'addr', 'add', '10.228.8.1/32', 'dev', 'lo']);
  await run('ip', ['-n', w, 'addr', 'add', '10.228.3.77/24', 'dev', 'eth0']);
  web = execa(
    'ip',
    ['netns', 'exec', w, process.execPath, '-e', "require('http').createServer((q, s) => s.end(q.socket.remoteAddress)).listen(80, '0.0.0.0')"],
    {
      reject: false,
    },
  );
  await run('ip', ['-n', w, 'addr', 'add', `${WEB6}/128`, 'dev', 'lo']);
  await run('ip', ['-n', w, 'addr', 'add', 'fd00:228:3::254/64', 'dev', 'eth0', 'nodad']);
  await run('ip', ['-n', NS(), 'addr', 'add', `${DIRECT6}/64`, 'dev', 'cbh-cbu', 'nodad']);
  await run('ip', ['-n', NS(), '-6', 'route', 'add', 'default', 'via', 'fd00:228:3::254']);
  await run('ip', ['netns', 'exec', w, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
  web6 = execa(
    'ip',
    [
      'netns',
      'exec',
      w,
      process.execPath,
      '-e',
      "require('http').createServer((q, s) => s.end(q.socket.remoteAddress)).listen({ port: 80, host: '::', ipv6Only: true })",
    ],
    { reject: false },
  );
  for (let i = 0; i < 50 && (await inNs(NS(), 'curl', ['-s', '-m', '1', 'http://10.228.7.1/'])).stdout !== DIRECT; i++) await sleep(100);
  for (let i = 0; i < 50 && (await seenFrom6()) !== DIRECT6; i++) await sleep(100);
  full = variantConfig(lab, 'full.yaml', [
    ['routes: [10.228.9.0/24]', 'routes: [default]\n    deadAfter: 3\n    dns: { domains: [vpc.internal] }'],
    [/docker: \{ mode: socket[^}]*\}/, 'docker: { mode: off }'],
  ]);
});

// a failed test must not leave the next one "connected already"
test.afterEach.always(async () => {
  await cliIn(NS(), ['disconnect', 'cbu']).catch(() => undefined);
});

test.after.always(async () => {
  await cliIn(NS(), ['disconnect', 'cbu']).catch(() => undefined);
  web?.kill();
  web6?.kill();
  if (lab) await labDown(lab);
  removeTestFiles('cbu');
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Who the internet (or a LAN neighbour) sees: the remote host, or this machine. */
const seenFrom = async (addr = '10.228.7.1'): Promise<string> => (await inNs(NS(), 'curl', ['-s', '-m', '2', `http://${addr}/`])).stdout;
/** The same over IPv6: '' when it does not get there. */
const seenFrom6 = async (): Promise<string> => (await inNs(NS(), 'curl', ['-s', '-m', '2', `http://[${WEB6}]/`])).stdout;
interface FullStatus {
  pid: number;
  routes: string[];
  pins: string[];
  fullTunnel: { active: boolean; lan: string; onLoss: string; blocked: boolean; ipv6Blocked: boolean } | null;
  dns: { stats: { remote: number; upstream: number } };
}
const status = async (): Promise<FullStatus> => (JSON.parse((await cliIn(NS(), ['status', 'cbu', '--json'])).stdout) as FullStatus[])[0]!;
const resolvConf = (): string => fs.readFileSync(`/etc/netns/${NS()}/resolv.conf`, 'utf8');

test.serial('everything goes through the tunnel, the SSH server is pinned outside it, and DNS leaves by no other interface', async (t) => {
  t.is(await seenFrom(), DIRECT, 'straight before');
  t.is(await seenFrom6(), DIRECT6, 'IPv6 straight before');
  const control = await dnsLeaving(NS(), 'cbh-cbu', async () => void (await inNs(NS(), 'getent', ['hosts', 'www.elsewhere.example'])));
  t.true(
    control.some((l) => l.includes('10.228.7.53.53')),
    `the capture sees the LAN resolver asked before: ${control.join(' | ')}`,
  );
  const up = await cliIn(NS(), ['connect', 'cbu', '--config', full, '-v']);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /pin SSH server 10\.228\.0\.2 via 10\.228\.3\.254 dev cbh-cbu, outside the tunnel/);
  t.regex(up.stderr, /full tunnel: everything through cb-cbu; the networks this host is on stay direct/);
  t.regex(up.stderr, /full tunnel: IPv6 ::\/1 blocked \(the tunnel carries no IPv6; it would leave around it\)/);
  const routes = (await inNs(NS(), 'ip', ['route'])).stdout;
  t.regex(routes, /^0\.0\.0\.0\/1 dev cb-cbu proto 203/m);
  t.regex(routes, /^128\.0\.0\.0\/1 dev cb-cbu proto 203/m);
  t.regex(routes, /^default via 10\.228\.3\.254 dev cbh-cbu/m, "the system's default route stays as it was");
  t.regex(routes, /^10\.228\.0\.2 via 10\.228\.3\.254 dev cbh-cbu proto 203/m);
  t.is(await seenFrom(), TUNNEL, 'the internet sees the remote host');
  t.is(await seenFrom('10.228.3.77'), DIRECT, 'the LAN stays direct (lan: local)');
  t.is(await seenFrom6(), '', 'IPv6 goes nowhere: not through the tunnel, which has none, and not around it');
  t.regex((await inNs(NS(), 'ip', ['-6', 'route', 'get', WEB6])).stderr, /unreachable|No route to host/);
  t.regex((await inNs(NS(), 'ip', ['-6', 'route', 'get', 'fd00:228:3::254'])).stdout, /dev cbh-cbu/, 'the IPv6 LAN itself stays');
  const s = await status();
  t.deepEqual(s.routes, ['default']);
  t.deepEqual(s.pins, ['10.228.0.2 (SSH server)']);
  t.deepEqual(s.fullTunnel, { active: true, lan: 'local', onLoss: 'block', blocked: false, ipv6Blocked: true });
  t.regex(
    (await cliIn(NS(), ['status', 'cbu'])).stdout,
    /full {4}everything through the tunnel; local networks direct; IPv6 blocked \(the tunnel carries none\)/,
  );
  t.regex(resolvConf(), /^nameserver 127\.0\.0\.153$/m);
  const leaked = await dnsLeaving(NS(), 'cbh-cbu', async () => {
    t.is((await inNs(NS(), 'getent', ['hosts', 'db.vpc.internal'])).stdout.split(/\s+/)[0], '10.228.9.2', 'a name only the remote resolver knows');
    await inNs(NS(), 'getent', ['hosts', 'www.elsewhere.example']);
  });
  t.deepEqual(leaked, [], 'no DNS packet on the LAN');
  const after = await status();
  t.true(after.dns.stats.remote >= 2, 'both names were asked on the remote host');
  t.is(after.dns.stats.upstream, 0, "none went to the LAN's resolver");
  t.is((await cliIn(NS(), ['disconnect', 'cbu'])).exitCode, 0);
  t.is(resolvConf(), 'nameserver 10.228.7.53\n');
  t.is(await seenFrom(), DIRECT);
  t.is(await seenFrom6(), DIRECT6, 'IPv6 back after disconnect');
  t.deepEqual(await leftovers(lab), []);
});

const sshCut = ['FORWARD', '-s', DIRECT, '-d', TUNNEL, '-p', 'tcp', '--dport', '22', '-j', 'DROP'];

test.serial('a lost session blocks (fail closed): nothing goes straight, no DNS on the LAN, until it is back; disconnect hands back', async (t) => {
  t.is((await cliIn(NS(), ['connect', 'cbu', '--config', full])).exitCode, 0);
  t.is(await seenFrom(), TUNNEL);
  await inNs(lab.routerNs!, 'iptables', ['-I', ...sshCut]);
  const cut = Date.now();
  let s = await status();
  while (Date.now() - cut < 10_000 && !(s = await status()).fullTunnel!.blocked) await sleep(200);
  t.log(`blocked ${((Date.now() - cut) / 1000).toFixed(1)} s after the cut (deadAfter 3)`);
  t.like(s.fullTunnel, { active: true, blocked: true });
  t.regex((await cliIn(NS(), ['status', 'cbu'])).stdout, /full {4}BLOCKED, reconnecting: traffic and DNS dropped until the session is back \(onLoss: block\)/);
  // a drop shows as a timeout: 1 s is plenty on these links (an answer takes milliseconds)
  t.is((await inNs(NS(), 'curl', ['-s', '-m', '1', 'http://10.228.7.1/'])).stdout, '', 'nothing reaches the internet directly');
  t.is(await seenFrom('10.228.3.77'), DIRECT, 'the LAN stays (lan: local)');
  const leaked = await dnsLeaving(NS(), 'cbh-cbu', async () => {
    // the resolver's own timeout and retries (5 s, twice) cut to one second, once: the question is whether a packet leaves
    const asked = await inNs(NS(), 'env', ['RES_OPTIONS=timeout:1 attempts:1', 'getent', 'hosts', 'www.elsewhere.example']);
    t.not(asked.exitCode, 0, 'no answer while blocked');
  });
  t.deepEqual(leaked, [], 'no DNS packet on the LAN while blocked');
  t.regex(resolvConf(), /127\.0\.0\.153/);
  await inNs(lab.routerNs!, 'iptables', ['-D', ...sshCut]);
  let again = '';
  for (let i = 0; i < 60 && (again = await seenFrom()) !== TUNNEL; i++) await sleep(250);
  t.is(again, TUNNEL, 'through the tunnel again after the reconnect');
  t.like((await status()).fullTunnel, { active: true, blocked: false });
  // blocked again, then disconnect: the host's own network is back at once
  await inNs(lab.routerNs!, 'iptables', ['-I', ...sshCut]);
  while (!(await status()).fullTunnel!.blocked) await sleep(200);
  const down = await cliIn(NS(), ['disconnect', 'cbu']);
  t.is(down.exitCode, 1, 'the remote host is out of reach: its steps wait for cleanup');
  t.regex(down.stderr, /remote steps left for "cloudbridge cleanup cbu"/);
  t.regex(
    (await cliIn(NS(), ['status', 'cbu'])).stderr,
    /^cbu: \d+ remote steps? on root@[\d.]+:22 could not be undone \(it was out of reach\): sudo cloudbridge cleanup cbu$/m,
  );
  t.is(await seenFrom(), DIRECT, 'direct again after disconnect, the server still cut off');
  t.is(resolvConf(), 'nameserver 10.228.7.53\n');
  await inNs(lab.routerNs!, 'iptables', ['-D', ...sshCut]);
  t.is((await cliIn(NS(), ['cleanup', 'cbu', '--config', full])).exitCode, 0);
  // the cut-off sessions (and the tun devices they hold) would go at sshd's ClientAlive timeout (30 s in the lab): end them now
  for (const pid of await sshdSessions(lab)) process.kill(pid, 'SIGTERM');
  t.deepEqual(await settledLeftovers(), []);
});

test.serial('onLoss: direct hands the traffic back within deadAfter, and the tunnel takes it again when SSH is back', async (t) => {
  const direct = variantConfig(lab, 'direct.yaml', [
    ['routes: [10.228.9.0/24]', 'routes: [default]\n    onLoss: direct\n    deadAfter: 3\n    dns: { domains: [vpc.internal] }'],
    [/docker: \{ mode: socket[^}]*\}/, 'docker: { mode: off }'],
  ]);
  t.is((await cliIn(NS(), ['connect', 'cbu', '--config', direct])).exitCode, 0);
  t.is(await seenFrom(), TUNNEL);
  await inNs(lab.routerNs!, 'iptables', ['-I', ...sshCut]);
  const cut = Date.now();
  let back = '';
  while (Date.now() - cut < 10_000 && (back = await seenFrom()) !== DIRECT) await sleep(200);
  const held = (Date.now() - cut) / 1000;
  t.is(back, DIRECT, 'the machine keeps its network');
  t.true(held < 3 + 2.5, `held ${held.toFixed(1)} s (deadAfter 3)`);
  t.false((await status()).fullTunnel!.active);
  t.regex(resolvConf(), /127\.0\.0\.153/, 'the forwarder stays, asking the old resolvers meanwhile');
  await inNs(lab.routerNs!, 'iptables', ['-D', ...sshCut]);
  let again = '';
  for (let i = 0; i < 60 && (again = await seenFrom()) !== TUNNEL; i++) await sleep(250);
  t.is(again, TUNNEL, 'taken over again after the reconnect');
  t.true((await status()).fullTunnel!.active);
  t.is((await cliIn(NS(), ['disconnect', 'cbu'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('kill -9: the halves go with the device at once; cleanup puts back resolv.conf and the pin', async (t) => {
  t.is((await cliIn(NS(), ['connect', 'cbu', '--config', full])).exitCode, 0);
  const { pid } = await status();
  // what a reboot would not undo (resolv.conf) is journaled where a reboot keeps it too
  const boot = '/var/lib/cloudbridge/boot/cbu.json';
  t.regex(fs.readFileSync(boot, 'utf8'), /"op": "resolv-conf"/);
  process.kill(pid, 'SIGKILL');
  await sleep(300);
  t.is(await seenFrom(), DIRECT, 'no blackhole: the routes went with the tun device');
  // root's controller leaves DNS for cleanup; a user's has a helper, which undid this host's side as it died
  if (AS_USER) t.is(resolvConf(), 'nameserver 10.228.7.53\n', 'the helper put DNS back');
  else t.regex(resolvConf(), /127\.0\.0\.153/, 'DNS waits for cleanup');
  t.is((await cliIn(NS(), ['cleanup', 'cbu', '--config', full])).exitCode, 0);
  t.is(resolvConf(), 'nameserver 10.228.7.53\n');
  t.false(fs.existsSync(boot), 'the boot record went with the journal');
  t.deepEqual(await leftovers(lab), []);
});

/** What a reboot of this host takes: its routes, its firewall rules and /run; resolv.conf and the server's rules stay. */
async function reboot(): Promise<void> {
  await sleep(200);
  await rebootTakes('cbu', { ns: NS() });
}

test.serial("a reboot in the middle: cleanup, or the next connect, puts DNS back and undoes the server's rules from the boot record", async (t) => {
  t.is((await cliIn(NS(), ['connect', 'cbu', '--config', full])).exitCode, 0);
  await crash((await status()).pid);
  await reboot();
  t.regex(resolvConf(), /127\.0\.0\.153/);
  t.true((await inNs(lab.remoteNs, 'iptables-save', [])).stdout.includes('cloudbridge:cbu'), "the server's rules are still there");
  const r = await cliIn(NS(), ['cleanup', 'cbu', '--config', full]);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stderr, /cbu: a run cut short by a reboot left settings here and on the server; undoing them/);
  t.is(resolvConf(), 'nameserver 10.228.7.53\n');
  t.false(fs.existsSync('/var/lib/cloudbridge'), 'the boot record went');
  t.false((await inNs(lab.remoteNs, 'iptables-save', [])).stdout.includes('cloudbridge:cbu'), "the server's rules went");
  // and without a cleanup: the next connect does it first, and the server's rules are not doubled
  const next = await cliIn(NS(), ['connect', 'cbu', '--config', full]);
  t.is(next.exitCode, 0, next.stderr);
  await crash((await status()).pid);
  await reboot();
  const again = await cliIn(NS(), ['connect', 'cbu', '--config', full, '-v']);
  t.is(again.exitCode, 0, again.stderr);
  t.regex(again.stderr, /a run cut short by a reboot left settings here and on the server; undoing them/);
  const rules = (await inNs(lab.remoteNs, 'iptables-save', [])).stdout.split('\n').filter((l) => l.includes('cloudbridge:cbu'));
  t.is(rules.length, 3, rules.join('\n'));
  t.is((await cliIn(NS(), ['disconnect', 'cbu'])).exitCode, 0);
  t.is(resolvConf(), 'nameserver 10.228.7.53\n');
  for (const p of await sshdSessions(lab)) process.kill(p, 'SIGTERM'); // the killed controllers' sessions, if sshd has not noticed yet
  t.deepEqual(await settledLeftovers(), []);
});

test.serial("--privsep: a laptop that moves, the controller the user's: root's helper moves the pin it checked", async (t) => {
  const user = await makeTestUser('cbuuser');
  t.teardown(async () => void (await run('userdel', ['-r', user.name])));
  const cfg = userCopy(lab, `${user.home}/lab`, user, [
    ['routes: [10.228.9.0/24]', 'routes: [default]\n    deadAfter: 300'],
    [/docker: \{ mode: socket[^}]*\}/, 'docker: { mode: off }'],
  ]);
  const routes = async (): Promise<string> => (await inNs(NS(), 'ip', ['route'])).stdout;
  const up = await cliInRoot(NS(), ['connect', 'cbu', '--config', cfg], sudoEnv(user));
  t.is(up.exitCode, 0, up.stderr);
  try {
    const pid = (JSON.parse((await cliAs(user, ['status', 'cbu', '--json'])).stdout) as { pid: number }[])[0]!.pid;
    userOnly(t, pid, user);
    await roamTo4();
    // the user asks, the helper checks the new pin against where the host's own routes send the server now, and makes it
    const moved = await waitFor('the pin on the new path', async () => /^10\.228\.0\.2 via 10\.228\.4\.254 dev wlan1 proto 203/m.test(await routes()), 10_000);
    t.log(`pin moved ${moved.toFixed(1)}s after the default route did (--privsep)`);
    t.notRegex(await routes(), /^10\.228\.0\.2 via 10\.228\.3\.254/m, 'the old pin is gone');
    t.true(fs.readFileSync('/run/cloudbridge/_helper/cbu.json', 'utf8').includes('10.228.4.254'), "root's journal has the new pin");
    t.is(await seenFrom(), TUNNEL, 'still through the tunnel');
    t.is((await cliInRoot(NS(), ['disconnect', 'cbu'], sudoEnv(user))).exitCode, 0);
    t.notRegex(await routes(), /proto 203/, 'no pin left on either path');
  } finally {
    await roamBack();
  }
  for (const p of await sshdSessions(lab)) process.kill(p, 'SIGTERM');
  t.deepEqual(await settledLeftovers(), []);
});

test.serial('lan: tunnel takes the LAN too but for its gateway; exclude keeps a network on its old path', async (t) => {
  const cfg = variantConfig(lab, 'lan.yaml', [
    ['routes: [10.228.9.0/24]', 'routes: [default]\n    lan: tunnel\n    exclude: [10.228.8.0/24]'],
    [/docker: \{ mode: socket[^}]*\}/, 'docker: { mode: off }'],
  ]);
  const up = await cliIn(NS(), ['connect', 'cbu', '--config', cfg, '-v']);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /exclude 10\.228\.8\.0\/24: via 10\.228\.3\.254 dev cbh-cbu, outside the tunnel/);
  t.is(await seenFrom('10.228.3.77'), TUNNEL, 'a LAN neighbour is reached through the tunnel');
  t.is(await seenFrom('10.228.7.1'), TUNNEL);
  t.is(await seenFrom('10.228.8.1'), DIRECT, 'the excluded network goes straight');
  t.is((await inNs(NS(), 'ping', ['-c', '1', '-W', '2', '10.228.3.254'])).exitCode, 0, 'the gateway stays on the link');
  t.deepEqual((await status()).fullTunnel, { active: true, lan: 'tunnel', onLoss: 'block', blocked: false, ipv6Blocked: true });
  // no dns.domains here: dns.all alone asks every name of the remote host's own resolvers
  t.regex(up.stderr, /dns: every name asked of 127\.0\.0\.1 on the remote host/);
  t.is((await inNs(NS(), 'getent', ['hosts', 'db.vpc.internal'])).stdout.split(/\s+/)[0], '10.228.9.2', 'a name only the remote resolver knows');
  t.is((await cliIn(NS(), ['disconnect', 'cbu'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial("a ProxyCommand's far end and a jump host are pinned from the connection itself", async (t) => {
  const key = `${lab.dir}/id_ed25519`;
  const known = `${lab.dir}/known_hosts`;
  fs.writeFileSync(
    `${lab.dir}/ssh_config_full`,
    [
      'Host cbu-proxied',
      `  HostName ${TUNNEL}`,
      '  User root',
      `  IdentityFile ${key}`,
      `  UserKnownHostsFile ${known}`,
      `  ProxyCommand ssh -q -i ${key} -o UserKnownHostsFile=${known} -o BatchMode=yes -W %h:%p root@${TUNNEL}`,
      'Host cbu-jumped',
      `  HostName ${TUNNEL}`,
      '  User root',
      `  IdentityFile ${key}`,
      `  UserKnownHostsFile ${known}`,
      `  ProxyJump root@${TUNNEL}`,
      // the jump host, as ProxyJump names it
      `Host ${TUNNEL}`,
      `  IdentityFile ${key}`,
      `  UserKnownHostsFile ${known}`,
      '',
    ].join('\n'),
  );
  for (const [alias, role] of [
    ['cbu-proxied', "ProxyCommand's far end"],
    ['cbu-jumped', 'jump host'],
  ] as const) {
    const cfg = variantConfig(lab, `${alias}.yaml`, [
      [`host: ${TUNNEL}`, `host: ${alias}\n    sshConfig: ${lab.dir}/ssh_config_full`],
      ['    user: root\n', ''],
      [`    identityFile: ${key}\n`, ''],
      [`    knownHostsFile: ${known}\n`, ''],
      ['routes: [10.228.9.0/24]', 'routes: [default]'],
      [/docker: \{ mode: socket[^}]*\}/, 'docker: { mode: off }'],
    ]);
    const up = await cliIn(NS(), ['connect', 'cbu', '--config', cfg]);
    t.is(up.exitCode, 0, up.stderr);
    t.deepEqual((await status()).pins, [`${TUNNEL} (${role})`]);
    t.is(await seenFrom(), TUNNEL, `${alias}: the SSH connection stayed outside its tunnel`);
    t.is((await cliIn(NS(), ['disconnect', 'cbu'])).exitCode, 0);
    t.deepEqual(await leftovers(lab), []);
  }
});

test.serial('--dry-run lists the pin, the halves and the DNS step', async (t) => {
  const r = await cliIn(NS(), ['connect', 'cbu', '--config', full, '--dry-run']);
  t.is(r.exitCode, 0, r.stderr);
  // the pin's real path, as this host's routes give it now (no root needed to ask)
  t.regex(r.stdout, /ip route add 10\.228\.0\.2\/32 via 10\.228\.3\.254 dev cbh-cbu proto 203/);
  t.regex(r.stdout, /ip route add 0\.0\.0\.0\/1 dev cb-cbu proto 203/);
  t.regex(r.stdout, /ip route add 128\.0\.0\.0\/1 dev cb-cbu proto 203/);
  t.regex(r.stdout, /ip route add unreachable ::\/1 proto 203/);
  t.regex(r.stdout, /ip route add unreachable 8000::\/1 proto 203/);
  t.regex(r.stdout, /resolvectl domain cb-cbu '~\.' '~vpc\.internal'/);
  t.regex(
    r.stdout,
    /note: full tunnel: the halves go in once the session stands; when it is lost they stay and traffic and DNS are dropped until it is back \(onLoss: block, fail closed\)/,
  );
});

/** Another network: a second link to the router (10.228.4.0/24, wlan1 here) and the default route moved onto it, the old link still up. */
async function roamTo4(): Promise<void> {
  const W = lab.routerNs!;
  await run('ip', ['-n', W, 'link', 'add', 'eth9', 'type', 'veth', 'peer', 'name', 'wlan1', 'netns', NS()]);
  await run('ip', ['-n', W, 'addr', 'add', '10.228.4.254/24', 'dev', 'eth9']);
  await run('ip', ['-n', W, 'link', 'set', 'eth9', 'up']);
  await run('ip', ['-n', NS(), 'addr', 'add', '10.228.4.1/24', 'dev', 'wlan1']);
  await run('ip', ['-n', NS(), 'link', 'set', 'wlan1', 'up']);
  await run('ip', ['-n', NS(), 'route', 'replace', 'default', 'via', '10.228.4.254', 'dev', 'wlan1']);
}

/** Back on the first network: its link up, the default route through it, the second link gone. */
async function roamBack(): Promise<void> {
  await run('ip', ['-n', NS(), 'link', 'set', 'cbh-cbu', 'up']);
  await run('ip', ['-n', NS(), 'route', 'replace', 'default', 'via', '10.228.3.254', 'dev', 'cbh-cbu']);
  await run('ip', ['-n', lab.routerNs!, 'link', 'del', 'eth9']);
}

/** What is left once leftovers settle (sshd's end of a killed controller's session goes a moment later): up to 5 s. */
async function settledLeftovers(): Promise<string[]> {
  let left: string[] = [];
  for (let i = 0; i < 20 && (left = await leftovers(lab)).length; i++) await sleep(250);
  return left;
}

test.serial('a laptop that moves: the pin and the LAN follow the new gateway, and the session comes back through it by itself', async (t) => {
  // deadAfter 300: keepalives would notice only in minutes; what brings the session back is the watch
  const cfg = variantConfig(lab, 'roam.yaml', [
    ['routes: [10.228.9.0/24]', 'routes: [default]\n    lan: tunnel\n    deadAfter: 300'],
    [/docker: \{ mode: socket[^}]*\}/, 'docker: { mode: off }'],
  ]);
  const routes = async (): Promise<string> => (await inNs(NS(), 'ip', ['route'])).stdout;
  // this test's lines: the log holds the earlier tests' too
  const from = fs.existsSync(logOf('cbu')) ? fs.statSync(logOf('cbu')).size : 0;
  const logText = (): string => fs.readFileSync(logOf('cbu')).subarray(from).toString('utf8');
  const up = await cliIn(NS(), ['connect', 'cbu', '--config', cfg]);
  t.is(up.exitCode, 0, up.stderr);
  const pid = (await status()).pid;
  try {
    await roamTo4();
    const moved = await waitFor('the pin on the new path', async () => /^10\.228\.0\.2 via 10\.228\.4\.254 dev wlan1 proto 203/m.test(await routes()), 10_000);
    t.log(`pin moved ${moved.toFixed(1)}s after the default route did`);
    t.notRegex(await routes(), /^10\.228\.0\.2 via 10\.228\.3\.254/m, 'the old pin is gone');
    // lan: tunnel: the new LAN through the tunnel but for its gateway; the old LAN's halves and gateway pin gone
    const lan = await waitFor('the new LAN through the tunnel', async () => /^10\.228\.4\.0\/25 dev cb-cbu proto 203/m.test(await routes()), 5000);
    t.log(`LAN followed ${lan.toFixed(1)}s after the pin`);
    t.regex(await routes(), /^10\.228\.4\.254 dev wlan1 proto 203/m);
    t.notRegex(await routes(), /^10\.228\.3\.\d+(\/25)? .*proto 203/m);
    t.regex(logText(), /the network changed: SSH server 10\.228\.0\.2: pinned via 10\.228\.4\.254 dev wlan1 \(was via 10\.228\.3\.254 dev cbh-cbu\)/);
    // the old link goes down, and the session's address with it: nothing answers it any more
    await run('ip', ['-n', NS(), 'link', 'set', 'cbh-cbu', 'down']);
    const back = await waitFor('the session back', async () => (await status()).pid === pid && /session up again after/.test(logText()), 20_000);
    t.log(`session back ${back.toFixed(1)}s after the old link went down`);
    t.regex(logText(), /SSH did not answer after this host's network changed: no answer within 3s/);
    t.is(await seenFrom(), TUNNEL, 'the internet sees the remote host again');
    t.deepEqual((await status()).pins, ['10.228.0.2 (SSH server)']);
    t.is((await cliIn(NS(), ['disconnect', 'cbu'])).exitCode, 0);
    t.notRegex(await routes(), /proto 203/, 'no pin left on either path');
  } finally {
    await roamBack();
  }
  // the session from the old address could not be closed (nothing reached it): sshd would end it at its ClientAlive timeout (30 s here); end it now
  for (const p of await sshdSessions(lab)) process.kill(p, 'SIGTERM');
  t.deepEqual(await settledLeftovers(), []);
});
