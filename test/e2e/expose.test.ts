import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import type { Status } from '../../src/daemon/status.js';
import {
  AS_USER,
  theActor,
  cli,
  importBusybox,
  inNs,
  labDown,
  labUp,
  leftovers,
  run,
  logOf,
  RUN_DIR,
  variantConfig,
  type Lab,
  removeTestFiles,
} from './helpers.js';
import { startFixture } from './transfer.js';

// Issue 7: the allow-list in the data path, forwards (TLS, UDP, health checks)
// and remote containers exposed by label, against the lab's real sshd and dockerd.
let lab: Lab;
let config = '';
let home = '';
let docker: string[] = [];
const servers: { kill(): void }[] = [];

/** A TCP connect: 'open', or the error code (ECONNREFUSED, ...), and how long it took. */
function tryConnect(host: string, port: number, timeoutMs = 3000): Promise<{ result: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (result: string): void => {
      s.destroy();
      resolve({ result, ms: Date.now() - started });
    };
    s.setTimeout(timeoutMs, () => done('timeout'));
    s.once('connect', () => done('open'));
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

function httpGet(url: string, ca?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    get(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function status(): Promise<Status> {
  const r = await cli(['status', 'cbx', '--json']);
  return (JSON.parse(r.stdout) as Status[])[0]!;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return { value, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.before(async () => {
  lab = await labUp('cbx', 220);
  // the user's own home in the user modes: sudo resets HOME, and the dropped controller writes in the home passwd names
  home = AS_USER ? theActor().home : path.join(lab.dir, 'home');
  const www = path.join(lab.dir, 'www');
  fs.mkdirSync(www, { recursive: true });
  fs.writeFileSync(path.join(www, 'index.html'), 'hello from the VPC\n');
  fs.writeFileSync(path.join(www, 'lo.html'), 'hello from remote loopback\n');
  // busybox httpd goes to the background by itself; lab down kills what runs in its namespaces
  for (const [ns, at] of [
    [lab.behindNs, '10.220.9.2:8080'],
    [lab.behindNs, '10.220.9.2:8081'],
    [lab.behindNs, '10.220.9.3:8080'],
    [lab.remoteNs, '127.0.0.1:8088'],
  ] as const) {
    const r = await inNs(ns, 'busybox', ['httpd', '-p', at, '-h', www]);
    if (r.exitCode !== 0) throw new Error(`httpd ${at}: ${r.stderr}`);
  }
  servers.push(await startFixture(lab.behindNs, 'udpEcho', ['10.220.9.2', '7']));
  // a tiny image and a network with addresses on the remote daemon, offline
  const direct = ['-H', `unix://${lab.dir}/docker.sock`];
  await importBusybox(lab, direct[1]!, 'cbx/busybox');
  await run('docker', [...direct, 'network', 'create', '--subnet', '10.220.20.0/24', 'cbxnet']);
  config = variantConfig(lab, 'expose.yaml', [
    [
      /docker: \{ mode: socket, remoteSocket: ([^ ]+) \}\n/,
      `docker: { mode: socket, remoteSocket: $1, expose: labels }
    allow:
      - api.vpc.internal tcp 8080
      - 10.220.9.2 udp 7
      - 127.0.0.1 tcp 8088
      - 10.220.20.0/24 tcp 80
      - 10.220.1.2 tcp 9999
    forwards:
      - { listen: 127.0.0.1:18443, to: 127.0.0.1:8088, tls: true, health: { check: http, path: /lo.html, interval: 1 } }
      - { listen: 127.0.0.1:18022, to: 127.0.0.1:22 }
      - { listen: 127.0.0.1:18007, to: 10.220.9.2:7, protocol: udp }
`,
    ],
  ]);
  docker = ['-H', `unix://${RUN_DIR}/cbx/docker.sock`];
});

test.after.always(async () => {
  await cli(['disconnect', 'cbx']);
  for (const s of servers) s.kill();
  if (lab) await labDown(lab);
  removeTestFiles('cbx');
});

test.serial('connect names the allow-list and each forward', async (t) => {
  const r = await cli(['connect', 'cbx', '--config', config, '--verbose'], { HOME: home });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stderr, /datapath: only "api\.vpc\.internal tcp 8080", .* allowed through/);
  t.regex(r.stderr, /forward: tcp 127\.0\.0\.1:18443 \(TLS\) -> 127\.0\.0\.1:8088/);
  t.regex(r.stderr, /forward: udp 127\.0\.0\.1:18007 -> 10\.220\.9\.2:7/);
  t.regex(r.stderr, /docker: exposing remote containers labelled cloudbridge\.expose/);
});

test.serial('allow-list: the allowed port answers; other ports and hosts are refused at once and counted', async (t) => {
  const ok = await httpGet('http://10.220.9.2:8080/');
  t.is(ok.body, 'hello from the VPC\n');
  for (const [host, port] of [
    ['10.220.9.2', 8081],
    ['10.220.9.3', 8080],
  ] as const) {
    const r = await tryConnect(host, port);
    t.is(r.result, 'ECONNREFUSED', `${host}:${port}`);
    t.true(r.ms < 1000, `${host}:${port} refused after ${r.ms} ms`);
  }
  // UDP to a port not listed: an ICMP "prohibited" comes back, a connected socket sees it
  const udpError = await new Promise<string>((resolve) => {
    const s = dgram.createSocket('udp4');
    s.on('error', (err: NodeJS.ErrnoException) => {
      s.close();
      resolve(err.code ?? err.message);
    });
    s.connect(53, '10.220.9.2', () => s.send('x'));
    setTimeout(() => resolve('no error'), 2000);
  });
  t.is(udpError, 'EHOSTUNREACH');
  const ping = await run('ping', ['-c', '1', '-W', '2', '10.220.9.3']);
  t.regex(ping.stdout, /Packet filtered/);

  const s = await status();
  t.deepEqual(
    s.datapath,
    { outbound: 'c', inbound: 'c' },
    'under an allow-list, packets of flows already let out move in C; new ones are checked in JavaScript',
  );
  const api = s.allow!.find((a) => a.rule === 'api.vpc.internal tcp 8080')!;
  t.deepEqual(api.addresses, ['10.220.9.2'], 'the name only the remote host knows was resolved there');
  t.is(api.note, 'resolved on the remote host');
  t.true(api.hits > 0);
  // refusals are counted against the first rule whose destination they match
  t.is(api.drops, 2, 'tcp 8081 and udp 53 to the same host');
  t.is(s.allow!.find((a) => a.rule === '10.220.9.2 udp 7')!.drops, 0);
  t.true(s.refusedUnlisted >= 2, `unlisted ${s.refusedUnlisted}: 10.220.9.3 (tcp, icmp)`);
  const text = (await cli(['status', 'cbx'])).stdout;
  t.regex(text, /allow +\d+ refused/);
  t.regex(text, /api\.vpc\.internal tcp 8080 +\d+ hits +2 drops +10\.220\.9\.2/);
  const log = fs.readFileSync(logOf('cbx'), 'utf8');
  t.regex(log, /flow tcp 10\.220\.1\.1:\d+ -> 10\.220\.9\.2:8081 refused/);
  t.regex(log, /flow tcp 10\.220\.1\.1:\d+ -> 10\.220\.9\.2:8080 allowed by "api\.vpc\.internal tcp 8080"/);
});

test.serial('the allow-list is stateful: the far side cannot start a connection from an allowed port, nor forge an ICMP error', async (t) => {
  // a listener here, on the tunnel address; the remote host is allowed as "10.220.1.2 tcp 9999"
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(19998, '10.220.1.1', r));
  try {
    const before = (await status()).refusedUnsolicited;
    const attempt = await run('ip', [
      'netns',
      'exec',
      lab.remoteNs,
      process.execPath,
      '-e',
      `const s = require('net').connect({ host: '10.220.1.1', port: 19998, localAddress: '10.220.1.2', localPort: 9999 });
       s.on('connect', () => { console.log('connected'); process.exit(0); });
       s.on('error', (e) => { console.log(e.code); process.exit(0); });
       setTimeout(() => { console.log('no answer'); process.exit(0); }, 2000);`,
    ]);
    t.is(attempt.stdout.trim(), 'no answer', 'the SYN from the allowed port was dropped');
    t.is(accepted, 0);
    // an ICMP "port unreachable" quoting UDP this side never sent (10.220.1.1:5555 -> 10.220.9.2:7)
    const forged = await run('ip', [
      'netns',
      'exec',
      lab.remoteNs,
      'perl',
      '-e',
      `use Socket;
       sub csum { my $s = 0; $s += $_ for unpack('n*', $_[0] . (length($_[0]) % 2 ? "\\0" : '')); $s = ($s & 0xffff) + ($s >> 16) while $s >> 16; return ~$s & 0xffff }
       my $ip = pack('CCnnnCCn', 0x45, 0, 28, 1, 0, 64, 17, 0) . inet_aton('10.220.1.1') . inet_aton('10.220.9.2');
       my $icmp = pack('CCnN', 3, 3, 0, 0) . $ip . pack('nnnn', 5555, 7, 8, 0);
       substr($icmp, 2, 2) = pack('n', csum($icmp));
       socket(my $s, PF_INET, SOCK_RAW, 1) or die "socket: $!";
       send($s, $icmp, 0, sockaddr_in(0, inet_aton('10.220.1.1'))) or die "send: $!";`,
    ]);
    t.is(forged.exitCode, 0, forged.stderr);
    const after = await status();
    t.true(after.refusedUnsolicited >= before + 2, `refused from the far side: ${before} -> ${after.refusedUnsolicited}`);
    t.true(after.flows!.size > 0 && after.flows!.capacity === 65_536, JSON.stringify(after.flows));
    // and what this side starts still flows
    t.is((await httpGet('http://10.220.9.2:8080/')).body, 'hello from the VPC\n');
  } finally {
    server.close();
  }
});

test.serial('a TLS forward serves a loopback-only remote HTTP server over HTTPS, with a self-signed pair kept for the user', async (t) => {
  const cert = path.join(home, '.config/cloudbridge/tls/cbx.crt');
  t.true(fs.existsSync(cert));
  t.is(fs.statSync(path.join(home, '.config/cloudbridge/tls/cbx.key')).mode & 0o777, 0o600);
  const r = await httpGet('https://localhost:18443/lo.html', fs.readFileSync(cert));
  t.is(r.status, 200);
  t.is(r.body, 'hello from remote loopback\n');
  // the remote server itself is not reachable through the tunnel: only the forward reaches it
  t.not((await tryConnect('10.220.1.2', 8088)).result, 'open');
});

test.serial('the allow-list governs forwards too: a target not on it is closed at once', async (t) => {
  const before = (await status()).forwards.find((f) => f.listen === '127.0.0.1:18022')!.stats.refused;
  const got = await new Promise<string>((resolve) => {
    const s = net.connect(18022, '127.0.0.1');
    let data = '';
    s.on('data', (c: Buffer) => (data += c.toString()));
    s.on('close', () => resolve(data));
    s.on('error', () => {});
  });
  t.is(got, '', 'no SSH banner: the connection never reached the remote sshd');
  t.is((await status()).forwards.find((f) => f.listen === '127.0.0.1:18022')!.stats.refused, before + 1);
});

test.serial('a UDP forward round-trips', async (t) => {
  const answer = await new Promise<string>((resolve) => {
    const s = dgram.createSocket('udp4');
    s.on('message', (m) => {
      s.close();
      resolve(m.toString());
    });
    s.send('marco', 18007, '127.0.0.1');
    setTimeout(() => resolve('no answer'), 3000);
  });
  t.is(answer, 'marco');
  const f = (await status()).forwards.find((x) => x.protocol === 'udp')!;
  t.is(f.stats.total, 1);
});

test.serial('the health check turns unhealthy when the target stops', async (t) => {
  const health = async (): Promise<string | undefined> => (await status()).forwards.find((f) => f.listen === '127.0.0.1:18443')?.health?.state;
  t.is(await health(), 'healthy');
  await inNs(lab.remoteNs, 'pkill', ['-f', 'httpd -p 127.0.0.1:8088']);
  const r = await until('unhealthy', async () => ((await health()) === 'unhealthy' ? true : undefined), 5000);
  t.log(`unhealthy ${r.ms} ms after the server stopped`);
  t.regex((await cli(['status', 'cbx'])).stdout, /18443 \(TLS\) -> 127\.0\.0\.1:8088: .*http check unhealthy \(.*Connection refused\)/);
});

test.serial('a labelled remote container is a local port within 2 s of starting, and gone within 2 s of stopping', async (t) => {
  const run1 = await run('docker', [
    ...docker,
    'run',
    '-d',
    '--name',
    'web',
    '--network',
    'cbxnet',
    '-l',
    'cloudbridge.expose=80',
    '-l',
    'cloudbridge.expose.local=127.0.0.1:18080',
    'cbx/busybox',
    'sh',
    '-c',
    'echo hello from a container > /index.html; trap "exit 0" TERM; httpd -f -p 80 -h / & wait',
  ]);
  t.is(run1.exitCode, 0, run1.stderr);
  const up = await until('forward open', async () => ((await tryConnect('127.0.0.1', 18080, 200)).result === 'open' ? true : undefined), 2000);
  t.log(`port open ${up.ms} ms after docker run returned`);
  t.is((await httpGet('http://127.0.0.1:18080/')).body, 'hello from a container\n');
  const fwd = (await status()).forwards.find((f) => f.source === 'container web');
  t.like(fwd, { listen: '127.0.0.1:18080', to: '10.220.20.2:80', protocol: 'tcp' });

  t.is((await run('docker', [...docker, 'stop', 'web'])).exitCode, 0);
  const down = await until('forward closed', async () => ((await tryConnect('127.0.0.1', 18080, 200)).result === 'ECONNREFUSED' ? true : undefined), 2000);
  t.log(`port closed ${down.ms} ms after docker stop returned`);
  t.false((await status()).forwards.some((f) => f.source === 'container web'));
  // started again: exposed again
  t.is((await run('docker', [...docker, 'start', 'web'])).exitCode, 0);
  await until('forward open again', async () => ((await tryConnect('127.0.0.1', 18080, 200)).result === 'open' ? true : undefined), 2000);
  await run('docker', [...docker, 'rm', '-f', 'web']);
  await until('forward closed after rm', async () => ((await tryConnect('127.0.0.1', 18080, 200)).result === 'ECONNREFUSED' ? true : undefined), 2000);
  t.pass();
});

test.serial("cloudbridge.expose.tls=true: the container's plain HTTP is served as HTTPS locally", async (t) => {
  const r = await run('docker', [
    ...docker,
    'run',
    '-d',
    '--name',
    'tlsweb',
    '--network',
    'cbxnet',
    '-l',
    'cloudbridge.expose=80',
    '-l',
    'cloudbridge.expose.local=127.0.0.1:18444',
    '-l',
    'cloudbridge.expose.tls=true',
    'cbx/busybox',
    'sh',
    '-c',
    'echo plain inside > /index.html; exec httpd -f -p 80 -h /',
  ]);
  t.is(r.exitCode, 0, r.stderr);
  await until('TLS forward open', async () => ((await tryConnect('127.0.0.1', 18444, 200)).result === 'open' ? true : undefined), 2000);
  const got = await httpGet('https://localhost:18444/', fs.readFileSync(path.join(home, '.config/cloudbridge/tls/cbx.crt')));
  t.is(got.body, 'plain inside\n');
  t.like(
    (await status()).forwards.find((f) => f.source === 'container tlsweb'),
    { listen: '127.0.0.1:18444', tls: true },
  );
  await run('docker', [...docker, 'rm', '-f', 'tlsweb']);
});

test.serial('a container whose labels make no sense is reported, not guessed at', async (t) => {
  const r = await run('docker', [
    ...docker,
    'run',
    '-d',
    '--name',
    'odd',
    '--network',
    'cbxnet',
    '-l',
    'cloudbridge.expose=http',
    'cbx/busybox',
    'sleep',
    '60',
  ]);
  t.is(r.exitCode, 0, r.stderr);
  const seen = await until('problem', async () => (await status()).exposeProblems['odd'], 2000);
  t.regex(seen.value, /"http" is not a port/);
  t.regex((await cli(['status', 'cbx'])).stdout, /expose +odd: cloudbridge\.expose=http/);
  await run('docker', [...docker, 'rm', '-f', 'odd']);
  // a remote container may not choose where root listens beyond loopback and unprivileged ports
  const squat = await run('docker', [
    ...docker,
    'run',
    '-d',
    '--name',
    'squat',
    '--network',
    'cbxnet',
    '-l',
    'cloudbridge.expose=80',
    '-l',
    'cloudbridge.expose.local=0.0.0.0:18090',
    'cbx/busybox',
    'sleep',
    '60',
  ]);
  t.is(squat.exitCode, 0, squat.stderr);
  const refusedLabel = await until('problem', async () => (await status()).exposeProblems['squat'], 2000);
  t.regex(refusedLabel.value, /0\.0\.0\.0:18090: labels may listen on loopback addresses only \(allow more with docker\.exposeAddresses\)/);
  t.false((await status()).forwards.some((f) => f.listen.includes('18090')));
  await run('docker', [...docker, 'rm', '-f', 'squat']);
});

test.serial('disconnect closes every listener and leaves nothing behind', async (t) => {
  const r = await cli(['disconnect', 'cbx']);
  t.is(r.exitCode, 0, r.stderr);
  for (const port of [18443, 18022, 18080]) t.is((await tryConnect('127.0.0.1', port)).result, 'ECONNREFUSED', String(port));
  t.deepEqual(await leftovers(lab), []);
});
