import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { cliRoot, cli, labDown, labUp, leftovers, makeTestUser, run, sudoEnv, userCopy, variantConfig, type Lab, removeTestFiles } from './helpers.js';

// ProxyCommand with real commands: busybox's nc carries the connection to the lab's sshd,
// run by a shell as the invoking user; a command that fails or goes away mid-session.

const NAME = 'cbproxy';
let lab: Lab;
let user: { name: string; uid: number; gid: number; home: string };

test.before(async () => {
  lab = await labUp('cbp', 225);
  user = await makeTestUser(NAME);
});

test.after.always(async () => {
  await cli(['disconnect', 'cbp']);
  if (lab) await labDown(lab);
  await run('userdel', ['-r', NAME]);
  removeTestFiles('cbp');
  fs.rmSync('/run/cloudbridge/cbp', { recursive: true, force: true });
});

/** The lab's environment with an ssh_config whose target is reached through `command`. */
function withProxy(command: string): string {
  const sshConfig = path.join(lab.dir, 'ssh_config_proxy');
  fs.writeFileSync(sshConfig, `Host ${lab.net}.0.2\n  ProxyCommand ${command}\n`);
  return variantConfig(lab, 'proxy.yaml', [[`knownHostsFile: ${lab.dir}/known_hosts`, `knownHostsFile: ${lab.dir}/known_hosts\n    sshConfig: ${sshConfig}`]]);
}

async function status(): Promise<{ state: string; reconnects: number }> {
  return (JSON.parse((await cli(['status', 'cbp', '--json'])).stdout) as { state: string; reconnects: number }[])[0]!;
}

test.serial('ProxyCommand carries the connection (busybox nc %h %p); the dry run names it', async (t) => {
  const cfg = withProxy('busybox nc %h %p');
  const plan = await cli(['connect', 'cbp', '--config', cfg, '--dry-run']);
  t.regex(plan.stdout, /through ProxyCommand busybox nc %h %p/);
  const up = await cli(['connect', 'cbp', '--config', cfg]);
  t.is(up.exitCode, 0, up.stderr);
  t.is((await run('ping', ['-c', '1', '-W', '2', `${lab.net}.1.2`])).exitCode, 0);
  t.regex((await run('pgrep', ['-af', `busybox nc ${lab.net}.0.2 22`])).stdout, /busybox nc/);
  const st = JSON.parse((await cli(['status', 'cbp', '--json'])).stdout) as { datapath: unknown }[];
  t.deepEqual(st[0]!.datapath, { outbound: 'c', inbound: 'c' }, "the command's end is a socket pair: the C path, as direct");
  t.is((await cli(['disconnect', 'cbp'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
  t.is((await run('pgrep', ['-f', `busybox nc ${lab.net}.0.2 22`])).exitCode, 1, 'the command went with the session');
});

test.serial('when the command goes away mid-session, the session is lost and made again, as any other loss', async (t) => {
  t.is((await cli(['connect', 'cbp', '--config', withProxy('busybox nc %h %p')])).exitCode, 0);
  t.is((await run('pkill', ['-f', `busybox nc ${lab.net}.0.2 22`])).exitCode, 0);
  const end = Date.now() + 30_000;
  let s = await status();
  while (Date.now() < end && !(s.state === 'up' && s.reconnects >= 1)) {
    await new Promise((r) => setTimeout(r, 250));
    s = await status();
  }
  t.is(s.state, 'up');
  t.true(s.reconnects >= 1);
  t.is((await run('ping', ['-c', '1', '-W', '2', `${lab.net}.1.2`])).exitCode, 0);
  t.is((await cli(['disconnect', 'cbp'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('a ProxyCommand that fails: one line with its exit and what it said, nothing left', async (t) => {
  const r = await cli(['connect', 'cbp', '--config', withProxy("sh -c 'echo no route to bastion >&2; exit 3'")]);
  t.not(r.exitCode, 0);
  t.regex(r.stderr.trim(), /^cloudbridge: ProxyCommand for 10\.225\.0\.2 \(sh -c 'echo no route to bastion >&2; exit 3'\) exited with 3: no route to bastion$/);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('the command runs as the user who ran sudo, never as root', async (t) => {
  const marker = `/tmp/cb-proxy-uid-${process.pid}`;
  fs.rmSync(marker, { force: true });
  const dir = path.join(user.home, 'lab');
  const cfg = userCopy(lab, dir, user);
  fs.writeFileSync(path.join(dir, 'ssh_config'), `Host ${lab.net}.0.2\n  ProxyCommand sh -c 'id -u > ${marker}; exec busybox nc %h %p'\n`);
  fs.chownSync(path.join(dir, 'ssh_config'), user.uid, user.gid);
  fs.writeFileSync(
    cfg,
    fs.readFileSync(cfg, 'utf8').replace(`knownHostsFile: ${dir}/known_hosts`, `knownHostsFile: ${dir}/known_hosts\n    sshConfig: ${dir}/ssh_config`),
  );
  const up = await cliRoot(['connect', 'cbp', '--config', cfg], sudoEnv(user));
  t.is(up.exitCode, 0, up.stderr);
  t.is(fs.readFileSync(marker, 'utf8').trim(), String(user.uid));
  t.is((await cliRoot(['disconnect', 'cbp'], sudoEnv(user))).exitCode, 0);
  fs.rmSync(marker, { force: true });
  t.deepEqual(await leftovers(lab), []);
});
