import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { MODE, theActor, asActor, cli, labDown, labUp, leftovers, run, logOf, RUN_DIR, variantConfig, type Lab, removeTestFiles, own } from './helpers.js';
import { fillUp } from '../fill.js';

let lab: Lab;

test.before(async () => {
  lab = await labUp('cbe', 215);
});

test.after.always(async () => {
  if (lab) await labDown(lab);
  removeTestFiles('cbe');
});

/** A failed connect: non-zero exit, one line naming the cause, nothing left on either host. */
async function refused(t: ExecutionContext, args: string[], cause: RegExp): Promise<void> {
  const r = await cli(args);
  t.not(r.exitCode, 0);
  t.is(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, cause);
  t.deepEqual(await leftovers(lab), []);
}

test.serial('unknown environment', async (t) => {
  await refused(
    t,
    ['connect', 'nope', '--config', lab.config],
    /^cloudbridge: unknown environment "nope" in \/run\/cloudbridge-lab\/cbe\/config\.yaml \(configured: cbe, cbe-tcp\)$/,
  );
  t.false(fs.existsSync(logOf('nope')), 'no log for an environment there is not');
});

test.serial('malformed config: broken YAML and an invalid field', async (t) => {
  const broken = path.join(lab.dir, 'broken.yaml');
  fs.writeFileSync(broken, 'environments:\n  cbe: {\n');
  await refused(t, ['connect', 'cbe', '--config', broken], /^cloudbridge: \/run\/cloudbridge-lab\/cbe\/broken\.yaml(:\d+:\d+)?: not valid YAML/);
  const invalid = variantConfig(lab, 'invalid.yaml', [['mtu: 1500', 'mtu: 99999']]);
  await refused(
    t,
    ['connect', 'cbe', '--config', invalid],
    /^cloudbridge: \/run\/cloudbridge-lab\/cbe\/invalid\.yaml: environments\.cbe\.tunnel\.mtu: must be an integer from 576 to 16000$/,
  );
  await refused(
    t,
    ['connect', 'cbe', '--config', path.join(lab.dir, 'missing.yaml')],
    /^cloudbridge: \/run\/cloudbridge-lab\/cbe\/missing\.yaml: cannot read config: ENOENT$/,
  );
});

test.serial('unreachable host', async (t) => {
  const cfg = variantConfig(lab, 'unreachable.yaml', [['    user: root', '    port: 2\n    user: root']]);
  await refused(t, ['connect', 'cbe', '--config', cfg], /^cloudbridge: cannot reach 10\.215\.0\.2:2: ECONNREFUSED$/);
});

test.serial('host key not in known_hosts, and a changed host key', async (t) => {
  const empty = path.join(lab.dir, 'known_hosts_empty');
  fs.writeFileSync(empty, '');
  const unknown = variantConfig(lab, 'unknown.yaml', [[`${lab.dir}/known_hosts`, empty]]);
  await refused(
    t,
    ['connect', 'cbe', '--config', unknown],
    /^cloudbridge: host key for 10\.215\.0\.2 \(ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}\) is not in .*known_hosts_empty \(or \/etc\/ssh\/ssh_known_hosts, \/etc\/ssh\/ssh_known_hosts2\) \(strictHostKeyChecking: yes\); if it is right, add to .*known_hosts_empty: 10\.215\.0\.2 ssh-ed25519 [A-Za-z0-9+/=]+$/,
  );

  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(lab.dir, 'other_key')]);
  const otherKey = fs.readFileSync(path.join(lab.dir, 'other_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const wrong = path.join(lab.dir, 'known_hosts_wrong');
  fs.writeFileSync(wrong, `10.215.0.2 ${otherKey}\n`);
  const changed = variantConfig(lab, 'changed.yaml', [[`${lab.dir}/known_hosts`, wrong]]);
  await refused(
    t,
    ['connect', 'cbe', '--config', changed],
    /^cloudbridge: HOST KEY FOR 10\.215\.0\.2 HAS CHANGED: it is now ssh-ed25519 SHA256:\S+, which does not match .*known_hosts_wrong .*ssh-keygen -R 10\.215\.0\.2 -f .*known_hosts_wrong\)$/,
  );
  // strictHostKeyChecking: no does not let a changed key through (OpenSSH refuses it too)
  const lax = variantConfig(lab, 'changed-no.yaml', [
    [`${lab.dir}/known_hosts`, wrong],
    ['user: root', 'user: root\n    strictHostKeyChecking: "no"'],
  ]);
  await refused(t, ['connect', 'cbe', '--config', lax], /^cloudbridge: HOST KEY FOR 10\.215\.0\.2 HAS CHANGED/);
});

test.serial('accept-new records an unknown host key, as OpenSSH does', async (t) => {
  const fresh = path.join(lab.dir, 'known_hosts_fresh');
  fs.rmSync(fresh, { force: true });
  const cfg = variantConfig(lab, 'acceptnew.yaml', [
    [`${lab.dir}/known_hosts`, fresh],
    ['    user: root', '    strictHostKeyChecking: accept-new\n    user: root'],
  ]);
  const up = await cli(['connect', 'cbe', '--config', cfg]);
  t.is(up.exitCode, 0, up.stderr);
  const hostKey = fs.readFileSync(path.join(lab.dir, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  // written as ssh writes it: hashed where ssh_config says HashKnownHosts yes (Debian's /etc/ssh/ssh_config does), found by ssh-keygen -F either way
  const line = fs.readFileSync(fresh, 'utf8');
  t.true(line.endsWith(` ${hostKey}\n`), line);
  t.regex((await run('ssh-keygen', ['-F', '10.215.0.2', '-f', fresh])).stdout, /found: line 1/);
  t.is((await cli(['disconnect', 'cbe'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('a key with a passphrase: a clear error without a terminal, a prompt on one', async (t) => {
  const key = path.join(lab.dir, 'id_locked');
  fs.copyFileSync(path.join(lab.dir, 'id_ed25519'), key);
  fs.chmodSync(key, 0o600);
  t.is((await run('ssh-keygen', ['-q', '-p', '-N', 'open sesame', '-f', key])).exitCode, 0);
  own(key);
  const cfg = variantConfig(lab, 'locked.yaml', [[`identityFile: ${lab.dir}/id_ed25519`, `identityFile: ${key}`]]);
  await refused(
    t,
    ['connect', 'cbe', '--config', cfg],
    /^cloudbridge: no usable SSH identity for root@10\.215\.0\.2:22: .*id_locked is protected by a passphrase \(run connect on a terminal to be asked, or load it into ssh-agent\)$/,
  );
  // a real terminal (script gives the command a pty): the passphrase is asked, not echoed, and used
  const cmd = `${process.execPath} ${process.cwd()}/dist/src/cli/main.js connect cbe --config ${cfg}`;
  const r = await asActor('sh', ['-c', `(sleep 2; printf 'open sesame\\n') | script -qec '${cmd}' /dev/null`], { SSH_AUTH_SOCK: '' });
  t.regex(r.stdout, /Enter passphrase for key '.*id_locked': /);
  t.notRegex(r.stdout, /open sesame/);
  t.regex(r.stdout, /cbe: up/);
  t.is((await cli(['disconnect', 'cbe'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);

  // the same key held by an ssh-agent (known by id_locked.pub): on a terminal nobody is asked, as with ssh
  fs.copyFileSync(path.join(lab.dir, 'id_ed25519.pub'), `${key}.pub`);
  const agentDir = fs.mkdtempSync('/tmp/ssh-cbe-');
  own(`${key}.pub`, agentDir);
  const sock = `${agentDir}/agent.1`;
  const agent = await asActor('ssh-agent', ['-a', sock]);
  const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)![1]);
  try {
    t.is((await asActor('ssh-add', [path.join(lab.dir, 'id_ed25519')], { SSH_AUTH_SOCK: sock })).exitCode, 0);
    const held = await asActor('sh', ['-c', `sleep 3 | script -qec '${cmd} --agent ${sock}' /dev/null`], { SSH_AUTH_SOCK: '' });
    t.notRegex(held.stdout, /Enter passphrase/);
    t.regex(held.stdout, /cbe: up/);
    t.is((await cli(['disconnect', 'cbe'])).exitCode, 0);
  } finally {
    process.kill(agentPid);
    fs.rmSync(agentDir, { recursive: true, force: true });
  }
  t.deepEqual(await leftovers(lab), []);
});

test.serial('sshd without PermitTunnel', async (t) => {
  const cfg = variantConfig(lab, 'notun.yaml', [['    user: root', '    port: 2200\n    user: root']]);
  await refused(t, ['connect', 'cbe', '--config', cfg], /^cloudbridge: sshd on 10\.215\.0\.2 refused the tunnel .*PermitTunnel yes/);
});

test.serial("a route over one of the host's own networks is refused, and taken with --force", async (t) => {
  const cfg = variantConfig(lab, 'overlap.yaml', [['routes: [10.215.9.0/24]', 'routes: [10.215.0.128/25]']]);
  await refused(
    t,
    ['connect', 'cbe', '--config', cfg],
    /^cloudbridge: route 10\.215\.0\.128\/25 overlaps 10\.215\.0\.0\/24 on cbh-cbe; refusing to take it over \(use --force/,
  );
  const forced = await cli(['connect', 'cbe', '--config', cfg, '--force']);
  t.is(forced.exitCode, 0, forced.stderr);
  t.regex((await run('ip', ['route', 'show', '10.215.0.128/25'])).stdout, /dev cb-cbe proto 203/);
  t.is((await cli(['disconnect', 'cbe'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial("a route that covers the SSH server's own address gets the server pinned outside it", async (t) => {
  const cfg = variantConfig(lab, 'covers-server.yaml', [['routes: [10.215.9.0/24]', 'routes: [10.215.0.0/25]']]);
  const up = await cli(['connect', 'cbe', '--config', cfg, '--force', '-v']);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /pin SSH server 10\.215\.0\.2 dev cbh-cbe, outside the tunnel/);
  t.regex((await run('ip', ['route', 'show', '10.215.0.2'])).stdout, /^10\.215\.0\.2 dev cbh-cbe proto 203/m);
  t.regex((await run('ip', ['route', 'get', '10.215.0.3'])).stdout, /dev cb-cbe/, 'the rest of the route goes through the tunnel');
  t.is((await cli(['disconnect', 'cbe'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('a SOCKS or forward port that is taken is refused, and what was made before it is undone', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(18099, '127.0.0.1', r));
  try {
    const socks = variantConfig(lab, 'socks-taken.yaml', [['    user: root', '    socks: { listen: 127.0.0.1:18099 }\n    user: root']]);
    await refused(t, ['connect', 'cbe', '--config', socks], /^cloudbridge: socks on 127\.0\.0\.1:18099: the address is in use$/);
    const fwd = variantConfig(lab, 'forward-taken.yaml', [['    user: root', '    forwards: [{ listen: 18099, to: "127.0.0.1:80" }]\n    user: root']]);
    await refused(
      t,
      ['connect', 'cbe', '--config', fwd],
      /^cloudbridge: .*forward-taken\.yaml: environments\.cbe\.forwards: forward 18099 -> 127\.0\.0\.1:80: the address is in use$/,
    );
  } finally {
    blocker.close();
  }
});

test.serial('a failure half way undoes the steps already made on both hosts', async (t) => {
  // The remote docker socket does not exist and docker.required says that is fatal: every tunnel step succeeds first, then the docker check fails.
  const cfg = variantConfig(lab, 'nodocker.yaml', [[`remoteSocket: ${lab.dir}/docker.sock`, 'remoteSocket: /nonexistent/docker.sock, required: true']]);
  await refused(t, ['connect', 'cbe', '--config', cfg], /^cloudbridge: docker at unix:\/\/.* \(remote \/nonexistent\/docker\.sock\) did not answer \/_ping/);
});

test.serial('a docker daemon that does not answer does not sink the tunnel: a warning, status says so, and it is noticed when it answers', async (t) => {
  const later = `${lab.dir}/docker-later.sock`;
  fs.rmSync(later, { force: true });
  const cfg = variantConfig(lab, 'docker-later.yaml', [[`remoteSocket: ${lab.dir}/docker.sock`, `remoteSocket: ${later}`]]);
  // no -v and no terminal (a script, a CI log): the warning is printed all the same, and alone
  const up = await cli(['connect', 'cbe', '--config', cfg]);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /^ {2}warning: docker at unix:\/\/.* did not answer \/_ping: .*; the tunnel is up without it, .*set docker\.mode: off/m);
  t.notRegex(up.stderr, /^ {2}local: /m, 'the other progress lines stay quiet');
  t.is((await run('ping', ['-c', '1', '-W', '2', '10.215.1.2'])).exitCode, 0, 'the tunnel works');
  const down = JSON.parse((await cli(['status', 'cbe', '--json'])).stdout) as { docker: { answering: boolean } }[];
  t.false(down[0]!.docker.answering);
  t.regex((await cli(['status', 'cbe'])).stdout, /docker {2}NOT ANSWERING \/_ping/);
  // the daemon "comes back": its socket appears where the config said
  fs.symlinkSync(`${lab.dir}/docker.sock`, later);
  let answering = false;
  for (let i = 0; i < 60 && !answering; i++) {
    await new Promise((r) => setTimeout(r, 250));
    answering = (JSON.parse((await cli(['status', 'cbe', '--json'])).stdout) as { docker: { answering: boolean } }[])[0]!.docker.answering;
  }
  t.true(answering);
  t.regex(fs.readFileSync(logOf('cbe'), 'utf8'), /docker: unix:\/\/.* answers \/_ping again/);
  t.is((await run('docker', ['-H', `unix://${RUN_DIR}/cbe/docker.sock`, 'ps'])).exitCode, 0);
  t.is((await cli(['disconnect', 'cbe'])).exitCode, 0);
  fs.rmSync(later, { force: true });
  t.deepEqual(await leftovers(lab), []);
});

test.serial('doctor: all good on a ready host; names the PermitTunnel fix where sshd refuses; its hardened key line works', async (t) => {
  const good = await cli(['doctor', 'cbe', '--config', lab.config]);
  t.is(good.exitCode, 0, good.stdout);
  t.regex(good.stdout, /^ok {3}sshd opens tun0 \(PermitTunnel\)$/m);
  // OpenSSH's own reading of the hop, beside cloudbridge's
  t.regex(good.stdout, /^ok {3}ssh -G 10\.215\.0\.2 agrees: root@10\.215\.0\.2:22$/m);
  t.notRegex(good.stdout, /FAIL/);
  const notun = variantConfig(lab, 'doctor-notun.yaml', [['    user: root', '    port: 2200\n    user: root']]);
  const bad = await cli(['doctor', 'cbe', '--config', notun]);
  t.is(bad.exitCode, 1);
  t.regex(
    bad.stdout,
    /^FAIL sshd refuses tunnels \("Server has rejected tunnel device forwarding"\)\n {5}fix: add "PermitTunnel point-to-point" to \/etc\/ssh\/sshd_config and reload sshd$/m,
  );
  t.deepEqual(await leftovers(lab), [], 'doctor leaves nothing either');

  // the suggested authorized_keys line, installed, still lets cloudbridge do everything it does
  const pinned = variantConfig(lab, 'pinned.yaml', [['mtu: 1500 }', 'mtu: 1500, remoteUnit: 0 }']]);
  const line = /^\s+(restrict,.*)$/m.exec((await cli(['doctor', 'cbe', '--config', pinned])).stdout)![1]!;
  t.regex(line, /^restrict,port-forwarding,tunnel="0" ssh-ed25519 /);
  const keys = path.join(lab.dir, 'authorized_keys');
  const original = fs.readFileSync(keys, 'utf8');
  fs.writeFileSync(keys, `${line}\n`);
  try {
    t.is((await cli(['connect', 'cbe', '--config', pinned])).exitCode, 0);
    t.is((await run('docker', ['-H', `unix://${RUN_DIR}/cbe/docker.sock`, 'ps'])).exitCode, 0);
    t.is((await run('ping', ['-c', '1', '-W', '2', '10.215.9.2'])).exitCode, 0);
    t.is((await cli(['disconnect', 'cbe'])).exitCode, 0);
  } finally {
    fs.writeFileSync(keys, original);
  }
  t.deepEqual(await leftovers(lab), []);
});

test.serial("the controller's log outlives it: cloudbridge logs, --json, --since; a failed connect says where the log is", async (t) => {
  t.is((await cli(['connect', 'cbe', '--config', lab.config])).exitCode, 0);
  t.is((await cli(['disconnect', 'cbe'])).exitCode, 0);
  const text = await cli(['logs', 'cbe']);
  t.is(text.exitCode, 0);
  t.regex(text.stdout, /^\S+Z cbe info {2}connect: controller \d+, root@10\.215\.0\.2:22$/m);
  t.regex(text.stdout, /^\S+Z cbe info {2}local: route 10\.215\.9\.0\/24 via cb-cbe$/m);
  t.regex(text.stdout, /^\S+Z cbe info {2}down \(disconnect requested\)$/m);
  const json = (await cli(['logs', 'cbe', '--json'])).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { time: string; env: string; level: string; message: string });
  t.true(json.some((e) => e.env === 'cbe' && e.level === 'info' && e.message === 'down (disconnect requested)'));
  t.true((await cli(['logs', 'cbe', '--since', '1h'])).stdout.length > 0);
  t.is((await cli(['logs', 'cbe', '--since', '2099-01-01T00:00:00Z'])).stdout, '');
  t.is((await cli(['logs', 'cbe', '--since', 'yesterday-ish'])).exitCode, 2);
  t.regex((await cli(['logs', 'never-here'])).stderr, /never-here has no log/);
  // a failed connect, with its lines shown (-v): the last line is the error, the one before says where they are kept
  const cfg = variantConfig(lab, 'logs-nodocker.yaml', [[`remoteSocket: ${lab.dir}/docker.sock`, 'remoteSocket: /nonexistent/docker.sock, required: true']]);
  const failed = await cli(['connect', 'cbe', '--config', cfg, '-v']);
  t.not(failed.exitCode, 0);
  const lines = failed.stderr.trim().split('\n');
  t.is(lines.at(-2), `  (kept in ${logOf('cbe')}: cloudbridge logs cbe)`);
  t.regex(lines.at(-1)!, /^cloudbridge: docker at .* did not answer \/_ping/);
  t.regex((await cli(['logs', 'cbe'])).stdout, /cbe error connect failed: docker at .* did not answer \/_ping/);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('a full disk under the log: the tunnel comes up, carries and goes down all the same; what was not written is said', async (t) => {
  // a small tmpfs, filled to the last block, under root's log folder; with the installed helper the log is the
  // user's, beside their boot record (which must be written, or nothing is changed): the full disk is under the
  // log file alone, bind-mounted from it
  const log = logOf('cbe');
  const full = MODE === 'helper' ? path.join(lab.dir, 'logfs') : path.dirname(log);
  fs.mkdirSync(full, { recursive: true, mode: 0o750 });
  const owner = MODE === 'helper' ? `,uid=${theActor().uid},gid=${theActor().gid}` : '';
  t.is((await run('mount', ['-t', 'tmpfs', '-o', `size=64k,mode=0750${owner}`, 'tmpfs', full])).exitCode, 0);
  const mounts = [full];
  try {
    if (MODE === 'helper') {
      await asActor('sh', ['-c', `mkdir -p -m 750 "${path.dirname(log)}" && touch "${log}" "${full}/cbe.log"`]);
      t.is((await run('mount', ['--bind', `${full}/cbe.log`, log])).exitCode, 0);
      mounts.unshift(log);
    }
    t.is(fillUp(path.join(full, 'filler')), 'ENOSPC');
    const up = await cli(['connect', 'cbe', '--config', lab.config]);
    t.is(up.exitCode, 0, up.stderr);
    t.is((await run('ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.215.1.2'])).exitCode, 0, 'the tunnel carries');
    t.is((await cli(['status', 'cbe'])).exitCode, 0, 'the controller lives');
    fs.rmSync(path.join(full, 'filler')); // room again: the log says what it lost
    const down = await cli(['disconnect', 'cbe']);
    t.is(down.exitCode, 0, down.stderr);
    t.regex(fs.readFileSync(log, 'utf8'), /\d+ log lines? could not be written \(ENOSPC\)/);
    t.deepEqual(await leftovers(lab), []);
  } finally {
    for (const m of mounts) await run('umount', [m]);
  }
});

test.serial('commands explain themselves and refuse what they cannot do', async (t) => {
  const help = await cli(['--help']);
  t.is(help.exitCode, 0);
  for (const cmd of ['connect <env>', 'disconnect <env>', 'status [env]', 'env <env>']) t.true(help.stdout.includes(cmd), cmd);
  const notUp = await cli(['env', 'cbe', '--config', lab.config]);
  t.is(notUp.exitCode, 1);
  t.is(notUp.stdout, '');
  t.is(notUp.stderr, 'cloudbridge: cbe is not connected (sudo cloudbridge connect cbe)');
  const down = await cli(['disconnect', 'cbe']);
  t.is(down.stderr, 'cloudbridge: cbe is not connected');
  const bad = await cli(['disconnect']);
  t.is(bad.exitCode, 2, 'a usage error, as getopt tools say');
  t.regex(bad.stderr, /Not enough non-option arguments/);
  const which = await cli(['connect', '--config', lab.config]);
  t.is(which.exitCode, 2);
  t.regex(which.stderr, /^cloudbridge: name the environment to connect: cloudbridge connect ENV \(configured: cbe[,)]/);
  const typo = await cli(['conect', 'cbe']);
  t.is(typo.exitCode, 2);
  t.is(typo.stderr, 'cloudbridge: unknown command "conect": did you mean connect?');
  t.is((await cli(['-h'])).stdout, help.stdout);
  t.regex(help.stdout, /Exit codes: 0 ok, 1 failure, 2 usage error, 3 \(status ENV\) not connected\./);
  const st = await cli(['status', 'cbe']);
  t.is(st.exitCode, 3, "systemctl's 'not running'");
  t.is(st.stderr, 'cloudbridge: cbe is not connected');
  const stJson = await cli(['status', 'cbe', '--json']);
  t.is(stJson.exitCode, 3);
  t.deepEqual(JSON.parse(stJson.stdout), [{ env: 'cbe', state: 'down' }]);
});

test.serial('a long environment name gets an interface name that fits, shown in status', async (t) => {
  const long = 'cbe-staging-eu-west-1';
  const cfg = variantConfig(lab, 'long.yaml', [['  cbe:\n', `  ${long}:\n`]]);
  const check = await cli(['config', 'check', '--config', cfg, '--json']);
  t.is(check.exitCode, 0, check.stderr);
  const device = (JSON.parse(check.stdout) as { environments: { name: string; tunnel: { device: string } }[] }).environments.find((e) => e.name === long)!
    .tunnel.device;
  t.regex(device, /^cb-cbe-sta-[0-9a-f]{4}$/);
  const up = await cli(['connect', long, '--config', cfg]);
  t.is(up.exitCode, 0, up.stderr);
  try {
    t.true(fs.existsSync(`/sys/class/net/${device}`));
    const st = await cli(['status', long]);
    t.regex(st.stdout, new RegExp(`tunnel  ${device} `));
    t.is((JSON.parse((await cli(['status', long, '--json'])).stdout) as { localDevice: string }[])[0]!.localDevice, device);
  } finally {
    t.is((await cli(['disconnect', long])).exitCode, 0);
  }
  t.deepEqual(await leftovers(lab), []);
  removeTestFiles(long);
});

test.serial('-vv logs the SSH handshake and each remote command, and nothing per packet', async (t) => {
  const before = (await cli(['logs', 'cbe'])).stdout.split('\n').length;
  t.is((await cli(['connect', 'cbe', '--config', lab.config, '-vv'])).exitCode, 0);
  try {
    const lines = (): string[] =>
      fs
        .readFileSync(logOf('cbe'), 'utf8')
        .trim()
        .split('\n')
        .slice(before - 1);
    const up = lines();
    t.true(
      up.some((l) => / cbe debug ssh root@10\.215\.0\.2:22: .*Handshake completed/.test(l)),
      'the handshake',
    );
    t.true(
      up.some((l) => / cbe debug remote: .*ip .*: exit 0, \d+ ms/.test(l)),
      'remote commands with their exit and time',
    );
    t.is((await run('ping', ['-c', '50', '-i', '0.01', '-W', '2', '10.215.9.2'])).exitCode, 0);
    const flows = lines().slice(up.length);
    t.true(flows.length <= 2, `at most the new flow's line for 50 packets: ${flows.join('\n')}`);
  } finally {
    t.is((await cli(['disconnect', 'cbe'])).exitCode, 0);
  }
  const plain = (await cli(['logs', 'cbe'])).stdout.split('\n').length;
  t.is((await cli(['connect', 'cbe', '--config', lab.config])).exitCode, 0);
  t.is((await cli(['disconnect', 'cbe'])).exitCode, 0);
  const quiet = (await cli(['logs', 'cbe'])).stdout.split('\n').slice(plain - 1);
  t.false(
    quiet.some((l) => / debug /.test(l)),
    'no debug lines without -vv',
  );
  t.deepEqual(await leftovers(lab), []);
});
