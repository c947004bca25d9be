import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import {
  helperCommand,
  cliRoot,
  cliAs,
  inNs,
  labDown,
  labUp,
  leftovers,
  makeTestUser,
  processTree,
  removeTestFiles,
  rebootTakes,
  run,
  sudoEnv,
  userCopy,
  userOnly,
  type Lab,
  type TestUser,
} from './helpers.js';

// Privilege separation (docs/privsep.md), on a direct session: under sudo root starts the
// helper and drops to the user who ran it (the default, --privsep); installed, the helper
// serves a group's members, who connect without sudo at all.

type User = TestUser;
let lab: Lab;
const users: User[] = [];
/** The user who connects; the other is refused, or finds the environment taken. */
let user: User;
let other: User;
const GROUP = 'cbvgrp';
const SOCKET = '/run/cloudbridge/helper.sock';

async function makeUser(name: string): Promise<User> {
  const u = await makeTestUser(name);
  users.push(u);
  return u;
}

test.before(async () => {
  lab = await labUp('cbv', 219);
  user = await makeUser('cbvuser');
  other = await makeUser('cbvother');
});

test.after.always(async () => {
  if (lab) await labDown(lab);
  for (const u of users) await run('userdel', ['-r', u.name]);
  await run('groupdel', [GROUP]);
  removeTestFiles('cbv');
  fs.rmSync('/run/cloudbridge/cbv', { recursive: true, force: true });
});

/** The user's own copy of the lab's config, with `extra` lines added to the environment. */
function config(extra: string, who = user): string {
  return userCopy(lab, path.join(who.home, 'lab'), who, [[/\n {4}nat: true\n/, `\n    nat: true\n${extra}`]]);
}

/** The controller's pid, as status says to its user (root reads nothing a user's controller says). */
async function controllerPid(): Promise<number> {
  const st = await cliAs(user, ['status', 'cbv', '--json']);
  return (JSON.parse(st.stdout) as { pid: number }[])[0]!.pid;
}

test.serial('--privsep: the controller runs as the user with no capabilities, root only in the helper; all of it works', async (t) => {
  const cfg = config('    dns: { domains: [vpc.internal] }\n');
  const up = await cliRoot(['connect', 'cbv', '--config', cfg, '--privsep'], sudoEnv(user));
  t.is(up.exitCode, 0, up.stderr);
  const pid = await controllerPid();
  userOnly(t, pid, user);
  // a second controller for it, in the foreground: refused, and the first keeps its folder, journal and tunnel
  const again = await cliRoot(['connect', 'cbv', '--config', cfg, '--foreground'], sudoEnv(user));
  t.not(again.exitCode, 0);
  t.regex(again.stderr, /cbv is connected already/);
  t.is(fs.statSync('/run/cloudbridge/cbv').uid, user.uid);
  t.true(fs.existsSync('/run/cloudbridge/cbv/journal.json'));
  t.is(fs.statSync('/run/cloudbridge/cbv/journal.json').uid, user.uid, "the controller's journal is the user's");
  t.is(fs.statSync('/run/cloudbridge/_helper/cbv.json').uid, 0, "the helper's is root's");
  // root asks a user's controller nothing: it is up, and whose it is, and the user asks it the rest
  const asRoot = await cliRoot(['status', 'cbv', '--json']);
  t.is(asRoot.exitCode, 0, asRoot.stderr);
  t.deepEqual(JSON.parse(asRoot.stdout), [{ env: 'cbv', state: 'up', owner: user.name }]);
  t.regex(asRoot.stderr, new RegExp(`cbv: up, connected by ${user.name} \\(--privsep\\); its status is theirs`));
  t.is((await run('ping', ['-c', '1', '-W', '2', `${lab.net}.9.2`])).exitCode, 0, 'a routed address answers');
  const docker = await run('docker', ['-H', 'unix:///run/cloudbridge/cbv/docker.sock', 'version', '--format', '{{.Server.Version}}']);
  t.is(docker.exitCode, 0, docker.stderr);
  // split DNS: port 53 on loopback came from the helper, resolv.conf through it
  t.regex((await run('getent', ['hosts', 'db.vpc.internal'])).stdout, new RegExp(`^${lab.net.replace('.', '\\.')}\\.9\\.2\\s`));
  // /run emptied under it (a tmpfiles cleaner): the user cannot make a folder in root's, the helper claims it again for them
  fs.rmSync('/run/cloudbridge', { recursive: true, force: true });
  const back = await within(8000, async () => (await cliRoot(['status', 'cbv', '--json'], sudoEnv(user))).exitCode === 0);
  t.not(back, undefined, 'status answers again');
  t.log(`status answered again ${back} ms after /run/cloudbridge went`);
  t.is(fs.statSync('/run/cloudbridge/cbv').uid, user.uid, "the folder is the user's again");
  t.is(fs.statSync('/run/cloudbridge/cbv/journal.json').uid, user.uid);
  t.is(fs.statSync('/run/cloudbridge/_helper/cbv.json').uid, 0, "the helper's journal written again, root's");
  t.is((await cliRoot(['disconnect', 'cbv', '--config', cfg], sudoEnv(user))).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
  t.false(fs.existsSync('/run/cloudbridge'), 'root removed its folders');
});

/** Polls `gone` every 20 ms for up to `ms`: the time it took, or undefined. */
async function within(ms: number, gone: () => Promise<boolean>): Promise<number | undefined> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await gone()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

test.serial("root's status reads nothing a user's control socket says: a hostile one is up, and its user's", async (t) => {
  const dir = '/run/cloudbridge/cbfake';
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chownSync(dir, user.uid, user.gid);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // what a user's process on that socket could say to root, were root to ask
  const evil = `require('net').createServer((c) => c.end(JSON.stringify({ env: 'EVIL\\u001b]0;', pid: 1, state: 'up' }) + '\\n')).listen('${dir}/control.sock')`;
  const server = execa('runuser', ['-u', user.name, '--', process.execPath, '-e', evil], { reject: false });
  t.teardown(() => void server.kill());
  for (let i = 0; i < 100 && !fs.existsSync(`${dir}/control.sock`); i++) await new Promise((r) => setTimeout(r, 20));
  const st = await cliRoot(['status', 'cbfake', '--json']);
  t.is(st.exitCode, 0, st.stderr);
  t.deepEqual(JSON.parse(st.stdout), [{ env: 'cbfake', state: 'up', owner: user.name }]);
  t.notRegex(st.stdout + st.stderr, /EVIL/);
});

test.serial('--privsep: kill -9 of the controller: this host is clean within 1 s, and the next connect cleans the rest', async (t) => {
  const cfg = config('');
  t.is((await cliRoot(['connect', 'cbv', '--config', cfg, '--privsep'], sudoEnv(user))).exitCode, 0);
  process.kill(await controllerPid(), 'SIGKILL');
  const took = await within(3000, async () => {
    const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
    const rules = (await run('iptables-save', [])).stdout;
    return !/^\d+: cb-cbv[:@]/m.test(links) && !rules.includes('cloudbridge:cbv') && !fs.existsSync('/run/cloudbridge/_helper');
  });
  t.truthy(took !== undefined && took < 1000, `this host clean after ${took} ms`);
  const again = await cliRoot(['connect', 'cbv', '--config', cfg, '--privsep'], sudoEnv(user));
  t.is(again.exitCode, 0, again.stderr);
  t.is((await cliRoot(['disconnect', 'cbv', '--config', cfg], sudoEnv(user))).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('--privsep: kill -9 of the helper and the controller, then cleanup: nothing left on either host', async (t) => {
  const cfg = config('');
  t.is((await cliRoot(['connect', 'cbv', '--config', cfg, '--privsep'], sudoEnv(user))).exitCode, 0);
  const tree = processTree(await controllerPid());
  for (const p of tree) process.kill(p.pid, 'SIGKILL');
  await within(2000, async () => tree.every((p) => !fs.existsSync(`/proc/${p.pid}`)));
  t.true(fs.existsSync('/run/cloudbridge/_helper/cbv.json'), "the helper's journal stays for cleanup");
  t.notDeepEqual(await leftovers(lab), [], 'the rule and the remote side are still there');
  const clean = await cliRoot(['cleanup', 'cbv', '--config', cfg], sudoEnv(user));
  t.is(clean.exitCode, 0, clean.stderr);
  t.deepEqual(await leftovers(lab), []);
  t.false(fs.existsSync('/run/cloudbridge'));

  // a reboot in the middle instead: both journals go with /run; the server's steps are in the user's own boot record
  t.is((await cliRoot(['connect', 'cbv', '--config', cfg, '--privsep'], sudoEnv(user))).exitCode, 0);
  const record = path.join(user.home, '.local/state/cloudbridge/boot/cbv.json');
  t.is(fs.statSync(record).uid, user.uid, "the user's, written as them");
  const kept = (JSON.parse(fs.readFileSync(record, 'utf8')) as { applied: { apply: { side: string } }[] }).applied;
  t.true(kept.length > 0 && kept.every((s) => s.apply.side === 'remote'), "the server's steps alone: this host's are root's");
  await killAndReboot();
  t.true(
    (await leftovers(lab)).some((l) => l.startsWith('remote rule:')),
    "the server's rules outlived it",
  );
  // root's cleanup reads none of it: a process of the user's does, and undoes the server's steps over their SSH
  const after = await cliRoot(['cleanup', 'cbv', '--config', cfg], sudoEnv(user));
  t.is(after.exitCode, 0, after.stderr);
  t.regex(after.stderr, /cbv: a run cut short by a reboot left settings here and on the server; undoing them/);
  t.false(fs.existsSync(record), 'the record went');
  t.deepEqual(await leftovers(lab), []);
  // without a cleanup: the next connect, as the user, does it first, and the server's rules are not doubled
  t.is((await cliRoot(['connect', 'cbv', '--config', cfg, '--privsep'], sudoEnv(user))).exitCode, 0);
  const remoteRules = async (): Promise<number> =>
    (await inNs(lab.remoteNs, 'iptables-save', [])).stdout.split('\n').filter((l) => l.includes('cloudbridge')).length;
  const once = await remoteRules();
  await killAndReboot();
  const next = await cliRoot(['connect', 'cbv', '--config', cfg, '--privsep', '-v'], sudoEnv(user));
  t.is(next.exitCode, 0, next.stderr);
  t.regex(next.stderr, /a run cut short by a reboot left settings here and on the server; undoing them/);
  t.is(await remoteRules(), once);
  t.is((await cliRoot(['disconnect', 'cbv', '--config', cfg], sudoEnv(user))).exitCode, 0);
  t.false(fs.existsSync(record));
  t.deepEqual(await leftovers(lab), []);
});

/** kill -9 of the controller and everything under it, the helper too; then what a reboot takes here: the rule, the pins, /run. */
async function killAndReboot(): Promise<void> {
  const killed = processTree(await controllerPid());
  for (const p of killed) process.kill(p.pid, 'SIGKILL');
  await within(2000, async () => killed.every((p) => !fs.existsSync(`/proc/${p.pid}`)));
  await rebootTakes('cbv', { routesTo: `${lab.net}.`, runDir: '/run/cloudbridge' });
}

// Installed (cloudbridge install-helper): the host's one helper on a group's socket.

/** Runs `body` with the installed helper listening for GROUP, started as `install-helper`'s unit says, and stops it after. */
async function withInstalledHelper(body: () => Promise<void>): Promise<void> {
  const exec = await helperCommand(GROUP);
  const helper = execa(exec[0]!, exec.slice(1), { reject: false });
  try {
    for (let i = 0; i < 100 && !fs.existsSync(SOCKET); i++) await new Promise((r) => setTimeout(r, 20));
    await body();
  } finally {
    helper.kill('SIGTERM');
    await helper;
    fs.rmSync(SOCKET, { force: true });
  }
}

test.serial('installed helper: a member of its group connects without sudo, as themselves; others are refused; kill -9 is clean', async (t) => {
  await run('groupadd', [GROUP]);
  const member = user;
  await run('usermod', ['-aG', GROUP, member.name]);
  const cfg = config('', member);
  const otherCfg = config('', other);
  await withInstalledHelper(async () => {
    t.is((await run('stat', ['-c', '%U:%G %a', SOCKET])).stdout.trim(), `root:${GROUP} 660`);
    // not in the group: the kernel keeps them off the socket, and they are told what to do
    const refused = await cliAs(other, ['connect', 'cbv', '--config', otherCfg]);
    t.not(refused.exitCode, 0);
    t.regex(
      refused.stderr.trim(),
      /^cloudbridge: the cloudbridge helper \(\/run\/cloudbridge\/helper\.sock\) is for its group's members only: ask to be added, or use sudo$/,
    );
    // sudo's variables left over from root's shell (a script run under sudo) do not make a user root's agent
    const up = await cliAs(member, ['connect', 'cbv', '--config', cfg], ['SUDO_USER=root', 'SUDO_UID=0', 'SUDO_GID=0']);
    t.is(up.exitCode, 0, up.stderr);
    const st = await cliAs(member, ['status', 'cbv', '--json']);
    t.is(st.exitCode, 0, st.stderr);
    const pid = (JSON.parse(st.stdout) as { pid: number }[])[0]!.pid;
    for (const p of processTree(pid)) {
      t.deepEqual(p.uids, [member.uid, member.uid, member.uid, member.uid], p.cmd);
      t.is(p.capEff, '0000000000000000', p.cmd);
    }
    t.is((await run('ping', ['-c', '1', '-W', '2', `${lab.net}.9.2`])).exitCode, 0);
    t.is((await run('docker', ['-H', 'unix:///run/cloudbridge/cbv/docker.sock', 'ps'])).exitCode, 0);
    t.true(fs.existsSync(path.join(member.home, '.local/state/cloudbridge/cbv.log')), "the log is the user's");

    // in the group, but the environment is someone else's: not theirs to connect again or take down
    // (the helper refuses it too, should they get past these: test/unit/privsep.test.ts, the claim)
    await run('usermod', ['-aG', GROUP, other.name]);
    const taken = await cliAs(other, ['connect', 'cbv', '--config', otherCfg]);
    t.not(taken.exitCode, 0);
    t.regex(taken.stderr.trim(), /^cloudbridge: cbv is connected already$/);
    const stop = await cliAs(other, ['disconnect', 'cbv']);
    t.not(stop.exitCode, 0);
    t.regex(stop.stderr.trim(), /^cloudbridge: cbv was connected by uid \d+ \(--privsep\); only they, or root itself, may take it down$/);
    t.is((await cliAs(member, ['status', 'cbv', '--json'])).exitCode, 0, 'still up');

    t.is((await cliAs(member, ['disconnect', 'cbv'])).exitCode, 0);
    t.deepEqual(
      (await leftovers(lab)).filter((l) => !l.endsWith('helper.sock')),
      [],
    );

    // kill -9 of the controller: the helper's session ends, this host is clean within a second
    t.is((await cliAs(member, ['connect', 'cbv', '--config', cfg])).exitCode, 0);
    const again = (JSON.parse((await cliAs(member, ['status', 'cbv', '--json'])).stdout) as { pid: number }[])[0]!.pid;
    process.kill(again, 'SIGKILL');
    const took = await within(
      3000,
      async () =>
        !/^\d+: cb-cbv[:@]/m.test((await run('ip', ['-o', 'link', 'show'])).stdout) && !(await run('iptables-save', [])).stdout.includes('cloudbridge:cbv'),
    );
    t.truthy(took !== undefined && took < 1000, `clean after ${took} ms`);
    // the next connect, as the user, cleans the remote side and comes up
    const back = await cliAs(member, ['connect', 'cbv', '--config', cfg]);
    t.is(back.exitCode, 0, back.stderr);
    t.is((await cliAs(member, ['disconnect', 'cbv'])).exitCode, 0);
    t.deepEqual(
      (await leftovers(lab)).filter((l) => !l.endsWith('helper.sock')),
      [],
    );
  });
});
