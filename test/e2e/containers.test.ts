import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { Status } from '../../src/daemon/status.js';
import { cliIn, importBusybox, own, inNs, labDown, labUp, leftovers, run, variantConfig, type Lab, removeTestFiles } from './helpers.js';

// Issue 6: containers and names. This machine is a namespace here (a "client"
// lab) with its own dockerd on the default bridge, so that containers,
// iptables and /etc/resolv.conf (ip netns exec mounts the namespace's own)
// are the test's, not the host's.
let lab: Lab;
let ns = '';
let config = '';
let home = '';
let localDocker: string[] = [];
let remoteDocker: string[] = [];
let resolvBefore = '';
const resolvFile = (): string => `/etc/netns/${ns}/resolv.conf`;

const cb = (args: readonly string[], env: Record<string, string> = {}): ReturnType<typeof cliIn> => cliIn(ns, args, { HOME: home, ...env });

async function status(): Promise<Status> {
  return (JSON.parse((await cb(['status', 'cbc', '--json'])).stdout) as Status[])[0]!;
}

const getent = async (name: string): Promise<string> => (await inNs(ns, 'getent', ['hosts', name])).stdout.trim().split(/\s+/)[0] ?? '';

test.before(async () => {
  lab = await labUp('cbc', 221, 'client');
  ns = lab.clientNs!;
  home = path.join(lab.dir, 'home');
  fs.mkdirSync(home, { recursive: true });
  own(home);
  const www = path.join(lab.dir, 'www');
  fs.mkdirSync(www, { recursive: true });
  fs.writeFileSync(path.join(www, 'index.html'), 'hello from the VPC\n');
  const r = await inNs(lab.behindNs, 'busybox', ['httpd', '-p', '10.221.9.2:8080', '-h', www]);
  if (r.exitCode !== 0) throw new Error(`httpd: ${r.stderr}`);
  localDocker = ['-H', `unix://${lab.dir}/local-docker.sock`];
  remoteDocker = ['-H', `unix://${lab.dir}/docker.sock`];
  await importBusybox(lab, localDocker[1]!, 'cbc/busybox');
  await importBusybox(lab, remoteDocker[1]!, 'cbc/busybox');
  await run('docker', [...remoteDocker, 'network', 'create', '--subnet', '10.221.20.0/24', 'cbcnet']);
  config = variantConfig(lab, 'containers.yaml', [
    ['routes: [10.221.9.0/24]', 'routes: [10.221.9.0/24, 10.221.20.0/24]'],
    [
      /(docker: \{ mode: socket, remoteSocket: [^ ]+ \}\n)/,
      `$1    socks: { listen: [127.0.0.1:1080, docker0:1080] }
    dns: { domains: [vpc.internal], containers: true }
    forwards: [{ listen: 127.0.0.1:18006, to: '[::1]:9006' }]
  cbcssh:
    host: 10.221.0.2
    port: 2200
    user: root
    identityFile: ${lab.dir}/id_ed25519
    knownHostsFile: ${lab.dir}/known_hosts
    tunnel: false
    docker: { mode: socket, remoteSocket: ${lab.dir}/docker.sock }
    socks: { listen: 127.0.0.1:1081, username: dev, password: s3cret }
`,
    ],
    [/\n {2}cbc-tcp:[\s\S]*$/, '\n'],
  ]);
  resolvBefore = fs.readFileSync(resolvFile(), 'utf8');
});

test.after.always(async () => {
  if (ns) await cb(['disconnect', 'cbc']);
  if (lab) await labDown(lab);
  removeTestFiles('cbc', 'cbcssh');
});

test.serial('connect starts SOCKS on loopback and the docker bridge, and DNS for vpc.internal and cbc.docker', async (t) => {
  const r = await cb(['connect', 'cbc', '--config', config, '--verbose']);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stderr, /local: masquerade what leaves through cb-cbc \(local containers\)/);
  t.regex(r.stderr, /socks: socks5h:\/\/127\.0\.0\.1:1080/);
  t.regex(r.stderr, /socks: socks5h:\/\/172\.17\.0\.1:1080/);
  t.regex(r.stderr, /dns: vpc\.internal asked of 127\.0\.0\.1 on the remote host/);
  t.regex(r.stderr, /local: resolv\.conf -> DNS forwarder 127\.0\.0\.153, 172\.17\.0\.1/);
  t.regex(fs.readFileSync(resolvFile(), 'utf8'), /^nameserver 127\.0\.0\.153$/m);
});

test.serial('containers on the default bridge and on a user-defined one reach an HTTP server behind the remote host over L3', async (t) => {
  const wget = ['cbc/busybox', '/bin/wget', '-qO-', 'http://10.221.9.2:8080/'];
  const r = await run('docker', [...localDocker, 'run', '--rm', ...wget]);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'hello from the VPC');
  // Docker masquerades its default bridge itself; a network where it does not shows that our rule does the work
  const net = await run('docker', [
    ...localDocker,
    'network',
    'create',
    '--subnet',
    '172.30.0.0/24',
    '-o',
    'com.docker.network.bridge.enable_ip_masquerade=false',
    'nomasq',
  ]);
  t.is(net.exitCode, 0, net.stderr);
  const r2 = await run('docker', [...localDocker, 'run', '--rm', '--network', 'nomasq', ...wget]);
  t.is(r2.exitCode, 0, r2.stderr);
  t.is(r2.stdout, 'hello from the VPC');
  t.regex((await inNs(ns, 'iptables', ['-t', 'nat', '-L', 'POSTROUTING', '-v', '-n'])).stdout, /^\s*[1-9]\d*\s+\d+\s+MASQUERADE.*cb-cbc.*cloudbridge:cbc/m);
});

test.serial("SOCKS (IPv6 literals, and names that resolve to IPv6 there) and forwards reach a service on the remote host's [::1]", async (t) => {
  // a loopback-only IPv6 server in the remote namespace: sshd connects to it, the tunnel is not involved
  const server = `require('net').createServer((s) => s.end('HTTP/1.0 200 OK\\r\\n\\r\\nv6 loopback\\n')).listen(9006, '::1', () => console.log('up'))`;
  const { execa } = await import('execa');
  const srv = execa('ip', ['netns', 'exec', lab.remoteNs, process.execPath, '-e', server], { reject: false });
  await new Promise<void>((resolve, reject) => {
    srv.stdout!.once('data', () => resolve());
    void srv.then(() => reject(new Error('the IPv6 server did not start')));
  });
  try {
    const r = await inNs(ns, 'curl', ['-sS', '-m', '5', '--proxy', 'socks5h://127.0.0.1:1080', 'http://[::1]:9006/']);
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stdout, 'v6 loopback');
    // a name only the remote host knows, with only an IPv6 address there: sshd resolves and connects it
    const byName = await inNs(ns, 'curl', ['-sS', '-m', '5', '--proxy', 'socks5h://127.0.0.1:1080', 'http://v6.vpc.internal:9006/']);
    t.is(byName.stdout, 'v6 loopback', byName.stderr);
    // a forward to the same, written [ADDRESS]:PORT
    const f = await inNs(ns, 'curl', ['-sS', '-m', '5', 'http://127.0.0.1:18006/']);
    t.is(f.stdout, 'v6 loopback', f.stderr);
  } finally {
    srv.kill();
  }
});

test.serial('curl through socks5h reaches a name only the remote side resolves', async (t) => {
  t.is(await getent('api.vpc.internal'), '', 'the client cannot resolve it itself');
  const r = await inNs(ns, 'curl', ['-s', '-m', '5', '--proxy', 'socks5h://127.0.0.1:1080', 'http://api.vpc.internal:8080/']);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'hello from the VPC');
  const s = await status();
  t.true(s.socks.find((x) => x.listen === '127.0.0.1:1080')!.stats.total >= 1);
});

test.serial('a name under dns.domains resolves on the client through the tunnel', async (t) => {
  // db.vpc.internal exists only in dnsmasq on the remote host's loopback
  t.is(await getent('db.vpc.internal'), '10.221.9.2');
  t.true((await status()).dns!.stats.remote >= 1);
});

test.serial("DNS at the remote tunnel address is answered in the data path (what systemd-resolved's per-link DNS is pointed at)", async (t) => {
  // a UDP query from the client's side to 10.221.1.2:53 never leaves this host: the pump answers it
  const script = `const d=require('dgram').createSocket('udp4');const q=Buffer.from(process.argv[1],'hex');
d.on('message',(m)=>{console.log(m.toString('hex'));process.exit(0)});d.send(q,53,'10.221.1.2');setTimeout(()=>process.exit(3),3000)`;
  const { query, aRecords } = await import('../../src/dns/message.js');
  const r = await inNs(ns, process.execPath, ['-e', script, query(77, 'db.vpc.internal').toString('hex')]);
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(aRecords(Buffer.from(r.stdout.trim(), 'hex')), [0x0add0902]); // 10.221.9.2
});

test.serial('run: a container gets DNS and the proxy variables without being told', async (t) => {
  const printed = await cb(['run', 'cbc', '--config', config, '--print', '--', 'docker', ...localDocker, 'run', '--rm', 'cbc/busybox', 'true']);
  t.is(printed.exitCode, 0, printed.stderr);
  t.regex(printed.stdout, /run --env ALL_PROXY=socks5h:\/\/172\.17\.0\.1:1080 .* --dns 172\.17\.0\.1 .*--rm cbc\/busybox true/);
  // busybox wget knows no socks: it resolves db.vpc.internal through --dns and goes over L3
  const r = await cb([
    'run',
    'cbc',
    '--config',
    config,
    '--',
    'docker',
    ...localDocker,
    'run',
    '--rm',
    'cbc/busybox',
    '/bin/sh',
    '-c',
    'unset http_proxy; /bin/wget -qO- http://db.vpc.internal:8080/; echo "proxy=$ALL_PROXY"',
  ]);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'hello from the VPC\nproxy=socks5h://172.17.0.1:1080');
  const bad = await cb(['run', 'cbc', '--config', config, '--', 'docker', 'ps']);
  t.is(bad.exitCode, 1);
  t.regex(bad.stderr, /run wraps docker run or docker create/);
});

test.serial("a remote container's name resolves to its address and goes away with it", async (t) => {
  const r = await run('docker', [...remoteDocker, 'run', '-d', '--name', 'web', '--network', 'cbcnet', 'cbc/busybox', '/bin/sleep', '300']);
  t.is(r.exitCode, 0, r.stderr);
  let addr = '';
  for (let i = 0; i < 40 && !addr; i++) {
    addr = await getent('web.cbc.docker');
    if (!addr) await new Promise((res) => setTimeout(res, 50));
  }
  t.is(addr, '10.221.20.2');
  t.deepEqual((await status()).dns!.containers, { 'web.cbc.docker': '10.221.20.2' });
  const withHost = await cb(['run', 'cbc', '--config', config, '--print', '--', 'docker', 'run', 'img']);
  t.regex(withHost.stdout, /--add-host web\.cbc\.docker:10\.221\.20\.2/);
  await run('docker', [...remoteDocker, 'rm', '-f', 'web']);
  let gone = false;
  for (let i = 0; i < 40 && !gone; i++) {
    gone = (await getent('web.cbc.docker')) === '';
    if (!gone) await new Promise((res) => setTimeout(res, 50));
  }
  t.true(gone, 'the name went away with the container');
});

test.serial('tunnel: false against an sshd without PermitTunnel: SOCKS (with a password) and docker over SSH only', async (t) => {
  const r = await cb(['connect', 'cbcssh', '--config', config]);
  t.is(r.exitCode, 0, r.stderr);
  t.is((await inNs(ns, 'ip', ['-o', 'link', 'show', 'type', 'tun'])).stdout.includes('cb-cbcssh'), false);
  const proxied = await inNs(ns, 'curl', ['-s', '-m', '5', '--proxy', 'socks5h://dev:s3cret@127.0.0.1:1081', 'http://api.vpc.internal:8080/']);
  t.is(proxied.stdout, 'hello from the VPC');
  t.not((await inNs(ns, 'curl', ['-s', '-m', '5', '--proxy', 'socks5h://dev:wrong@127.0.0.1:1081', 'http://api.vpc.internal:8080/'])).exitCode, 0);
  // the proxy variables only when asked for: they send a shell's web traffic, the internet's too, through the remote host
  t.notRegex((await cb(['env', 'cbcssh', '--config', config])).stdout, /ALL_PROXY/);
  const env = await cb(['env', 'cbcssh', '--config', config, '--proxy']);
  t.regex(env.stdout, /export ALL_PROXY='socks5h:\/\/dev:s3cret@127\.0\.0\.1:1081'/);
  const viaProxy = await cb(['exec', 'cbcssh', '--config', config, '--proxy', '--', 'sh', '-c', 'echo "$ALL_PROXY $NO_PROXY"'], { NO_PROXY: 'corp.example' });
  t.is(viaProxy.stdout, 'socks5h://dev:s3cret@127.0.0.1:1081 corp.example,localhost,127.0.0.1,::1');
  const ps = await cb(['exec', 'cbcssh', '--config', config, '--', 'docker', 'version', '--format', '{{.Server.Os}}']);
  t.is(ps.stdout, 'linux', ps.stderr);
  t.regex((await cb(['status', 'cbcssh'])).stdout, /tunnel +none \(tunnel: false\)/);
  t.is((await cb(['disconnect', 'cbcssh'])).exitCode, 0);
});

test.serial('disconnect: names stop resolving, resolv.conf is as it was, nothing left on either side', async (t) => {
  const r = await cb(['disconnect', 'cbc']);
  t.is(r.exitCode, 0, r.stderr);
  t.is(fs.readFileSync(resolvFile(), 'utf8'), resolvBefore);
  t.is(await getent('db.vpc.internal'), '');
  t.is((await inNs(ns, 'curl', ['-s', '-m', '2', '--proxy', 'socks5h://127.0.0.1:1080', 'http://api.vpc.internal:8080/'])).exitCode, 7);
  t.deepEqual(await leftovers(lab), []);
});
