import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { execa } from 'execa';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-cli-'));
const config = path.join(dir, 'config.yaml');
fs.writeFileSync(
  config,
  `
environments:
  stg:
    host: 192.0.2.10
    tunnel: { local: 10.9.0.1, remote: 10.9.0.2 }
    routes: [172.31.0.0/16]
    docker: { mode: tcp }
`,
);

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await execa(process.execPath, [CLI, ...args], { reject: false, stripFinalNewline: false });
  return { code: r.exitCode ?? -1, out: String(r.stdout), err: String(r.stderr) };
}

test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

test('connect --dry-run prints the plan on this platform and on a forced darwin, and touches nothing', async (t) => {
  const linux = await cli('connect', 'stg', '--config', config, '--dry-run', '--platform', 'linux');
  t.is(linux.code, 0, linux.err);
  t.is(
    linux.out,
    [
      'cloudbridge connect stg --dry-run (linux): nothing is changed',
      '  ssh     root@192.0.2.10:22, tun@openssh.com point-to-point to tunN',
      '          hop 1 target root@192.0.2.10:22: the agent; known_hosts /root/.ssh/known_hosts, /etc/ssh/ssh_known_hosts, /etc/ssh/ssh_known_hosts2 (yes)',
      '  local   ip addr add 10.9.0.1 peer 10.9.0.2 dev cb-stg',
      '          undo: ip addr del 10.9.0.1 peer 10.9.0.2 dev cb-stg',
      '  local   ip link set dev cb-stg mtu 16000 up',
      '          undo: (goes with the tun device)',
      '  local   ip route add 172.31.0.0/16 dev cb-stg proto 203',
      '          undo: ip route del 172.31.0.0/16 dev cb-stg proto 203',
      '  local   iptables -w -t nat -A POSTROUTING -o cb-stg -m comment --comment cloudbridge:stg -j MASQUERADE',
      '          undo: iptables -w -t nat -D POSTROUTING -o cb-stg -m comment --comment cloudbridge:stg -j MASQUERADE',
      '  local   docker context create stg --description cloudbridge:stg --docker host=tcp://10.9.0.2:2375',
      '          undo: docker context rm -f stg',
      '  remote  ip addr add 10.9.0.2 peer 10.9.0.1 dev tunN',
      '          undo: (goes with the tun device)',
      '  remote  ip link set dev tunN mtu 16000 up',
      '          undo: (goes with the tun device)',
      '  remote  ip route replace 10.9.0.1 dev tunN proto kernel scope link src 10.9.0.2 advmss 32720',
      '          undo: (goes with the tun device)',
      '  remote  ip link set dev tunN mtu 16000',
      '          undo: (goes with the tun device)',
      '  local   ip link set dev cb-stg mtu 32760 up',
      '          undo: (goes with the tun device)',
      '  docker  DOCKER_HOST=tcp://10.9.0.2:2375 through the tunnel',
      '  note: tunN: the lowest unit free on the remote host, found at connect time',
      '  note: mtu auto: both devices start at 16000; connect probes the largest packet sshd carries each way: the remote device gets the round-trip size, this end the larger one sshd takes towards the remote host (up to 32760, whose MSS the remote route back advertises from the start: corrected if the probe finds less); the probed steps show the largest sizes tried',
      '  note: local steps are made through rtnetlink; the ip commands shown are their equivalents',
      '',
    ].join('\n'),
  );
  const darwin = await cli('connect', 'stg', '--config', config, '--dry-run', '--platform', 'darwin', '--json');
  t.is(darwin.code, 0, darwin.err);
  const plan = JSON.parse(darwin.out) as { platform: string; localDevice: string; steps: { side: string; apply: string[] }[] };
  t.is(plan.platform, 'darwin');
  t.is(plan.localDevice, 'utunN');
  t.deepEqual(
    plan.steps.filter((s) => s.side === 'local').map((s) => s.apply.join(' ')),
    [
      'ifconfig utunN inet 10.9.0.1/32 10.9.0.2 alias',
      'ifconfig utunN mtu 16000 up',
      'route -n add -net 172.31.0.0/16 -interface utunN',
      'docker context create stg --description cloudbridge:stg --docker host=tcp://10.9.0.2:2375',
      'ifconfig utunN mtu 16000 up',
    ],
  );
  // macOS's run folder and its MTU ceiling, not this host's
  const socketConfig = path.join(dir, 'socket.yaml');
  fs.writeFileSync(socketConfig, fs.readFileSync(config, 'utf8').replace('mode: tcp', 'mode: socket'));
  const socket = await cli('connect', 'stg', '--config', socketConfig, '--dry-run', '--platform', 'darwin');
  t.is(socket.code, 0, socket.err);
  t.regex(socket.out, /serve \/var\/run\/cloudbridge\/stg\/docker\.sock /);
  t.regex(socket.out, /host=unix:\/\/\/var\/run\/cloudbridge\/stg\/docker\.sock/);
  t.notRegex(socket.out, /32760/);
  t.regex(JSON.stringify(plan), /this end the same \(macOS caps a utun at the round-trip size\)/);
});

test('--platform without --dry-run is refused', async (t) => {
  const r = await cli('connect', 'stg', '--config', config, '--platform', 'darwin');
  t.is(r.code, 1);
  t.is(r.err, 'cloudbridge: --platform only goes with --dry-run\n');
});

test('env prints nothing to eval and fails when the environment is down', async (t) => {
  const r = await cli('env', 'stg', '--config', config);
  t.is(r.code, 1);
  t.is(r.out, '');
  t.regex(r.err, /^cloudbridge: stg is not connected/);
  // nothing set by an earlier env (no CLOUDBRIDGE_SET): nothing to put back, nothing touched
  t.is((await cli('env', 'stg', '--config', config, '--unset')).out, '');
});

test("env prints each shell's syntax, quoted", async (t) => {
  const { shellLines } = await import('../../src/cli/envVars.js');
  t.is(shellLines('bash', { DOCKER_HOST: "tcp://a'b" }), "export DOCKER_HOST='tcp://a'\\''b'\n");
  t.is(shellLines('fish', { DOCKER_HOST: 'x' }), "set -gx DOCKER_HOST 'x';\n");
  t.is(shellLines('powershell', { DOCKER_HOST: 'a$b' }), '$Env:DOCKER_HOST = "a`$b"\n');
  t.is(shellLines('fish', { DOCKER_HOST: undefined }), 'set -e DOCKER_HOST;\n');
  t.is(shellLines('powershell', { DOCKER_HOST: undefined }), 'Remove-Item Env:DOCKER_HOST -ErrorAction SilentlyContinue\n');
});

test("connect's quick path takes only what yargs would parse the same way, and leaves the rest to yargs", async (t) => {
  const { quickConnectArgs } = await import('../../src/cli/quick.js');
  const base = { config: undefined, force: false, agent: undefined, verbose: 0, controlUser: false, privsep: undefined, json: false };
  t.deepEqual(quickConnectArgs(['connect', 'stg']), { env: 'stg', args: base });
  t.deepEqual(quickConnectArgs(['connect', 'stg', '--config', '/c.yaml', '-v', '--force', '--agent', '/a.sock', '--control-user', '--privsep', '--json']), {
    env: 'stg',
    args: { config: '/c.yaml', force: true, agent: '/a.sock', verbose: 1, controlUser: true, privsep: true, json: true },
  });
  t.is(quickConnectArgs(['connect', 'stg', '-vv'])?.args.verbose, 2, "yargs' count");
  t.is(quickConnectArgs(['connect', 'stg', '--no-privsep'])?.args.privsep, false, "yargs' negation");
  t.is(quickConnectArgs(['connect', 'stg', '-v', '--verbose'])?.args.verbose, 2);
  for (const argv of [
    ['connect'],
    ['connect', 'stg', '--dry-run'],
    ['connect', 'stg', '--foreground'],
    ['connect', 'stg', '--help'],
    ['connect', 'stg', '--config'],
    ['connect', 'stg', '--config', '--force'],
    ['connect', 'stg', '--config=/c.yaml'],
    ['connect', 'stg', '--frce'],
    ['connect', 'Bad/Name'],
    ['status', 'stg'],
    ['connect', '--config', '/c.yaml', 'stg'],
  ]) {
    t.is(quickConnectArgs(argv), undefined, argv.join(' '));
  }
});

test("--version, --help and status load no SSH, YAML, netlink or controller code (the bundle's static graph)", (t) => {
  // scripts/bundle.mjs writes esbuild's metafile beside the bundle
  const meta = JSON.parse(fs.readFileSync(new URL('../../bundle-meta.json', import.meta.url), 'utf8')) as {
    outputs: Record<string, { imports: { path: string; kind: string }[]; inputs: Record<string, unknown> }>;
  };
  const staticGraph = (out: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(out)) return seen;
    seen.add(out);
    for (const i of meta.outputs[out]?.imports ?? []) if (i.kind === 'import-statement') staticGraph(i.path, seen);
    return seen;
  };
  const loaded = [...staticGraph('dist/bundle/cloudbridge.js')];
  const inputs = loaded.flatMap((o) => Object.keys(meta.outputs[o]?.inputs ?? {}));
  t.true(inputs.includes('dist/src/cli/main.js'));
  for (const heavy of [
    /node_modules\/js-yaml\//,
    /node_modules\/yargs\//,
    /node_modules\/execa\//,
    /src\/daemon\/(?!control\.js)/,
    /src\/ssh\//,
    /src\/config\/load/,
  ]) {
    t.deepEqual(
      inputs.filter((f) => heavy.test(f)),
      [],
      String(heavy),
    );
  }
  t.false(loaded.some((o) => ['ssh2', 'netlink'].includes(o)));
  // node:crypto takes ~6 ms to load here, before connect can start its controller
  t.false(
    loaded.some((o) => meta.outputs[o]?.imports.some((i) => i.path === 'node:crypto')),
    'node:crypto',
  );
});

test("the bundle's controller and jump process run as the CommonJS files connect starts", async (t) => {
  const bundle = new URL('../../bundle/', import.meta.url).pathname;
  // the installed CLI starts bundle/background.cjs, which reads the config and says what is wrong with it
  const r = await execa(process.execPath, [path.join(bundle, 'cloudbridge.js'), 'connect', 'nope', '--config', config], {
    reject: false,
    env: { SUDO_USER: undefined },
  });
  t.not(r.exitCode, 0);
  t.regex(r.stderr, /^cloudbridge: unknown environment "nope" in .*config\.yaml \(configured: stg\)$/m);
  // bundle/hop.cjs, started without its job on fd 3, gives up as the controller hears it
  const hop = await execa(process.execPath, [path.join(bundle, 'hop.cjs')], { reject: false, stdin: 'ignore' });
  t.is(hop.exitCode, 1);
  t.regex(hop.stderr, /^cloudbridge-jump-failed: /);
});

test("a missing addon names the user's fix, never a developer-only command", async (t) => {
  const { locateAddon, buildAdvice } = await import('../../src/native/locate.js');
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-native-'));
  const err = t.throws(() => locateAddon(empty));
  t.regex(
    err.message,
    /^cloudbridge's native addon has no build for linux-x64 \(glibc\): no prebuilt one ships for it and none was built at install; install python3, make and a C compiler/,
  );
  t.regex(err.message, /npm rebuild -g cloudbridge/);
  t.notRegex(err.message, /npm run build/);
  t.regex(buildAdvice('darwin'), /xcode-select --install/);
  fs.rmSync(empty, { recursive: true });
});

test('connect --dry-run shows each SSH hop as ssh_config resolves it: user, address, keys, known_hosts', async (t) => {
  const sshConfig = path.join(dir, 'ssh_config');
  fs.writeFileSync(
    sshConfig,
    'Host bastion\n  HostName 198.51.100.7\n  User ops\n  IdentityFile /k/id_bastion\nHost stg\n  HostName 10.1.2.3\n  ProxyJump bastion\n  IdentitiesOnly yes\n  IdentityFile /k/id_stg\n',
  );
  const cfg = path.join(dir, 'jump.yaml');
  fs.writeFileSync(cfg, `environments:\n  stg:\n    host: stg\n    sshConfig: ${sshConfig}\n    tunnel: { local: 10.9.0.1, remote: 10.9.0.2 }\n`, {
    mode: 0o600,
  });
  for (const platform of ['linux', 'darwin']) {
    const r = await cli('connect', 'stg', '--config', cfg, '--dry-run', '--platform', platform);
    t.is(r.code, 0, r.err);
    const lines = r.out.split('\n');
    t.is(lines[1], '  ssh     root@10.1.2.3:22 via ops@198.51.100.7:22, tun@openssh.com point-to-point to tunN');
    t.regex(lines[2]!, /^ {10}hop 1 jump {3}ops@198\.51\.100\.7:22 \(bastion\): keys \/k\/id_bastion and the agent; known_hosts \/root\/\.ssh\/known_hosts/);
    t.regex(lines[3]!, /^ {10}hop 2 target root@10\.1\.2\.3:22 \(stg\): keys \/k\/id_stg only; /);
  }
  const json = JSON.parse((await cli('connect', 'stg', '--config', cfg, '--dry-run', '--json')).out) as {
    hops: { role: string; host: string; user: string }[];
  };
  t.deepEqual(
    json.hops.map((h) => `${h.role} ${h.user}@${h.host}`),
    ['jump ops@198.51.100.7', 'target root@10.1.2.3'],
  );
});

test('logs: lines parse back, the file rotates at its cap keeping two generations, --since reads durations and times', async (t) => {
  const { LogWriter, logFiles, parseLogLine } = await import('../../src/util/log.js');
  const { sinceTime } = await import('../../src/cli/logs.js');
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-logs-'));
  const { moveFolderHere } = await import('../../src/util/user.js');
  moveFolderHere('CLOUDBRIDGE_LOG_DIR', logDir);
  try {
    const w = new LogWriter('stg', path.join(logDir, 'stg.log'), 400);
    for (let i = 0; i < 40; i++) w.write(`line ${i} ${'x'.repeat(20)}`);
    w.write('warning: something to see');
    const files = logFiles('stg').map((f) => path.basename(f));
    t.deepEqual(files, ['stg.log.2', 'stg.log.1', 'stg.log']);
    for (const f of logFiles('stg')) t.true(fs.statSync(f).size <= 400);
    const last = fs.readFileSync(path.join(logDir, 'stg.log'), 'utf8').trim().split('\n').pop()!;
    t.like(parseLogLine(last), { env: 'stg', level: 'warn', message: 'warning: something to see' });
    t.is(parseLogLine('a stack trace line'), undefined);
  } finally {
    moveFolderHere('CLOUDBRIDGE_LOG_DIR', undefined);
    fs.rmSync(logDir, { recursive: true });
  }
  const now = Date.parse('2026-11-30T10:00:00Z');
  t.is(sinceTime('90s', now), now - 90_000);
  t.is(sinceTime('2h', now), now - 7_200_000);
  t.is(sinceTime('2026-11-30T08:00:00Z', now), Date.parse('2026-11-30T08:00:00Z'));
  t.throws(() => sinceTime('soon', now), { message: /--since soon: give a duration/ });
});

test("env's lines: NO_PROXY extended, what they replace kept and put back by --unset, nothing else touched; run in real bash, zsh and fish", async (t) => {
  const { settingVars, unsettingVars, shellLines } = await import('../../src/cli/envVars.js');
  const user = { NO_PROXY: 'corp.example', HTTPS_PROXY: 'http://corp:3128', EDITOR: 'vi' };
  const ours = { DOCKER_HOST: 'unix:///run/cloudbridge/stg/docker.sock', HTTPS_PROXY: 'socks5h://127.0.0.1:1080', NO_PROXY: 'localhost,127.0.0.1,::1' };
  const set = settingVars(ours, user);
  t.deepEqual(set, {
    DOCKER_HOST: 'unix:///run/cloudbridge/stg/docker.sock',
    CLOUDBRIDGE_PREV_HTTPS_PROXY: 'http://corp:3128',
    HTTPS_PROXY: 'socks5h://127.0.0.1:1080',
    CLOUDBRIDGE_PREV_NO_PROXY: 'corp.example',
    NO_PROXY: 'corp.example,localhost,127.0.0.1,::1',
    CLOUDBRIDGE_SET: 'DOCKER_HOST,HTTPS_PROXY,NO_PROXY',
  });
  const after = { ...user, ...set } as Record<string, string>;
  // a second env (another environment, no --proxy) keeps the first values and puts back what it no longer sets
  const again = settingVars({ DOCKER_HOST: 'unix:///run/cloudbridge/prod/docker.sock' }, after);
  t.deepEqual(again, {
    HTTPS_PROXY: 'http://corp:3128',
    CLOUDBRIDGE_PREV_HTTPS_PROXY: undefined,
    NO_PROXY: 'corp.example',
    CLOUDBRIDGE_PREV_NO_PROXY: undefined,
    DOCKER_HOST: 'unix:///run/cloudbridge/prod/docker.sock',
    CLOUDBRIDGE_SET: 'DOCKER_HOST',
  });
  t.deepEqual(unsettingVars(after), {
    DOCKER_HOST: undefined,
    HTTPS_PROXY: 'http://corp:3128',
    CLOUDBRIDGE_PREV_HTTPS_PROXY: undefined,
    NO_PROXY: 'corp.example',
    CLOUDBRIDGE_PREV_NO_PROXY: undefined,
    CLOUDBRIDGE_SET: undefined,
  });
  t.deepEqual(unsettingVars(user), {}, 'no env before: --unset touches nothing');
  // the printed lines, run by the shells themselves: the user's variables as they were, ours gone
  const shells = { bash: ['bash', '-c'], zsh: ['zsh', '-c'], fish: ['fish', '-c'] } as const;
  for (const [shell, argv] of Object.entries(shells)) {
    if ((await execa('sh', ['-c', `command -v ${argv[0]}`], { reject: false })).exitCode !== 0) {
      t.log(`${shell} is not installed here`);
      continue;
    }
    const setLines = shellLines(shell as 'bash', set);
    const unsetLines = shellLines(shell as 'bash', unsettingVars(after));
    const show = shell === 'fish' ? 'echo "$DOCKER_HOST|$HTTPS_PROXY|$NO_PROXY|$EDITOR"' : 'echo "$DOCKER_HOST|$HTTPS_PROXY|$NO_PROXY|$EDITOR"';
    const r = await execa(argv[0], [argv[1], `${setLines}\n${show}\n${unsetLines}\n${show}`], {
      env: { ...user, PATH: process.env['PATH'] },
      extendEnv: false,
    });
    t.deepEqual(
      r.stdout.split('\n'),
      ['unix:///run/cloudbridge/stg/docker.sock|socks5h://127.0.0.1:1080|corp.example,localhost,127.0.0.1,::1|vi', '|http://corp:3128|corp.example|vi'],
      shell,
    );
  }
});

test('config check: valid or not without connecting, the environments, and which cannot be up together', async (t) => {
  const cfg = path.join(dir, 'check.yaml');
  fs.writeFileSync(
    cfg,
    'environments:\n  staging:\n    host: s.example\n    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n    routes: [10.20.0.0/16]\n  prod:\n    host: p.example\n    tunnel: { local: 10.98.0.1, remote: 10.98.0.2 }\n    routes: [10.20.0.0/16]\n',
    { mode: 0o600 },
  );
  const ok = await cli('config', 'check', '--config', cfg);
  t.is(ok.code, 0, ok.err);
  t.regex(ok.out, /: 2 environments, valid\n {2}staging +root@s\.example:22 {2}10\.99\.0\.1 <-> 10\.99\.0\.2 on cb-staging/);
  t.regex(ok.out, /note: staging and prod cannot be up at the same time: route 10\.20\.0\.0\/16 of staging overlaps 10\.20\.0\.0\/16 of prod\n$/);
  const json = JSON.parse((await cli('config', 'check', '--config', cfg, '--json')).out) as {
    ok: boolean;
    environments: { name: string }[];
    notTogether: string[];
  };
  t.true(json.ok);
  t.deepEqual(
    json.environments.map((e) => e.name),
    ['staging', 'prod'],
  );
  t.is(json.notTogether.length, 1);
  fs.writeFileSync(cfg, 'environments:\n  staging:\n    host: s.example\n    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n    routes: [10.0.0.0/8]\n', {
    mode: 0o600,
  });
  const bad = await cli('config', 'check', '--config', cfg);
  t.is(bad.code, 1);
  t.regex(bad.err, /^cloudbridge: .*environments\.staging\.routes\.0: "10\.0\.0\.0\/8" covers the tunnel's own address 10\.99\.0\.1/);
  t.is((await cli('config', 'frob', '--config', cfg)).code, 2);
});

test('init writes a commented starter config as the user, with a free tunnel /30, valid as it is, never over one', async (t) => {
  const { freeTunnel } = await import('../../src/cli/init.js');
  const { parseCidr } = await import('../../src/config/ipv4.js');
  t.deepEqual(freeTunnel([parseCidr('10.99.0.0/24')!, parseCidr('10.99.1.0/30')!]), { local: '10.99.2.1', remote: '10.99.2.2' });
  const cfg = path.join(dir, 'init', 'config.yaml');
  const made = await cli('init', 'stg', '--host', '10.1.2.3', '--config', cfg);
  t.is(made.code, 0, made.err);
  const text = fs.readFileSync(cfg, 'utf8');
  t.regex(text, /^# cloudbridge config, written by `cloudbridge init`/);
  t.regex(text, /\n {4}# ssh -G 10\.1\.2\.3: user \S+, hostname 10\.1\.2\.3, port 22 /);
  t.regex(text, /\n {4}tunnel: \{ local: 10\.\d+\.\d+\.\d+, remote: 10\.\d+\.\d+\.\d+ \}\n {4}# networks behind 10\.1\.2\.3/);
  t.is(fs.statSync(cfg).mode & 0o777, 0o600);
  t.is((await cli('config', 'check', '--config', cfg)).code, 0);
  const again = await cli('init', 'stg', '--host', 'other', '--config', cfg);
  t.is(again.code, 1);
  t.regex(again.err, /exists already: init never writes over a config/);
  t.is((await cli('init', 'default', '--config', path.join(dir, 'init', 'x.yaml'))).code, 2);
});
