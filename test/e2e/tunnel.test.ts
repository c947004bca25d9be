import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { asActor, CLI, cli, importBusybox, inNs, run, labDown, labUp, leftovers, logOf, RUN_DIR, variantConfig, type Lab, removeTestFiles } from './helpers.js';
import { download, makeBlob, startBlobServer, upload } from './transfer.js';

let lab: Lab;
const BLOB = '/tmp/cloudbridge-e2e-blob';
let blobSha = '';

test.before(async () => {
  // sshd renews its keys every 16 MB: the data path's own packet writer and
  // reused read buffers must carry on through key exchanges
  lab = await labUp('cbt', 214, 'direct', { rekeyLimit: '16M' });
  blobSha = makeBlob(BLOB, 50);
});

test.after.always(async () => {
  await cli(['disconnect', 'cbt']);
  await cli(['disconnect', 'cbt-tcp']);
  if (lab) await labDown(lab);
  fs.rmSync(BLOB, { force: true });
  removeTestFiles('cbt', 'cbt-tcp', 'cbt-clash');
});

test.serial('connect brings up addresses and routes, and reports each step', async (t) => {
  const r = await cli(['connect', 'cbt', '--config', lab.config, '--verbose']);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stderr, /tunnel: 10\.214\.1\.1 -> 10\.214\.1\.2 answers/);
  t.regex(r.stderr, /docker: unix:\/\/.* answers \/_ping/);
  const addr = (await run('ip', ['-o', '-4', 'addr', 'show', 'dev', 'cb-cbt'])).stdout;
  t.regex(addr, /inet 10\.214\.1\.1 peer 10\.214\.1\.2\/32/);
  const link = (await run('ip', ['-o', 'link', 'show', 'dev', 'cb-cbt'])).stdout;
  t.regex(link, /mtu 1500/);
  t.regex(link, /UP/);
  t.regex((await run('ip', ['route', 'show', 'dev', 'cb-cbt'])).stdout, /10\.214\.9\.0\/24 proto 203/);
  const remote = (await run('ip', ['-n', lab.remoteNs, '-o', '-4', 'addr', 'show'])).stdout;
  t.regex(remote, /tun0\s+inet 10\.214\.1\.2 peer 10\.214\.1\.1\/32/);
});

test.serial('connecting an environment twice is refused', async (t) => {
  const r = await cli(['connect', 'cbt', '--config', lab.config]);
  t.is(r.exitCode, 1);
  t.is(r.stderr, 'cloudbridge: cbt is connected already');
});

test.serial('the remote tunnel address answers ping', async (t) => {
  const r = await run('ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.214.1.2']);
  t.is(r.exitCode, 0, r.stdout);
  t.regex(r.stdout, /3 received/);
});

test.serial('a packet from the tunnel with a source the remote end may not speak for is dropped in C and counted', async (t) => {
  const spoofed = async (): Promise<number> =>
    (JSON.parse((await cli(['status', 'cbt', '--json'])).stdout) as [{ stats: { rxSpoofed: number } }])[0].stats.rxSpoofed;
  const before = await spoofed();
  // the remote host sends from an address that is neither its tunnel address nor in the routes
  await run('ip', ['-n', lab.remoteNs, 'addr', 'add', '192.0.2.77/32', 'dev', 'lo']);
  try {
    const r = await inNs(lab.remoteNs, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', '192.0.2.77', '10.214.1.1']);
    t.not(r.exitCode, 0, 'no reply: this host never saw the request');
  } finally {
    await run('ip', ['-n', lab.remoteNs, 'addr', 'del', '192.0.2.77/32', 'dev', 'lo']);
  }
  t.is((await spoofed()) - before, 2);
  // its tunnel address and a network routed to it may speak
  t.is((await inNs(lab.remoteNs, 'ping', ['-c', '1', '-W', '2', '-I', '10.214.1.2', '10.214.1.1'])).exitCode, 0);
  t.is((await inNs(lab.remoteNs, 'ping', ['-c', '1', '-W', '2', '-I', '10.214.9.1', '10.214.1.1'])).exitCode, 0);
  t.is((await spoofed()) - before, 2);
  t.regex((await cli(['status', 'cbt'])).stdout, /2 from sources the remote end may not speak for, dropped/);
});

test.serial('50 MB crosses the tunnel both ways with identical checksums, through key exchanges', async (t) => {
  const rekeys = (): number => (fs.readFileSync(`${lab.dir}/sshd_tun.log`, 'utf8').match(/SSH2_MSG_KEXINIT sent/g) ?? []).length;
  const before = rekeys();
  type Sealing = { datapath: { outbound: string; inbound: string }; stats: { txBytes: number; rxBytes: number } };
  const sealing = async (): Promise<Sealing> => (JSON.parse((await cli(['status', 'cbt', '--json'])).stdout) as [Sealing])[0];
  const start = await sealing();
  // both directions in C (AES-GCM, a direct connection, no allow-list)
  t.deepEqual(start.datapath, { outbound: 'c', inbound: 'c' });
  const server = await startBlobServer(lab.remoteNs, 9000, BLOB);
  try {
    t.is(await upload('10.214.1.2', 9000, BLOB), blobSha);
    t.deepEqual(await download('10.214.1.2', 9000), { sha256: blobSha, bytes: 50 * 1024 * 1024 });
  } finally {
    server.kill();
  }
  t.true(rekeys() - before >= 4, `sshd renewed its keys ${rekeys() - before} times during the transfer`);
  const end = await sealing();
  t.deepEqual(end.datapath, { outbound: 'c', inbound: 'c' }, 'in C again after the key exchanges');
  t.true(end.stats.txBytes - start.stats.txBytes > 50 * 1024 * 1024, "the outlet's bytes are counted");
  t.true(end.stats.rxBytes - start.stats.rxBytes > 50 * 1024 * 1024, "the inlet's bytes are counted");
  // --verbose: handshakes and other protocols still reach the flow log while bulk TCP stays in C
  const log = fs.readFileSync(logOf('cbt'), 'utf8');
  t.regex(log, /flow tcp 10\.214\.1\.1:\d+ -> 10\.214\.1\.2:9000 routed/);
  t.regex(log, /flow icmp 10\.214\.1\.1 -> 10\.214\.1\.2 routed/);
  // sshd drops a tun datagram that does not fit the window we left it, silently but for this debug line
  t.false(fs.readFileSync(`${lab.dir}/sshd_tun.log`, 'utf8').includes('datagram too big'), 'sshd dropped packets for want of window');
});

test.serial('an address behind the remote host answers through remote NAT', async (t) => {
  // The "VPC" namespace has no route back to the tunnel: only masquerade makes replies come back.
  t.is((await run('ip', ['-n', lab.behindNs, 'route', 'show', 'default'])).stdout, '');
  const server = await startBlobServer(lab.behindNs, 9001, BLOB);
  try {
    t.deepEqual(await download('10.214.9.2', 9001), { sha256: blobSha, bytes: 50 * 1024 * 1024 });
  } finally {
    server.kill();
  }
});

async function dockerThroughEnv(t: ExecutionContext, env: string): Promise<void> {
  const script = `set -e; eval "$("${process.execPath}" "${CLI}" env ${env} --config "${lab.config}")"; echo "DOCKER_HOST=$DOCKER_HOST"; docker ps; docker version --format '{{.Server.Version}}'`;
  // as the one who connected: the docker socket is theirs
  const r = await asActor('bash', ['-c', script]);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /CONTAINER ID\s+IMAGE/);
  // the server version comes from the lab's dockerd, not from anything local
  const own = await run('docker', ['-H', `unix://${lab.dir}/docker.sock`, 'version', '--format', '{{.Server.Version}}']);
  t.true(r.stdout.trim().endsWith(own.stdout.trim()));
}

test.serial('docker ps and docker version answer through `eval "$(cloudbridge env)"` (socket mode)', async (t) => {
  await dockerThroughEnv(t, 'cbt');
  const sock = fs.statSync(`${RUN_DIR}/cbt/docker.sock`);
  t.is(sock.mode & 0o777, 0o600);
});

test.serial('the docker socket answers the version check as the daemon last did, and not once the daemon is gone', async (t) => {
  type Socket = { active: number; total: number; spareUsed: number; pingsAnswered: number; spare: boolean };
  const socketStats = async (): Promise<Socket> => (JSON.parse((await cli(['status', 'cbt', '--json'])).stdout) as [{ dockerSocket: Socket }])[0].dockerSocket;
  const ours = `${RUN_DIR}/cbt/docker.sock`;
  // the answer's headers, Date aside (the replayed answer carries the time it is given)
  const ping = async (socket: string): Promise<{ code: number; headers: string[] }> => {
    const r = await run('curl', ['-sS', '--max-time', '10', '-I', '--unix-socket', socket, 'http://docker/_ping']);
    return {
      code: r.exitCode,
      headers: r.stdout
        .split('\r\n')
        .filter((l) => l && !/^date:/i.test(l))
        .sort(),
    };
  };
  const before = await socketStats();
  t.true(before.spareUsed >= 1, 'the commands before found a channel opened ahead');
  t.true(before.pingsAnswered >= 1, 'and their version checks answered here');
  const own = await ping(`${lab.dir}/docker.sock`);
  t.deepEqual(await ping(ours), own);
  t.is((await socketStats()).pingsAnswered, before.pingsAnswered + 1);

  // the daemon stops: its connections close, the spare with them, and what it said goes too
  t.is((await run('bash', ['scripts/lab.sh', 'dockerd-stop', 'cbt'])).exitCode, 0);
  try {
    const gone = await ping(ours);
    t.not(gone.code, 0, 'no OK for a daemon that is not there');
    t.not((await run('docker', ['-H', `unix://${ours}`, 'ps'])).exitCode, 0);
    t.is((await socketStats()).pingsAnswered, before.pingsAnswered + 1);
  } finally {
    t.is((await run('bash', ['scripts/lab.sh', 'dockerd-start', 'cbt'])).exitCode, 0);
  }
  // it is back: the next command is asked of it, then answers are read again ahead of time
  t.deepEqual(await ping(ours), own);
  t.is((await socketStats()).pingsAnswered, before.pingsAnswered + 1, 'the first check after the restart went to the daemon');
  for (let i = 0; i < 50 && !(await socketStats()).spare; i++) await new Promise((r) => setTimeout(r, 100));
  t.is((await run('docker', ['-H', `unix://${ours}`, 'ps'])).exitCode, 0);
  const after = await socketStats();
  t.is(after.pingsAnswered, before.pingsAnswered + 2);
  t.is(after.active, 0);
});

test.serial("docker run through the socket: the container's output comes back after the CLI is done sending", async (t) => {
  await importBusybox(lab, `unix://${lab.dir}/docker.sock`, 'cbt-bb:1');
  const ours = `unix://${RUN_DIR}/cbt/docker.sock`;
  // attach: the CLI shuts its side down when it has nothing (more) for stdin, then reads
  const r = await run('docker', ['-H', ours, 'run', '--rm', '--network', 'none', 'cbt-bb:1', 'echo', 'hello from the remote daemon']);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'hello from the remote daemon');
  const piped = await run('docker', ['-H', ours, 'run', '--rm', '-i', '--network', 'none', 'cbt-bb:1', 'cat'], {}, 'through stdin and back\n');
  t.is(piped.exitCode, 0, piped.stderr);
  t.is(piped.stdout, 'through stdin and back');
  // request bodies and streamed answers: docker cp both ways, exec -i into a running container
  const d = (...args: string[]) => run('docker', ['-H', ours, ...args]);
  t.is((await d('run', '-d', '--name', 'cbt-c1', '--network', 'none', 'cbt-bb:1', 'sleep', '300')).exitCode, 0);
  try {
    const file = `${lab.dir}/cp-in.txt`;
    fs.writeFileSync(file, 'copied there and back\n');
    t.is((await d('cp', file, 'cbt-c1:/cp.txt')).exitCode, 0);
    t.is((await d('cp', 'cbt-c1:/cp.txt', `${lab.dir}/cp-out.txt`)).exitCode, 0);
    t.is(fs.readFileSync(`${lab.dir}/cp-out.txt`, 'utf8'), 'copied there and back\n');
    const exec = await run('docker', ['-H', ours, 'exec', '-i', 'cbt-c1', 'cat'], {}, 'into a running container\n');
    t.is(exec.stdout, 'into a running container');
  } finally {
    await d('rm', '-f', 'cbt-c1');
  }
});

test.serial('status --json reports devices, addresses, routes and traffic', async (t) => {
  const r = await cli(['status', '--json']);
  t.is(r.exitCode, 0, r.stderr);
  const [s] = JSON.parse(r.stdout) as [
    {
      env: string;
      localDevice: string;
      remoteDevice: string;
      routes: string[];
      stats: { txPackets: number; rxBytes: number };
      phases: { phase: string; ms: number }[];
    },
  ];
  // where connect's time went, in the order the phases ended (issue 31)
  const names = s.phases.map((p) => p.phase);
  for (const phase of [
    'controller started',
    'config read',
    'local side set up',
    'ssh connected',
    'tunnel channel open',
    'remote side set up',
    'tunnel answers',
    'docker answers',
    'up',
  ]) {
    t.true(names.includes(phase), `${phase} in ${names.join(', ')}`);
  }
  t.deepEqual(
    s.phases.map((p) => p.ms),
    s.phases.map((p) => p.ms).sort((a, b) => a - b),
  );
  t.is(names.at(-1), 'up');
  t.is(s.env, 'cbt');
  t.is(s.localDevice, 'cb-cbt');
  t.is(s.remoteDevice, 'tun0');
  t.deepEqual(s.routes, ['10.214.9.0/24']);
  t.true(s.stats.txPackets > 1000);
  t.true(s.stats.rxBytes > 50 * 1024 * 1024);
  const human = await cli(['status']);
  t.regex(human.stdout, /cbt: up .* to root@10\.214\.0\.2:22/);
});

test.serial('the runtime folder emptied under the controller (a tmpfiles cleaner): it is put back, status and disconnect find it', async (t) => {
  const dir = path.join(RUN_DIR, 'cbt');
  const had = fs.readdirSync(dir).sort();
  fs.rmSync(dir, { recursive: true, force: true });
  const started = Date.now();
  let r = await cli(['status', 'cbt', '--json']);
  for (let i = 0; i < 40 && r.exitCode !== 0; i++) {
    await new Promise((res) => setTimeout(res, 100));
    r = await cli(['status', 'cbt', '--json']);
  }
  t.is(r.exitCode, 0, r.stderr);
  t.log(`status answered again ${Date.now() - started} ms after the folder went`);
  t.deepEqual(fs.readdirSync(dir).sort(), had, 'the control and docker sockets and the journal are back');
  t.true((await run('docker', ['-H', `unix://${path.join(dir, 'docker.sock')}`, 'version'])).exitCode === 0, 'the docker socket answers');
});

test.serial('disconnect leaves nothing on either host', async (t) => {
  const r = await cli(['disconnect', 'cbt']);
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(await leftovers(lab), []);
  t.is((await cli(['status', '--json'])).stdout.trim(), '[]');
});

test.serial('docker ps and docker version answer through the tunnel (tcp mode)', async (t) => {
  const up = await cli(['connect', 'cbt-tcp', '--config', lab.config, '-v']);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /docker: tcp:\/\/10\.214\.1\.6:2375 answers/);
  // cbt-tcp leaves tunnel.mtu to its default, auto: the probe finds what sshd
  // carries each way, 16000 from its tun and 32760 into it
  t.regex(up.stderr, /tunnel: MTU 32760 here, 16000 on tun\d+: the largest packets sshd carries each way \(probed\)/);
  const status = JSON.parse((await cli(['status', 'cbt-tcp', '--json'])).stdout)[0];
  t.deepEqual([status.mtu, status.remoteMtu], [32760, 16000]);
  t.regex((await run('ip', ['-o', 'link', 'show', 'dev', 'cb-cbt-tcp'])).stdout, /mtu 32760/);
  t.regex((await run('ip', ['-n', lab.remoteNs, '-o', 'link', 'show', 'type', 'tun'])).stdout, /mtu 16000/);
  // the remote host advertises the larger MSS to us, and still sends at most its own MTU
  t.regex((await run('ip', ['-n', lab.remoteNs, 'route', 'show', '10.214.1.5'])).stdout, /advmss 32720/);
  // a whole 32760-byte packet crosses (DF); the echo reply comes back in fragments
  t.is((await run('ping', ['-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(32760 - 28), '10.214.1.6'])).exitCode, 0);
  await dockerThroughEnv(t, 'cbt-tcp');
  const down = await cli(['disconnect', 'cbt-tcp']);
  t.is(down.exitCode, 0, down.stderr);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('at MTU 9000 a full-size packet crosses whole, both ways (one packet per CHANNEL_DATA)', async (t) => {
  const cfg = variantConfig(lab, 'mtu9000.yaml', [['mtu: 1500', 'mtu: 9000']]);
  const up = await cli(['connect', 'cbt', '--config', cfg]);
  t.is(up.exitCode, 0, up.stderr);
  t.regex((await run('ip', ['-n', lab.remoteNs, '-o', 'link', 'show', 'tun0'])).stdout, /mtu 9000/);
  // -M do: no fragmentation anywhere; 8972 + 28 = 9000 bytes on the wire
  const r = await run('ping', ['-c', '3', '-i', '0.2', '-W', '2', '-M', 'do', '-s', '8972', '10.214.1.2']);
  t.is(r.exitCode, 0, r.stdout);
  t.regex(r.stdout, /3 received/);
  const tooBig = await run('ping', ['-c', '1', '-W', '1', '-M', 'do', '-s', '8973', '10.214.1.2']);
  t.not(tooBig.exitCode, 0);
  const status = JSON.parse((await cli(['status', 'cbt', '--json'])).stdout) as [{ stats: { rxMalformed: number; txDropped: number } }];
  t.is(status[0].stats.rxMalformed, 0);
  t.is(status[0].stats.txDropped, 0);
  t.is((await cli(['disconnect', 'cbt'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('two environments at once: separate devices and traffic, each its own docker context; a clash names both', async (t) => {
  t.is((await cli(['connect', 'cbt', '--config', lab.config])).exitCode, 0);
  t.is((await cli(['connect', 'cbt-tcp', '--config', lab.config])).exitCode, 0);
  const [a, b] = JSON.parse((await cli(['status', '--json'])).stdout) as {
    env: string;
    localDevice: string;
    remoteDevice: string;
    stats: { txPackets: number };
  }[];
  t.deepEqual([a!.env, a!.localDevice, b!.env, b!.localDevice], ['cbt', 'cb-cbt', 'cbt-tcp', 'cb-cbt-tcp']);
  t.not(a!.remoteDevice, b!.remoteDevice);
  // traffic to one tunnel's peer goes through that tunnel only
  const before = JSON.parse((await cli(['status', 'cbt-tcp', '--json'])).stdout)[0].stats.txPackets as number;
  t.is((await run('ping', ['-c', '5', '-i', '0.1', '-W', '2', '10.214.1.2'])).exitCode, 0);
  const after = JSON.parse((await cli(['status', 'cbt-tcp', '--json'])).stdout)[0].stats.txPackets as number;
  t.true(after - before < 5, 'pings to cbt did not cross cbt-tcp');
  for (const ctx of ['cbt', 'cbt-tcp']) {
    const r = await asActor('docker', ['--context', ctx, 'version', '--format', '{{.Server.Version}}']);
    t.is(r.exitCode, 0, r.stderr);
  }
  t.regex((await asActor('docker', ['context', 'inspect', 'cbt-tcp', '--format', '{{.Endpoints.docker.Host}}'])).stdout, /^tcp:\/\/10\.214\.1\.6:2375$/);

  const clash = variantConfig(lab, 'clash.yaml', [
    ['  cbt-tcp:', '  cbt-clash:\n    host: 10.214.0.2\n    tunnel: { local: 10.214.1.2, remote: 10.214.1.9 }\n  cbt-tcp:'],
  ]);
  const refused = await cli(['connect', 'cbt-clash', '--config', clash]);
  t.is(refused.exitCode, 1);
  t.is(
    refused.stderr,
    "cloudbridge: tunnel addresses of cbt-clash (10.214.1.2 <-> 10.214.1.9) clash with cbt's (10.214.1.1 <-> 10.214.1.2), which is connected",
  );

  const list = await cli(['list', '--config', lab.config, '--json']);
  t.deepEqual(
    (JSON.parse(list.stdout) as { env: string; state: string }[]).map((r) => [r.env, r.state]),
    [
      ['cbt', 'up'],
      ['cbt-tcp', 'up'],
    ],
  );
  const ex = await cli(['exec', 'cbt-tcp', '--config', lab.config, '--', 'sh', '-c', 'echo "$DOCKER_HOST"; exit 7']);
  t.is(ex.exitCode, 7);
  t.is(ex.stdout.trim(), 'tcp://10.214.1.6:2375');
  t.is((await cli(['use', 'cbt-tcp', '--config', lab.config])).exitCode, 0);
  t.is((await asActor('docker', ['context', 'show'])).stdout.trim(), 'cbt-tcp');

  t.is((await cli(['disconnect', 'cbt-tcp'])).exitCode, 0);
  t.is((await asActor('docker', ['context', 'show'])).stdout.trim(), 'default', 'a removed current context falls back to default');
  t.is((await cli(['disconnect', 'cbt'])).exitCode, 0);
  t.notRegex((await asActor('docker', ['context', 'ls', '-q'])).stdout, /cbt/);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('MSS clamping: a 9000-byte tunnel reaches a host behind a 1500-byte hop; without clamping it black-holes', async (t) => {
  // The VPC host thinks its link carries 9000 bytes; the remote host's side takes 1500 and drops the rest silently.
  // One segment per packet (gso_max_segs 1): a veth passes GSO packets of any size, which made the
  // black hole come and go with the sender's batching (the negative control sometimes completed).
  await run('ip', ['-n', lab.behindNs, 'link', 'set', 'eth0', 'mtu', '9000', 'gso_max_segs', '1']);
  const server = await startBlobServer(lab.behindNs, 9002, BLOB);
  try {
    const clamped = variantConfig(lab, 'mss.yaml', [['mtu: 1500', 'mtu: 9000']]);
    const up = await cli(['connect', 'cbt', '--config', clamped, '-v']);
    t.is(up.exitCode, 0, up.stderr);
    t.regex(up.stderr, /datapath: TCP MSS clamped for 10\.214\.9\.0\/24 \(1460\)/);
    const took = Date.now();
    t.deepEqual(await download('10.214.9.2', 9002), { sha256: blobSha, bytes: 50 * 1024 * 1024 });
    // the same transfer without clamping gets twice as long as this one took (2.5 s at least) before it counts as stalled
    const patience = Math.max(2500, 2 * (Date.now() - took));
    t.is((await cli(['disconnect', 'cbt'])).exitCode, 0);

    const unclamped = variantConfig(lab, 'nomss.yaml', [
      ['mtu: 1500', 'mtu: 9000'],
      ['routes: [10.214.9.0/24]', 'routes: [{ cidr: 10.214.9.0/24, mtu: 9000 }]'],
    ]);
    // what either end learnt from earlier connections (TCP metrics, path MTU exceptions) must not help it:
    // a client that remembers a 1500-byte path to the VPC host advertises a small MSS by itself
    await run('ip', ['-n', lab.behindNs, 'tcp_metrics', 'flush', 'all']);
    await run('ip', ['-n', lab.behindNs, 'route', 'flush', 'cache']);
    await run('ip', ['tcp_metrics', 'delete', '10.214.9.2']);
    await run('ip', ['route', 'flush', 'cache']);
    t.is((await cli(['connect', 'cbt', '--config', unclamped])).exitCode, 0);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), patience).unref();
    const transfer = download('10.214.9.2', 9002, abort.signal).then(
      () => 'completed',
      () => 'stalled',
    );
    // The black hole needs the VPC host to send segments larger than the hop: read the MSS it uses.
    await new Promise((r) => setTimeout(r, 1000));
    const ss = (await inNs(lab.behindNs, 'ss', ['-tin', 'sport = :9002'])).stdout;
    const serverMss = Number(/\bmss:(\d+)/.exec(ss)?.[1] ?? 0);
    const outcome = await transfer;
    if (serverMss > 1460) {
      t.is(outcome, 'stalled', `without clamping the VPC host sends ${serverMss}-byte segments and they vanish at the 1500-byte hop`);
    } else {
      // not expected since gso_max_segs 1 above; kept so that a host that comes in with a small MSS of its own says so
      t.log(`negative control not applicable: the VPC host used MSS ${serverMss || 'unknown'} (${outcome})`);
    }
    t.is((await cli(['disconnect', 'cbt'])).exitCode, 0);
  } finally {
    server.kill();
    await run('ip', ['-n', lab.behindNs, 'link', 'set', 'eth0', 'mtu', '1500', 'gso_max_segs', '65535']);
  }
  t.deepEqual(await leftovers(lab), []);
});
