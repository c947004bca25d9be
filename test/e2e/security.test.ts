import fs from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { cliRoot, cliAs, labDown, labUp, leftovers, makeTestUser, processTree, run, sudoEnv, userCopy, type Lab, removeTestFiles } from './helpers.js';

// Root acts for a user who ran sudo: whatever that user controls (their home, their config,
// what it names, their environment) must never steer root's file operations. Each case
// points cloudbridge at a file of root's through the user's files; each must fail in one
// line naming the path, and leave root's file as it was.

const NAME = 'cbsec';
let lab: Lab;
let user: { name: string; uid: number; gid: number; home: string };
const victims = '/etc/cloudbridge-sec-test';

test.before(async () => {
  lab = await labUp('cbs', 222);
  user = await makeTestUser(NAME);
  fs.mkdirSync(victims, { recursive: true, mode: 0o755 });
});

test.after.always(async () => {
  if (lab) await labDown(lab);
  await run('userdel', ['-r', NAME]);
  fs.rmSync(victims, { recursive: true, force: true });
  removeTestFiles('cbs');
  fs.rmSync('/run/cloudbridge/cbs', { recursive: true, force: true });
});

/** The user's own copy of the lab's config, with `extra` lines added to the environment. */
function config(extra: string, replace: [string | RegExp, string][] = []): string {
  return userCopy(lab, path.join(user.home, 'lab'), user, [[/\n {4}nat: true\n/, `\n    nat: true\n${extra}`], ...replace]);
}

/** As the user through sudo: refused in one line matching `cause`, nothing left on either host. */
async function refusedFor(t: ExecutionContext, args: string[], cause: RegExp, env: Record<string, string> = {}): Promise<void> {
  const r = await cliRoot(args, { ...sudoEnv(user), ...env });
  t.not(r.exitCode, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, cause);
  t.deepEqual(await leftovers(lab), []);
  t.false(fs.existsSync('/run/cloudbridge/cbs'), 'no runtime files left');
}

/** A root-only file with known content, to see that it stays as it is. */
function rootFile(name: string, mode = 0o600): { path: string; same: () => boolean } {
  const p = path.join(victims, name);
  fs.writeFileSync(p, `root's ${name}\n`, { mode });
  return { path: p, same: () => fs.readFileSync(p, 'utf8') === `root's ${name}\n` && fs.statSync(p).uid === 0 && (fs.statSync(p).mode & 0o777) === mode };
}

test.serial('--no-privsep: the user connects with their own copy of key and config, the controller root, acting as the user where it must', async (t) => {
  // under sudo the helper and a controller of the user's are the default (privsep.test.ts, and every case
  // below, which is why they meet the kernel's refusals); this is the other mode's baseline
  const cfg = config('');
  const up = await cliRoot(['connect', 'cbs', '--config', cfg, '--no-privsep'], sudoEnv(user));
  t.is(up.exitCode, 0, up.stderr);
  const pid = (JSON.parse((await cliRoot(['status', 'cbs', '--json'])).stdout) as { pid: number }[])[0]!.pid;
  t.is(processTree(pid)[0]!.uids[0], 0, 'the controller is root');
  t.is((await cliRoot(['disconnect', 'cbs', '--config', cfg], sudoEnv(user))).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('accept-new through a known_hosts symlink to a file the user may not write: refused, nothing created', async (t) => {
  const kh = path.join(user.home, 'lab/known_hosts.link');
  const target = path.join(victims, 'made-by-root');
  const cfg = config('', [[`knownHostsFile: ${path.join(user.home, 'lab/known_hosts')}`, `knownHostsFile: ${kh}\n    strictHostKeyChecking: accept-new`]]);
  fs.symlinkSync(target, kh);
  fs.lchownSync(kh, user.uid, user.gid);
  await refusedFor(t, ['connect', 'cbs', '--config', cfg], new RegExp(`^cloudbridge: cannot add the host key for \\S+ to ${kh}: EACCES$`));
  t.false(fs.existsSync(target), 'root made no file there');
  fs.rmSync(kh);
});

test.serial("tls: true with the user's tls directory a symlink to root's: no key written, no file given away", async (t) => {
  const key = rootFile('cbs.key');
  const tlsDir = path.join(user.home, '.config/cloudbridge/tls');
  fs.mkdirSync(path.dirname(tlsDir), { recursive: true });
  fs.symlinkSync(victims, tlsDir);
  for (const p of [path.join(user.home, '.config'), path.dirname(tlsDir)]) fs.chownSync(p, user.uid, user.gid);
  fs.lchownSync(tlsDir, user.uid, user.gid);
  const cfg = config('    forwards:\n      - { listen: 127.0.0.1:18444, to: 127.0.0.1:22, tls: true }\n');
  await refusedFor(t, ['connect', 'cbs', '--config', cfg], new RegExp(`could not make a self-signed certificate in ${tlsDir} `));
  t.true(key.same(), "root's key file is as it was");
  t.false(fs.existsSync(path.join(victims, 'cbs.crt')));
  fs.rmSync(path.join(user.home, '.config'), { recursive: true });
});

test.serial('a unix listen path through a symlink into a root folder, or in /tmp: refused, nothing removed', async (t) => {
  const file = rootFile('app.sock', 0o644);
  const link = path.join(user.home, 'run');
  fs.symlinkSync(victims, link);
  fs.lchownSync(link, user.uid, user.gid);
  const cfg = config(`    forwards:\n      - { listen: ${link}/app.sock, to: 127.0.0.1:22 }\n`);
  await refusedFor(
    t,
    ['connect', 'cbs', '--config', cfg],
    new RegExp(`${link}/app\\.sock: refusing to make a socket in ${link}: it must be a directory of cbsec's`),
  );
  t.true(file.same(), "root's file is still there, unchanged");
  fs.rmSync(link);
  const inTmp = config('    forwards:\n      - { listen: /tmp/cbs-app.sock, to: 127.0.0.1:22 }\n');
  await refusedFor(
    t,
    ['connect', 'cbs', '--config', inTmp],
    /\/tmp\/cbs-app\.sock: refusing to make a socket in \/tmp: it must be a directory of cbsec's, writable by no one else/,
  );
  t.false(fs.existsSync('/tmp/cbs-app.sock'));
});

test.serial("a unix listen path in the user's own directory is made with their rights and is theirs", async (t) => {
  const dir = path.join(user.home, 'sockets');
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.chownSync(dir, user.uid, user.gid);
  const cfg = config(`    forwards:\n      - { listen: ${dir}/ssh.sock, to: 127.0.0.1:22 }\n`);
  t.is((await cliRoot(['connect', 'cbs', '--config', cfg], sudoEnv(user))).exitCode, 0);
  const st = fs.statSync(`${dir}/ssh.sock`);
  t.true(st.isSocket());
  t.is(st.uid, user.uid);
  t.is(st.mode & 0o777, 0o600);
  t.is((await cliRoot(['disconnect', 'cbs', '--config', cfg], sudoEnv(user))).exitCode, 0);
  t.false(fs.existsSync(`${dir}/ssh.sock`));
  t.deepEqual(await leftovers(lab), []);
});

test.serial("root's key and root's agent are not the user's to use", async (t) => {
  // the lab's key is root's (0600 in a 0700 directory): named in the user's config, it cannot be read
  const cfg = config('', [[`${path.join(user.home, 'lab')}/id_ed25519`, `${lab.dir}/id_ed25519`]]);
  await refusedFor(t, ['connect', 'cbs', '--config', cfg], new RegExp(`no usable SSH identity for root@\\S+: ${lab.dir}/id_ed25519: EACCES`));
  // root's agent holds the right key; the user names its socket: the connection is made as the user, and refused
  const sock = path.join(lab.dir, 'root-agent.sock');
  const agent = await run('ssh-agent', ['-a', sock]);
  t.is(agent.exitCode, 0, agent.stderr);
  try {
    t.is((await run('ssh-add', [`${lab.dir}/id_ed25519`], { SSH_AUTH_SOCK: sock })).exitCode, 0);
    await refusedFor(
      t,
      ['connect', 'cbs', '--config', cfg, '--agent', sock],
      // the socket is in root's folder: the user cannot even reach it, and is told so
      new RegExp(`^cloudbridge: no usable SSH identity for root@\\S+: ${lab.dir}/id_ed25519: EACCES; the agent at ${sock} \\(EACCES, as cbsec\\)$`),
    );
  } finally {
    // the pid the agent printed: this one, and nothing else, goes
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1]);
    if (pid > 0) process.kill(pid, 'SIGTERM');
    fs.rmSync(sock, { force: true });
  }
});

test.serial('a config the user points at but may not read, or one others may write, is refused', async (t) => {
  const secret = rootFile('config.yaml');
  await refusedFor(t, ['connect', 'cbs', '--config', secret.path], new RegExp(`^cloudbridge: ${secret.path}: cannot read config: EACCES$`));
  const cfg = config('');
  fs.chmodSync(cfg, 0o666);
  await refusedFor(t, ['connect', 'cbs', '--config', cfg], /bad owner or permissions \(mode 0666, writable by others\)/);
  fs.chmodSync(cfg, 0o644);
  fs.chownSync(cfg, 65534, 65534);
  await refusedFor(t, ['connect', 'cbs', '--config', cfg], /bad owner or permissions \(owned by uid 65534\)/);
  fs.chownSync(cfg, user.uid, user.gid);
  fs.chmodSync(cfg, 0o600);
});

test.serial('a user the system does not know is refused, not taken for root', async (t) => {
  const r = await cliRoot(['connect', 'cbs', '--config', lab.config], { SUDO_USER: 'cb-no-such-user', SUDO_UID: '54321', SUDO_GID: '54321' });
  t.is(r.exitCode, 1);
  t.is(
    r.stderr.trim(),
    'cloudbridge: cannot find cb-no-such-user, who ran sudo, in the user database (getent passwd cb-no-such-user); refusing to act for them as root',
  );
});

test.serial('under sudo, CLOUDBRIDGE_RUN_DIR is ignored: a journal the user wrote is never replayed', async (t) => {
  const evil = path.join(user.home, 'evil');
  fs.mkdirSync(path.join(evil, 'cbs'), { recursive: true });
  // a "journal" whose undo, replayed by root, would run a command as root on the remote host (the lab's shares this filesystem)
  const replayed = path.join(victims, 'replayed');
  const journal = {
    env: 'cbs',
    pid: 1,
    applied: [{ title: 'x', apply: { side: 'remote', argv: ['true'] }, undo: { side: 'remote', argv: ['touch', replayed] } }],
    pending: [],
  };
  fs.writeFileSync(path.join(evil, 'cbs/journal.json'), JSON.stringify(journal));
  const r = await cliRoot(['cleanup', 'cbs', '--config', config('')], { ...sudoEnv(user), CLOUDBRIDGE_RUN_DIR: evil });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stderr.trim(), 'cbs: nothing to clean up');
  t.true(fs.existsSync(path.join(evil, 'cbs/journal.json')), 'the file was not touched');
  t.false(fs.existsSync(replayed), 'nothing of it was replayed');
  fs.rmSync(evil, { recursive: true });
});

/** A stand-in Docker daemon on a unix socket that answers /_ping and otherwise says nonsense. */
async function junkDaemon(sock: string): Promise<{ eventStreams: () => number; close: () => void }> {
  const http = await import('node:http');
  let streams = 0;
  fs.rmSync(sock, { force: true });
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/_ping')) return res.writeHead(200, { 'Content-Type': 'text/plain', 'Api-Version': '1.45' }).end('OK');
    if (req.url?.startsWith('/containers/json')) {
      const squat = {
        Id: 'abcabcabcabc',
        Labels: { 'cloudbridge.expose': '80', 'cloudbridge.expose.local': '0.0.0.0:18099' },
        NetworkSettings: { Networks: { n: { IPAddress: '10.222.9.2' } } },
      };
      return res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify([{ Id: 5 }, 'x', null, { Id: 'zz' }, squat]));
    }
    if (req.url?.startsWith('/containers/')) return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"Id": 7, "Name": {"x": 1}}');
    if (req.url?.startsWith('/events')) {
      streams++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      for (const line of [
        'not json',
        '{"id":7,"status":"start"}',
        '{"Actor":{"ID":{"x":1}},"Action":"start"}',
        'null',
        '[1,2]',
        '{"id":"abcabcabcabc","status":"start"}',
        '{"id":"../../x","status":"die"}',
      ])
        res.write(`${line}\n`);
      res.write('z'.repeat(2 << 20)); // a "line" of 2 MB without a newline
      setTimeout(() => res.end(), 300); // and the stream ends, as when the daemon restarts
      return;
    }
    res.writeHead(404).end('{"message":"page not found"}');
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return { eventStreams: () => streams, close: () => server.close() };
}

test.serial('junk from the docker daemon, SOCKS clients and the control socket: the controller stays up and says why', async (t) => {
  const sock = path.join(lab.dir, 'junk-docker.sock');
  const daemon = await junkDaemon(sock);
  const net = await import('node:net');
  const cfg = config('    socks: { listen: 127.0.0.1:18181 }\n', [[`remoteSocket: ${lab.dir}/docker.sock`, `remoteSocket: ${sock}, expose: labels`]]);
  try {
    const up = await cliRoot(['connect', 'cbs', '--config', cfg], sudoEnv(user));
    t.is(up.exitCode, 0, up.stderr);
    // the events stream ends: it is opened again (and the containers listed again)
    for (let i = 0; i < 100 && daemon.eventStreams() < 2; i++) await new Promise((r) => setTimeout(r, 100));
    t.true(daemon.eventStreams() >= 2, 'the watch reopened the stream');
    // SOCKS clients that speak nonsense, or half a handshake
    const junk = [
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      Buffer.from([5, 255]),
      Buffer.from([5, 1, 0, 5, 1, 0, 9, 1, 2]),
      Buffer.from([5, 1, 0, 5, 1, 0, 3, 200, 65]),
      Buffer.alloc(70_000, 5),
    ];
    const control = '/run/cloudbridge/cbs/control.sock';
    const lines = ['garbage\n', '{"cmd": 5}\n', '{"cmd":"down"', 'x'.repeat(10_000), `{"cmd":"status"}\n${'y'.repeat(1 << 20)}`];
    const send = (connect: () => Socket, bytes: Buffer | string): Promise<void> =>
      new Promise((resolve) => {
        const s = connect();
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.on('connect', () => {
          s.write(bytes);
          setTimeout(() => s.destroy(), 200);
        });
      });
    for (const b of junk) await send(() => net.connect(18181, '127.0.0.1'), b);
    for (const l of lines) await send(() => net.connect(control), l);
    // the controller is the user's (--privsep): they ask it, root reads nothing it says
    const st = await cliAs(user, ['status', 'cbs', '--json']);
    t.is(st.exitCode, 0, st.stderr);
    const status = (JSON.parse(st.stdout) as { state: string; exposeProblems: Record<string, string> }[])[0]!;
    t.is(status.state, 'up');
    t.regex(status.exposeProblems['abcabcabcabc'] ?? '', /0\.0\.0\.0:18099: labels may listen on loopback addresses only/);
    t.is((await cliRoot(['disconnect', 'cbs', '--config', cfg], sudoEnv(user))).exitCode, 0);
  } finally {
    daemon.close();
    await cliRoot(['disconnect', 'cbs', '--config', cfg], sudoEnv(user));
  }
  t.deepEqual(await leftovers(lab), []);
});
