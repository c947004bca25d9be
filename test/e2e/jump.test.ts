import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  AS_USER,
  asActor,
  MODE,
  own,
  cliRoot,
  cli,
  cliAs,
  labDown,
  labUp,
  leftovers,
  makeTestUser,
  run,
  RUN_DIR,
  sshdSessions,
  sudoEnv,
  userCopy,
  userOnly,
  type Lab,
  type TestUser,
  removeTestFiles,
} from './helpers.js';
import { download, makeBlob, startBlobServer, upload } from './transfer.js';

let lab: Lab;
const agentDir = '/tmp/ssh-cloudbridge-e2e';
const agentSock = `${agentDir}/agent.1`;
let agentPid = 0;

test.before(async () => {
  // both sshds renew their keys every 16 MB: the jump process's relay must carry on through it
  lab = await labUp('cbj', 218, 'jump', { rekeyLimit: '16M' });
});

test.after.always(async () => {
  await cli(['disconnect', 'cbj']);
  await run('userdel', ['-r', USER]);
  if (agentPid) process.kill(agentPid);
  fs.rmSync(agentDir, { recursive: true, force: true });
  if (lab) await labDown(lab);
  removeTestFiles('cbj');
});

function rewriteSshConfig(file: string, edit: (text: string) => string): string {
  const out = `${lab.dir}/${file}`;
  fs.writeFileSync(out, edit(fs.readFileSync(`${lab.dir}/ssh_config`, 'utf8')));
  fs.writeFileSync(`${lab.dir}/${file}.yaml`, fs.readFileSync(lab.config, 'utf8').replace(`${lab.dir}/ssh_config`, out));
  return `${lab.dir}/${file}.yaml`;
}

async function upAndDown(t: ExecutionContext, config: string, extra: string[] = [], env: Record<string, string> = {}): Promise<void> {
  const up = await cli(['connect', 'cbj', '--config', config, ...extra], env);
  t.is(up.exitCode, 0, up.stderr);
  const ps = await run('docker', ['-H', `unix://${RUN_DIR}/cbj/docker.sock`, 'ps']);
  t.is(ps.exitCode, 0, ps.stderr);
  t.regex(ps.stdout, /CONTAINER ID/);
  const down = await cli(['disconnect', 'cbj']);
  t.is(down.exitCode, 0, down.stderr);
  t.deepEqual(await leftovers(lab), []);
  t.deepEqual(await sshdSessions({ ...lab, remoteNs: 'cb-cbj-j' }), [], 'no session left on the jump host');
}

test.serial("this host has no path of its own into the target's network (a route lookup, no packets)", async (t) => {
  // Only the jump host's network is attached here; the target's lies behind it.
  const lookup = await run('ip', ['-o', 'route', 'get', '10.218.5.2']);
  t.notRegex(lookup.stdout, /dev cbh-cbj/);
  t.regex((await run('ip', ['-o', 'route', 'get', '10.218.0.2'])).stdout, /dev cbh-cbj/);
});

test.serial('connect through a ProxyJump chain configured only in ssh_config; docker ps answers', async (t) => {
  t.notRegex(fs.readFileSync(lab.config, 'utf8'), /user:|identityFile|knownHostsFile/);
  const up = await cli(['connect', 'cbj', '--config', lab.config, '-v']);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /ssh: connected to root@10\.218\.5\.2:22 via root@10\.218\.0\.2:22/);
  t.is((await run('ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.218.9.2'])).exitCode, 0);
  const st = JSON.parse((await cli(['status', 'cbj', '--json'])).stdout) as [{ host: string }];
  t.is(st[0].host, 'root@10.218.5.2:22 via root@10.218.0.2:22');
  t.is((await cli(['disconnect', 'cbj'])).exitCode, 0);
  await upAndDown(t, lab.config);
});

test.serial('keys only in an ssh-agent (no IdentityFile anywhere), found through sudo without SSH_AUTH_SOCK', async (t) => {
  const cfg = rewriteSshConfig('ssh_config_agent', (s) => s.replace(/^\s*IdentityFile .*\n/gm, ''));
  t.notRegex(fs.readFileSync(`${lab.dir}/ssh_config_agent`, 'utf8'), /IdentityFile/);
  // no agent yet: nothing to offer
  // no keys in a home: root's moved to none; the mode's user has none in theirs
  const without = await cli(['connect', 'cbj', '--config', cfg], AS_USER ? {} : { HOME: '/nonexistent' });
  t.is(without.exitCode, 1);
  t.regex(without.stderr, /no usable SSH identity for root@10\.218\.0\.2:22/);

  // where OpenSSH's ssh-agent puts its socket, as the user who ran sudo
  fs.mkdirSync(agentDir, { recursive: true, mode: 0o700 });
  own(agentDir);
  const agent = await asActor('ssh-agent', ['-a', agentSock]);
  agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)![1]);
  t.is((await asActor('ssh-add', [`${lab.dir}/id_ed25519`], { SSH_AUTH_SOCK: agentSock })).exitCode, 0);
  await upAndDown(t, cfg, ['--agent', agentSock]);
  // sudo drops SSH_AUTH_SOCK: the invoking user's agent socket is found anyway (root's own, or the
  // sudo mode's user's through the CLI's own sudo); a helper group's member runs no sudo to lose it
  if (MODE !== 'helper') await upAndDown(t, cfg, [], AS_USER ? {} : { SUDO_USER: 'root', SUDO_UID: '0', SUDO_GID: '0' });

  // ssh_config's IdentityAgent, as 1Password writes it (a folder with a space), comes before --agent and $SSH_AUTH_SOCK
  const vault = `${agentDir}/Group Containers/2BUA8C4S2C.com.1password/t/agent.sock`;
  await asActor('mkdir', ['-p', '-m', '700', path.dirname(vault)]);
  const op = await asActor('ssh-agent', ['-a', vault]);
  const opPid = Number(/SSH_AGENT_PID=(\d+)/.exec(op.stdout)![1]);
  t.teardown(() => process.kill(opPid));
  t.is((await asActor('ssh-add', [`${lab.dir}/id_ed25519`], { SSH_AUTH_SOCK: vault })).exitCode, 0);
  const keyless = (s: string): string => s.replace(/^\s*IdentityFile .*\n/gm, '');
  const named = rewriteSshConfig('ssh_config_vault', (s) => `IdentityAgent "${vault}"\n${keyless(s)}`);
  await upAndDown(t, named, ['--agent', `${agentDir}/no-such.sock`], { SSH_AUTH_SOCK: `${agentDir}/no-such.sock` });
  // IdentityAgent none: no agent at all, though one is named and running
  const none = await cli([
    'connect',
    'cbj',
    '--config',
    rewriteSshConfig('ssh_config_noagent', (s) => `IdentityAgent none\n${keyless(s)}`),
    '--agent',
    agentSock,
  ]);
  t.is(none.exitCode, 1);
  t.regex(none.stderr, /no usable SSH identity/);
});

test.serial('IdentitiesOnly: the agent is asked only for the keys IdentityFile names, and a .pub names one', async (t) => {
  // the agent (from the test before) holds the lab's key; now also one sshd does not know
  const other = `${agentDir}/other`;
  t.is((await asActor('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other])).exitCode, 0);
  t.is((await asActor('ssh-add', [other], { SSH_AUTH_SOCK: agentSock })).exitCode, 0);
  const naming = (file: string, pub: string, only: boolean): string =>
    rewriteSshConfig(file, (s) => s.replace(/^(\s*)IdentityFile .*$/gm, `$1IdentityFile ${pub}${only ? '\n$1IdentitiesOnly yes' : ''}`));

  // only the lab key's public half on disk: the agent signs with its copy
  await upAndDown(t, naming('ssh_config_pub', `${lab.dir}/id_ed25519.pub`, true), ['--agent', agentSock]);

  // the other key named: the lab key is in the agent too, but not offered
  const refused = await cli(['connect', 'cbj', '--config', naming('ssh_config_other', `${other}.pub`, true), '--agent', agentSock]);
  t.is(refused.exitCode, 1);
  t.regex(refused.stderr, /authentication as root on 10\.218\.0\.2:22 failed \(tried: agent \(the named keys\)\)/);
  t.deepEqual(await leftovers(lab), []);

  // without IdentitiesOnly the agent offers all it holds
  await upAndDown(t, naming('ssh_config_other_all', `${other}.pub`, false), ['--agent', agentSock]);
});

test.serial('hashed known_hosts entries are honoured', async (t) => {
  fs.copyFileSync(`${lab.dir}/known_hosts`, `${lab.dir}/known_hosts_hashed`);
  t.is((await run('ssh-keygen', ['-H', '-f', `${lab.dir}/known_hosts_hashed`])).exitCode, 0);
  t.regex(fs.readFileSync(`${lab.dir}/known_hosts_hashed`, 'utf8'), /^\|1\|/);
  t.notRegex(fs.readFileSync(`${lab.dir}/known_hosts_hashed`, 'utf8'), /10\.218/);
  // and ssh_config's algorithm lines, for both hops: what ssh2 negotiates with each sshd (-vv logs it)
  const cfg = rewriteSshConfig(
    'ssh_config_hashed',
    (s) =>
      `ConnectTimeout 5\nKexAlgorithms -curve25519*\nCiphers aes256-gcm@openssh.com\nMACs hmac-sha2-512,umac-128@openssh.com\n${s.replaceAll(`${lab.dir}/known_hosts`, `${lab.dir}/known_hosts_hashed`)}`,
  );
  await upAndDown(t, cfg, ['-vv']);
  const log = (await cli(['logs', 'cbj', '--since', '1m'])).stdout;
  t.notRegex(log, /KEX algorithm: curve25519/);
  t.regex(log, /KEX algorithm: (ecdh|diffie)/);
  t.regex(log, /C->S Cipher: aes256-gcm@openssh\.com/);
  t.regex(log, /ssh_config MACs for .*: cloudbridge does not speak umac-128@openssh\.com \(left out\)/);
});

/** The jump processes (cli/hop.ts) running now, as pids. */
async function jumpProcesses(): Promise<number[]> {
  return (await run('pgrep', ['-f', '/hop\\.js$'])).stdout.split('\n').filter(Boolean).map(Number);
}

test.serial('through a jump host the tunnel takes the C path; losing the jump process is a lost session, made again; kill -9 leaves none', async (t) => {
  t.is((await cli(['connect', 'cbj', '--config', lab.config])).exitCode, 0);
  const st = () =>
    cli(['status', 'cbj', '--json']).then((r) => (JSON.parse(r.stdout) as { pid: number; state: string; reconnects: number; datapath: unknown }[])[0]!);
  const first = await st();
  t.deepEqual(first.datapath, { outbound: 'c', inbound: 'c' }, 'the target session has a socket of its own (a socket pair)');
  const hops = await jumpProcesses();
  t.is(hops.length, 1);
  process.kill(hops[0]!, 'SIGKILL');
  let again = first;
  for (let i = 0; i < 80 && !(again.reconnects >= 1 && again.state === 'up'); i++) {
    await new Promise((r) => setTimeout(r, 250));
    again = await st();
  }
  t.is(again.state, 'up');
  t.true(again.reconnects >= 1);
  t.is((await run('ping', ['-c', '1', '-W', '2', '10.218.9.2'])).exitCode, 0);
  const [next] = await jumpProcesses();
  t.true(next !== undefined && next !== hops[0]);
  // the controller killed outright: its end of the socket pair closes, and the jump process goes
  process.kill(again.pid, 'SIGKILL');
  for (let i = 0; i < 40 && (await jumpProcesses()).length; i++) await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(await jumpProcesses(), []);
  t.is((await cli(['cleanup', 'cbj', '--config', lab.config])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
  t.deepEqual(await sshdSessions({ ...lab, remoteNs: 'cb-cbj-j' }), [], 'no session left on the jump host');
});

test.serial('50 MB each way through the jump process, identical, while both sshds renew their keys', async (t) => {
  const blob = `${lab.dir}/blob-50m`;
  const sha = makeBlob(blob, 50);
  const rekeys = (): number => (fs.readFileSync(`${lab.dir}/sshd_jump.log`, 'utf8').match(/SSH2_MSG_KEXINIT sent/g) ?? []).length;
  const before = rekeys();
  t.is((await cli(['connect', 'cbj', '--config', lab.config])).exitCode, 0);
  const server = await startBlobServer(lab.remoteNs, 9000, blob);
  try {
    t.is(await upload('10.218.1.2', 9000, blob), sha);
    t.deepEqual(await download('10.218.1.2', 9000), { sha256: sha, bytes: 50 * 1024 * 1024 });
  } finally {
    server.kill();
    fs.rmSync(blob, { force: true });
  }
  t.true(rekeys() - before >= 4, `the jump host's sshd renewed its keys ${rekeys() - before} times`);
  const st = JSON.parse((await cli(['status', 'cbj', '--json'])).stdout) as { reconnects: number; datapath: unknown }[];
  t.is(st[0]!.reconnects, 0, 'no session was lost on the way');
  t.deepEqual(st[0]!.datapath, { outbound: 'c', inbound: 'c' });
  t.is((await cli(['disconnect', 'cbj'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

// --privsep (docs/privsep.md): through a chain the jump process, and a ProxyCommand, are the user's too.
const USER = 'cbjuser';

const privsepUser = (): Promise<TestUser> => makeTestUser(USER);

/** Connects as the user with --privsep, checks who runs what, then takes it down: nothing left on either host or the jump host. */
async function asUserThrough(t: ExecutionContext, user: { name: string; uid: number; gid: number; home: string }, cfg: string, runs: RegExp): Promise<void> {
  const up = await cliRoot(['connect', 'cbj', '--config', cfg, '--privsep'], sudoEnv(user));
  t.is(up.exitCode, 0, up.stderr);
  // the controller is the user's: they ask it (root reads nothing it says)
  const pid = (JSON.parse((await cliAs(user, ['status', 'cbj', '--json'])).stdout) as { pid: number }[])[0]!.pid;
  const tree = userOnly(t, pid, user);
  t.true(
    tree.some((p) => runs.test(p.cmd)),
    `${runs} runs under the controller: ${tree.map((p) => p.cmd).join('; ')}`,
  );
  t.is((await run('ping', ['-c', '1', '-W', '2', '10.218.9.2'])).exitCode, 0);
  t.is((await run('docker', ['-H', `unix://${RUN_DIR}/cbj/docker.sock`, 'ps'])).exitCode, 0);
  t.is((await cliRoot(['disconnect', 'cbj', '--config', cfg], sudoEnv(user))).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
  t.deepEqual(await sshdSessions({ ...lab, remoteNs: 'cb-cbj-j' }), [], 'no session left on the jump host');
}

test.serial('--privsep through a ProxyJump chain, and through a ProxyCommand: each runs as the user with no capabilities', async (t) => {
  const user = await privsepUser();
  const dir = `${user.home}/lab`;
  const cfg = userCopy(lab, dir, user);
  await asUserThrough(t, user, cfg, /hop\.js$/);
  const key = `${dir}/id_ed25519`;
  const proxied = fs
    .readFileSync(`${dir}/ssh_config`, 'utf8')
    .replace(/ProxyJump .*/, `ProxyCommand ssh -q -i ${key} -o UserKnownHostsFile=${dir}/known_hosts -o BatchMode=yes -W %h:%p root@10.218.0.2`);
  fs.writeFileSync(`${dir}/ssh_config`, proxied);
  await asUserThrough(t, user, cfg, /^ssh -q -i /);
});
