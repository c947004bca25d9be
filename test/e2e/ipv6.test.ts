import fs from 'node:fs';
import test from 'ava';
import { execa, type ResultPromise } from 'execa';
import { cliIn, importBusybox, inNs, labDown, labUp, leftovers, logOf, removeTestFiles, run, variantConfig, type Lab } from './helpers.js';

// IPv6 through the tunnel, in the "router" lab (IPv6 on every link): this
// machine's namespace has fd00:230:3::1 on its LAN; behind the remote host
// are a dual-stack VPC host (10.230.9.2, fd00:230:9::2) and an IPv6-only one
// (fd00:230:6::2) that no IPv4 reaches; only the remote resolver knows
// v6only.vpc.internal. The remote host masquerades (NAT66), so neither needs
// a route back to the tunnel.

let lab: Lab;
const servers: ResultPromise[] = [];
let dual = '';
const NS = (): string => lab.clientNs!;
const TUNNEL6 = 'local: 10.230.1.1, remote: 10.230.1.2, local6: "fd00:230:1::1", remote6: "fd00:230:1::2"';

/** The lab's config with the IPv6 tunnel pair, `routes` (the rest of its line and what follows), docker off unless kept, more replacements. */
function v6Config(file: string, routes: string, opts: { mtu?: number | 'auto'; keepDocker?: boolean; more?: [string | RegExp, string][] } = {}): string {
  return variantConfig(lab, file, [
    [/tunnel: \{ local: 10\.230\.1\.1, remote: 10\.230\.1\.2, mtu: 1500 \}/, `tunnel: { ${TUNNEL6}, mtu: ${opts.mtu ?? 1500} }`],
    ['routes: [10.230.9.0/24]', `routes: ${routes}`],
    ...(opts.keepDocker ? [] : [[/docker: \{ mode: socket[^}]*\}/, 'docker: { mode: off }'] as [RegExp, string]]),
    ...(opts.more ?? []),
  ]);
}

/** A web server in `ns` that answers with the address a request came from. */
function web(ns: string, host: string, port = 80): void {
  const code = `require('http').createServer((q, s) => s.end(q.socket.remoteAddress)).listen(${port}, '${host}')`;
  servers.push(execa('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { reject: false }));
}

test.before(async () => {
  lab = await labUp('cb6', 230, 'router');
  web(lab.behindNs, '::');
  web('cb-cb6-6', 'fd00:230:6::2');
  web(lab.routerNs!, '::');
  dual = v6Config('dual.yaml', '[10.230.9.0/24, "fd00:230:9::/64", "fd00:230:6::/64"]\n    dns: { domains: [vpc.internal] }', { mtu: 'auto' });
  for (let i = 0; i < 50 && (await inNs(lab.routerNs!, 'curl', ['-s', '-m', '1', 'http://[fd00:230:7::1]/'])).exitCode !== 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
});

test.afterEach.always(async () => {
  await cliIn(NS(), ['disconnect', 'cb6']).catch(() => undefined);
});

test.after.always(async () => {
  for (const s of servers) s.kill();
  if (lab) await labDown(lab);
  removeTestFiles('cb6');
});

const get = async (url: string, family: '-4' | '-6' = '-6'): Promise<string> => (await inNs(NS(), 'curl', ['-s', family, '-m', '3', '-g', url])).stdout;

test.serial('IPv6 routes reach a dual-stack and an IPv6-only host through the tunnel (NAT66), names by AAAA; nothing left after', async (t) => {
  t.not((await inNs(NS(), 'ping', ['-6', '-c', '1', '-W', '1', 'fd00:230:6::2'])).exitCode, 0, 'unreachable before');
  const up = await cliIn(NS(), ['connect', 'cb6', '--config', dual, '-v']);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /address fd00:230:1::1 peer fd00:230:1::2 on cb-cb6/);
  // mtu: auto probes over IPv4, and an ICMPv6 echo of the size found crosses too
  t.regex(up.stderr, /tunnel: MTU \d+ here, (\d+) on tun\d+: .*\(probed\); an ICMPv6 echo of \1 bytes crosses too/);
  t.regex(up.stderr, /remote: IPv6 masquerade for fd00:230:1::1/);
  // local containers on IPv6 networks leave with the IPv6 tunnel address
  t.regex(
    (await inNs(NS(), 'ip6tables', ['-t', 'nat', '-S', 'POSTROUTING'])).stdout,
    /-A POSTROUTING -o cb-cb6 -m comment --comment "cloudbridge:cb6" -j MASQUERADE/,
  );
  const routes = (await inNs(NS(), 'ip', ['-6', 'route', 'show', 'proto', '203'])).stdout;
  t.regex(routes, /^fd00:230:9::\/64 dev cb-cb6/m);
  t.regex(routes, /^fd00:230:6::\/64 dev cb-cb6/m);
  t.is((await inNs(NS(), 'ping', ['-6', '-c', '2', '-W', '2', 'fd00:230:6::2'])).exitCode, 0, 'ICMPv6 echo to the IPv6-only host');
  t.is(await get('http://[fd00:230:6::2]/'), 'fd00:230:6::1', 'the IPv6-only host sees the remote host (NAT66)');
  t.is(await get('http://[fd00:230:9::2]/'), 'fd00:230:9::1');
  t.is(await get('http://10.230.9.2/', '-4'), '::ffff:10.230.9.1', 'IPv4 as before, beside it');
  // names: AAAA from the remote resolver, passed on because the tunnel carries IPv6
  t.regex((await inNs(NS(), 'getent', ['ahostsv6', 'v6only.vpc.internal'])).stdout, /^fd00:230:6::2\s/m);
  t.is(await get('http://v6only.vpc.internal/'), 'fd00:230:6::1');
  const s = JSON.parse((await cliIn(NS(), ['status', 'cb6', '--json'])).stdout) as { routes: string[] }[];
  t.deepEqual(s[0]!.routes, ['10.230.9.0/24', 'fd00:230:9::/64', 'fd00:230:6::/64']);
  // -v: the flow log names IPv6 flows too (ICMPv6 and UDP leave C for it)
  const log = fs.readFileSync(logOf('cb6'), 'utf8');
  t.regex(log, /flow icmpv6 fd00:230:1::1 -> fd00:230:6::2 routed/);
  t.regex(log, /flow tcp \[fd00:230:1::1\]:\d+ -> \[fd00:230:6::2\]:80 routed/);
  t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
  t.is((await inNs(lab.remoteNs, 'cat', ['/proc/sys/net/ipv6/conf/all/forwarding'])).stdout.trim(), '0', 'IPv6 forwarding back off');
});

test.serial('a full tunnel takes IPv6 too: the internet sees the remote host over IPv6, the LAN stays direct', async (t) => {
  t.is(await get('http://[fd00:230:7::1]/'), 'fd00:230:3::1', 'straight before');
  const cfg = v6Config('full6.yaml', '[default]');
  const up = await cliIn(NS(), ['connect', 'cb6', '--config', cfg]);
  t.is(up.exitCode, 0, up.stderr);
  const routes = (await inNs(NS(), 'ip', ['-6', 'route'])).stdout;
  t.regex(routes, /^::\/1 dev cb-cb6 proto 203/m);
  t.regex(routes, /^8000::\/1 dev cb-cb6 proto 203/m);
  t.regex(routes, /^default via fd00:230:3::fe dev cbh-cb6/m, "the system's IPv6 default route stays");
  t.is(await get('http://[fd00:230:7::1]/'), 'fd00:230::2', 'through the tunnel: the remote host, masqueraded');
  t.is(await get('http://[fd00:230:3::fe]/'), 'fd00:230:3::1', 'the LAN stays direct');
  t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
  t.is(await get('http://[fd00:230:7::1]/'), 'fd00:230:3::1');
  t.deepEqual(await leftovers(lab), []);
});

test.serial('IPv6 handshakes get their MSS clamped to the route beyond (path MTU less 60)', async (t) => {
  // the VPC host believes its link carries 9000 bytes: its own MSS would be 8940
  await run('ip', ['-n', lab.behindNs, 'link', 'set', 'eth0', 'mtu', '9000']);
  /** The MSS the VPC host sends with on a connection from here (ss: less the 12 bytes of timestamps). */
  const serverMss = async (): Promise<number> => {
    const hold = execa(
      'ip',
      ['netns', 'exec', NS(), process.execPath, '-e', "require('net').connect(80, 'fd00:230:9::2'); setTimeout(() => process.exit(0), 2000)"],
      {
        reject: false,
      },
    );
    let mss = 0;
    for (let i = 0; i < 20 && !mss; i++) {
      await new Promise((r) => setTimeout(r, 100));
      mss = Number(/\bmss:(\d+)/.exec((await inNs(lab.behindNs, 'ss', ['-tin', 'sport = :80'])).stdout)?.[1] ?? 0);
    }
    await hold;
    return mss;
  };
  const variant = (file: string, route: string): string => v6Config(file, `[${route}]`, { mtu: 9000 });
  try {
    const up = await cliIn(NS(), ['connect', 'cb6', '--config', variant('mss6.yaml', '"fd00:230:9::/64"'), '-v']);
    t.is(up.exitCode, 0, up.stderr);
    t.regex(up.stderr, /datapath: TCP MSS clamped for fd00:230:9::\/64 \(1440\)/);
    t.is(await serverMss(), 1440 - 12, "the VPC host sends segments the size the clamp allowed, not its link's");
    t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
    // the control: a route whose path MTU is the tunnel's is not clamped, and the VPC host's own MSS shows
    t.is((await cliIn(NS(), ['connect', 'cb6', '--config', variant('nomss6.yaml', '{ cidr: "fd00:230:9::/64", mtu: 9000 }')])).exitCode, 0);
    t.is(await serverMss(), 8940 - 12);
  } finally {
    await run('ip', ['-n', lab.behindNs, 'link', 'set', 'eth0', 'mtu', '1500']);
  }
  t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('an SSH server reached over IPv6 is pinned outside an IPv6 full tunnel, through the IPv6 gateway', async (t) => {
  const cfg = v6Config('over6.yaml', '[default]\n    deadAfter: 3', { more: [['host: 10.230.0.2', 'host: "fd00:230::2"']] });
  const up = await cliIn(NS(), ['connect', 'cb6', '--config', cfg, '-v']);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /pin SSH server fd00:230::2 via fd00:230:3::fe dev cbh-cb6, outside the tunnel/);
  t.regex((await inNs(NS(), 'ip', ['-6', 'route', 'show', 'fd00:230::2'])).stdout, /^fd00:230::2 via fd00:230:3::fe dev cbh-cb6 proto 203/m);
  const s = JSON.parse((await cliIn(NS(), ['status', 'cb6', '--json'])).stdout) as { pins: string[] }[];
  t.deepEqual(s[0]!.pins, ['fd00:230::2 (SSH server)']);
  t.is(await get('http://[fd00:230:7::1]/'), 'fd00:230::2', 'everything else over IPv6 through the tunnel, the session alive');
  await new Promise((r) => setTimeout(r, 4000));
  t.is(await get('http://[fd00:230:7::1]/'), 'fd00:230::2', 'still up after deadAfter: the SSH connection never entered its own tunnel');
  t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
  t.is((await inNs(NS(), 'ip', ['-6', 'route', 'show', 'proto', '203'])).stdout.trim(), '', 'the pin is gone too');
});

test.serial('a remote container on an IPv6 network answers NAME.ENV.docker with AAAA too, and is reached over IPv6 through the tunnel', async (t) => {
  const remoteDocker = ['-H', `unix://${lab.dir}/docker.sock`];
  await importBusybox(lab, remoteDocker[1]!, 'cb6/busybox');
  t.is(
    (await run('docker', [...remoteDocker, 'network', 'create', '--ipv6', '--subnet', '10.230.20.0/24', '--subnet', 'fd00:230:20::/64', 'cb6net'])).exitCode,
    0,
  );
  const cfg = v6Config('containers6.yaml', '[10.230.20.0/24, "fd00:230:20::/64"]\n    dns: { containers: true }', { keepDocker: true });
  const r = await run('docker', [...remoteDocker, 'run', '-d', '--name', 'web6', '--network', 'cb6net', 'cb6/busybox', '/bin/sleep', '300']);
  t.is(r.exitCode, 0, r.stderr);
  try {
    const up = await cliIn(NS(), ['connect', 'cb6', '--config', cfg]);
    t.is(up.exitCode, 0, up.stderr);
    let six = '';
    for (let i = 0; i < 40 && !six; i++) {
      six = (await inNs(NS(), 'getent', ['ahostsv6', 'web6.cb6.docker'])).stdout.split(/\s+/)[0] ?? '';
      if (!six) await new Promise((res) => setTimeout(res, 100));
    }
    t.regex(six, /^fd00:230:20::/, 'AAAA from the container map');
    t.regex((await inNs(NS(), 'getent', ['ahostsv4', 'web6.cb6.docker'])).stdout, /^10\.230\.20\.\d+\s/, 'A as before');
    // the container's address is usable once its duplicate address detection is over (about a second)
    let answered = false;
    for (let i = 0; i < 10 && !answered; i++) answered = (await inNs(NS(), 'ping', ['-6', '-c', '1', '-W', '1', six])).exitCode === 0;
    t.true(answered, 'the container answers over IPv6 through the tunnel');
  } finally {
    await run('docker', [...remoteDocker, 'rm', '-f', 'web6']);
    await run('docker', [...remoteDocker, 'network', 'rm', 'cb6net']);
  }
  t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('an allow-list with IPv6 rules: the allowed flow passes and comes back, the rest is refused at once and counted', async (t) => {
  const cfg = v6Config('allow6.yaml', '[10.230.9.0/24, "fd00:230:9::/64", "fd00:230:6::/64"]\n    allow: [10.230.9.2 tcp 80, "fd00:230:9::2 tcp 80"]');
  const up = await cliIn(NS(), ['connect', 'cb6', '--config', cfg]);
  t.is(up.exitCode, 0, up.stderr);
  t.is(await get('http://10.230.9.2/', '-4'), '::ffff:10.230.9.1', 'the allowed IPv4 flow');
  t.is(await get('http://[fd00:230:9::2]/'), 'fd00:230:9::1', 'the allowed IPv6 flow, and its replies');
  const started = Date.now();
  const refused = await inNs(NS(), 'curl', ['-s', '-6', '-m', '3', '-g', 'http://[fd00:230:6::2]/']);
  t.not(refused.exitCode, 0);
  t.true(Date.now() - started < 2500, 'refused with a RST, not left to time out');
  t.not((await inNs(NS(), 'ping', ['-6', '-c', '1', '-W', '2', 'fd00:230:9::2'])).exitCode, 0, 'ICMPv6 is not in the list');
  const s = JSON.parse((await cliIn(NS(), ['status', 'cb6', '--json'])).stdout) as {
    allow: { rule: string; hits: number; drops: number }[];
    refusedUnlisted: number;
  }[];
  t.true(s[0]!.allow[1]!.hits > 0, 'the IPv6 rule counted its hits');
  t.true(s[0]!.allow[1]!.drops > 0, 'and the ping to its host as a drop');
  t.true(s[0]!.refusedUnlisted > 0, 'the IPv6-only host is in no rule');
  t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial("an IPv6 route over this host's own IPv6 LAN is refused, as an IPv4 one is", async (t) => {
  const cfg = v6Config('lan6.yaml', '["fd00:230:3::/64"]');
  const r = await cliIn(NS(), ['connect', 'cb6', '--config', cfg]);
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /route fd00:230:3::\/64 overlaps fd00:230:3::\/64 on cbh-cb6; refusing to take it over \(use --force/);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('a host-name allow rule matches the IPv6 address its name has on the remote host', async (t) => {
  // v6only.vpc.internal has an AAAA record only, in the remote host's resolver
  const cfg = v6Config('allowname6.yaml', '["fd00:230:9::/64", "fd00:230:6::/64"]\n    allow: [v6only.vpc.internal tcp 80]');
  t.is((await cliIn(NS(), ['connect', 'cb6', '--config', cfg])).exitCode, 0);
  const s = JSON.parse((await cliIn(NS(), ['status', 'cb6', '--json'])).stdout) as { allow: { addresses: string[]; note: string }[] }[];
  t.like(s[0]!.allow[0], { addresses: ['fd00:230:6::2'], note: 'resolved on the remote host' });
  t.is(await get('http://[fd00:230:6::2]/'), 'fd00:230:6::1', "the name's address passes");
  t.not((await inNs(NS(), 'curl', ['-s', '-6', '-m', '3', '-g', 'http://[fd00:230:9::2]/'])).exitCode, 0, 'another host does not');
  t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('a server name that moves to another address is pinned anew before the reconnect dials it', async (t) => {
  // the name as this machine's resolver knows it: the namespace's own hosts file, written in place so the running controller sees it
  const hosts = `/etc/netns/${NS()}/hosts`;
  fs.writeFileSync(hosts, '127.0.0.1 localhost\n10.230.0.2 cb6-server\n');
  const key = fs.readFileSync(`${lab.dir}/ssh_host_ed25519_key.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  fs.appendFileSync(`${lab.dir}/known_hosts`, `cb6-server ${key}\n`);
  const cfg = v6Config('moving.yaml', '[default]\n    deadAfter: 3', { more: [['host: 10.230.0.2', 'host: cb6-server']] });
  try {
    t.is((await cliIn(NS(), ['connect', 'cb6', '--config', cfg])).exitCode, 0);
    const pins = async (): Promise<string[]> => (JSON.parse((await cliIn(NS(), ['status', 'cb6', '--json'])).stdout) as { pins: string[] }[])[0]!.pins;
    t.deepEqual(await pins(), ['10.230.0.2 (SSH server)']);
    // the name moves to the server's IPv6 address, and the IPv4 path to it goes dead
    fs.writeFileSync(hosts, '127.0.0.1 localhost\nfd00:230::2 cb6-server\n');
    await inNs(lab.routerNs!, 'iptables', ['-I', 'FORWARD', '-d', '10.230.0.2', '-p', 'tcp', '--dport', '22', '-j', 'DROP']);
    let now: string[] = [];
    for (let i = 0; i < 60 && !now.includes('fd00:230::2 (SSH server)'); i++) {
      await new Promise((r) => setTimeout(r, 250));
      now = await pins();
    }
    t.deepEqual(now, ['10.230.0.2 (SSH server)', 'fd00:230::2 (SSH server)'], 'the new address pinned; the old pin stays until disconnect');
    let through = '';
    for (let i = 0; i < 40 && through !== 'fd00:230::2'; i++) {
      through = await get('http://[fd00:230:7::1]/');
      if (through !== 'fd00:230::2') await new Promise((r) => setTimeout(r, 250));
    }
    t.is(through, 'fd00:230::2', 'the session is back, over IPv6, outside its own tunnel');
  } finally {
    await inNs(lab.routerNs!, 'iptables', ['-D', 'FORWARD', '-d', '10.230.0.2', '-p', 'tcp', '--dport', '22', '-j', 'DROP']);
    fs.rmSync(hosts, { force: true });
  }
  t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
  // the lost session's sshd (its path was cut, not closed) goes at its next ClientAlive, now that our RST gets through: up to 10 s
  let left = await leftovers(lab);
  for (let i = 0; i < 60 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 250));
    left = await leftovers(lab);
  }
  t.deepEqual(left, []);
  t.is((await inNs(NS(), 'ip', ['-6', 'route', 'show', 'proto', '203'])).stdout.trim(), '');
});

test.serial(
  'an IPv6-only tunnel: no IPv4 pair, the MTU probed with ICMPv6, names by AAAA only, DNS at the remote IPv6 address answered in the tunnel',
  async (t) => {
    const only = variantConfig(lab, 'only6.yaml', [
      [/tunnel: \{ local: 10\.230\.1\.1, remote: 10\.230\.1\.2, mtu: 1500 \}/, 'tunnel: { local6: "fd00:230:1::1", remote6: "fd00:230:1::2", mtu: auto }'],
      ['routes: [10.230.9.0/24]', 'routes: ["fd00:230:9::/64", "fd00:230:6::/64"]\n    dns: { domains: [vpc.internal] }'],
      [/docker: \{ mode: socket[^}]*\}/, 'docker: { mode: off }'],
    ]);
    const up = await cliIn(NS(), ['connect', 'cb6', '--config', only, '-v']);
    t.is(up.exitCode, 0, up.stderr);
    t.regex(up.stderr, /tunnel: fd00:230:1::1 -> fd00:230:1::2 answers in/);
    t.regex(up.stderr, /tunnel: MTU (\d+).*\(probed\)/);
    t.is((await inNs(NS(), 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'cb-cb6'])).stdout.trim(), '', 'no IPv4 address on the device');
    t.is((await inNs(lab.remoteNs, 'sh', ['-c', 'ip -4 -o addr show | grep -c "10.230.1." || true'])).stdout.trim(), '0', 'nor on the remote one');
    const s = JSON.parse((await cliIn(NS(), ['status', 'cb6', '--json'])).stdout) as { local: string; local6: string; mtu: number; remoteMtu: number }[];
    t.like(s[0], { local: '', local6: 'fd00:230:1::1' });
    t.true(s[0]!.remoteMtu > 1500, `ICMPv6 echoes found what sshd carries (${s[0]!.remoteMtu} there, ${s[0]!.mtu} here)`);
    const text = (await cliIn(NS(), ['status', 'cb6'])).stdout;
    t.regex(text, /tunnel {2}cb-cb6 fd00:230:1::1 <-> fd00:230:1::2 tun\d/);
    t.regex(text, /traffic sent .+ in \d+ packets, received/);
    t.is(await get('http://[fd00:230:6::2]/'), 'fd00:230:6::1');
    // a TCP transfer larger than the device MTU in both directions: the probed size holds
    const big = await inNs(NS(), 'sh', [
      '-c',
      `head -c 3000000 /dev/zero | curl -s -6 -m 10 -g -o /dev/null -w '%{size_upload}' --data-binary @- http://[fd00:230:9::2]/`,
    ]);
    t.is(big.stdout.trim(), '3000000', big.stderr);
    // db.vpc.internal has both records: only its AAAA comes through an IPv6-only tunnel
    t.regex((await inNs(NS(), 'getent', ['ahostsv6', 'db.vpc.internal'])).stdout, /^fd00:230:9::2\s/m);
    t.is((await inNs(NS(), 'getent', ['ahostsv4', 'db.vpc.internal'])).stdout.trim(), '', 'no A record: no IPv4 route to use it');
    // UDP to the remote tunnel address's port 53 is answered by the pump (what systemd-resolved is given), over IPv6
    const script = `const d=require('dgram').createSocket('udp6');d.on('message',(m)=>{console.log(m.toString('hex'));process.exit(0)});
d.send(Buffer.from(process.argv[1],'hex'),53,'fd00:230:1::2');setTimeout(()=>process.exit(3),3000)`;
    const { query, TYPE_AAAA } = await import('../../src/dns/message.js');
    const r = await inNs(NS(), process.execPath, ['-e', script, query(91, 'v6only.vpc.internal', TYPE_AAAA).toString('hex')]);
    t.is(r.exitCode, 0, r.stderr);
    t.true(r.stdout.includes('fd000230000600000000000000000002'), `fd00:230:6::2 in the answer: ${r.stdout}`);
    t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
    t.deepEqual(await leftovers(lab), []);
  },
);

test.serial('an IPv6-only full tunnel: IPv6 through the remote host, IPv4 straight, every name asked remotely, the server pinned', async (t) => {
  // the server as an IPv6 literal: the one family the tunnel carries reaches it along the LAN, pinned
  const key = fs.readFileSync(`${lab.dir}/ssh_host_ed25519_key.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  fs.appendFileSync(`${lab.dir}/known_hosts`, `fd00:230::2 ${key}\n`);
  const cfg = variantConfig(lab, 'full6only.yaml', [
    ['host: 10.230.0.2', 'host: "fd00:230::2"'],
    [/tunnel: \{ local: 10\.230\.1\.1, remote: 10\.230\.1\.2, mtu: 1500 \}/, 'tunnel: { local6: "fd00:230:1::1", remote6: "fd00:230:1::2" }'],
    ['routes: [10.230.9.0/24]', 'routes: [default]'],
    [/docker: \{ mode: socket[^}]*\}/, 'docker: { mode: off }'],
  ]);
  const up = await cliIn(NS(), ['connect', 'cb6', '--config', cfg, '-v']);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /pin SSH server fd00:230::2 via fd00:230:3::fe/);
  t.is(await get('http://[fd00:230:7::1]/'), 'fd00:230::2', 'IPv6 leaves from the remote host');
  t.is(await get('http://10.230.7.1/', '-4'), '::ffff:10.230.3.1', "IPv4 is not the tunnel's: straight, from this host");
  t.is((await inNs(NS(), 'ip', ['-4', 'route', 'show', 'proto', '203'])).stdout.trim(), '', 'no IPv4 route of ours');
  // dns.all by default: a name only the remote resolver knows, by AAAA
  t.regex((await inNs(NS(), 'getent', ['ahostsv6', 'v6only.vpc.internal'])).stdout, /^fd00:230:6::2\s/m);
  t.regex((await cliIn(NS(), ['status', 'cb6'])).stdout, /dns {5}on 127\.0\.0\.153: every name asked of 127\.0\.0\.1 on the remote side/);
  t.is((await cliIn(NS(), ['disconnect', 'cb6'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});
