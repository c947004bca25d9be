import fs from 'node:fs';
import test from 'ava';
import {
  rootConfig,
  AS_USER,
  theActor,
  cliRoot,
  cli,
  labDown,
  labUp,
  leftovers,
  logOf,
  run,
  RUN_DIR,
  sshdSessions as sshdSessionsOf,
  sudoEnv,
  userCopy,
  variantConfig,
  type Lab,
  removeTestFiles,
  waitFor,
} from './helpers.js';
import { EchoClient, download, makeBlob, startBlobServer } from './transfer.js';

let lab: Lab;
const BLOB = '/tmp/cloudbridge-faults-blob';
let blobSha = '';

interface Status {
  state: string;
  pid: number;
  reconnects: number;
  lastError: string | null;
  remoteDevice: string;
  /** Packets sent (on-demand idle counts them); the rest for a failure's message only. */
  stats?: { txPackets: number };
  dockerSocket?: unknown;
  docker?: unknown;
}

test.before(async () => {
  lab = await labUp('cbf', 217);
  blobSha = makeBlob(BLOB, 30);
});

test.after.always(async () => {
  await cli(['disconnect', 'cbf']);
  if (lab) await labDown(lab);
  fs.rmSync(BLOB, { force: true });
  removeTestFiles('cbf');
  fs.rmSync('/etc/systemd/system/cloudbridge-cbf.service', { force: true });
});

async function status(): Promise<Status> {
  const r = await cli(['status', 'cbf', '--json']);
  return (JSON.parse(r.stdout) as Status[])[0]!;
}

const sshdSessions = (): Promise<number[]> => sshdSessionsOf(lab);

async function pingOk(): Promise<boolean> {
  return (await run('ping', ['-c', '1', '-W', '1', `10.217.1.2`])).exitCode === 0;
}

async function cloudbridgeRules(): Promise<string[]> {
  return (await run('ip', ['netns', 'exec', lab.remoteNs, 'iptables-save'])).stdout.split('\n').filter((l) => l.includes('cloudbridge'));
}

test.serial('killing the sshd connection process mid-transfer: the tunnel comes back by itself, a live TCP connection carries on', async (t) => {
  t.is((await cli(['connect', 'cbf', '--config', lab.config])).exitCode, 0);
  const server = await startBlobServer(lab.behindNs, 9100, BLOB);
  const echo = await EchoClient.open('10.217.9.2', 9100);
  const abort = new AbortController();
  try {
    await echo.roundTrip('before', 5000);
    const transfer = download('10.217.9.2', 9100, abort.signal).then(
      (r) => (r.sha256 === blobSha ? 'complete' : 'corrupt'),
      () => 'cut',
    );
    await new Promise((r) => setTimeout(r, 200));
    const killed = await sshdSessions();
    t.not(killed, []);
    for (const pid of killed) process.kill(pid, 'SIGKILL');
    const took = await waitFor('reconnect', async () => (await status()).state === 'up' && (await status()).reconnects >= 1);
    t.log(`session made again ${took.toFixed(1)} s after sshd's session process was killed`);
    // the log says why and for how long
    t.regex(
      (await cli(['logs', 'cbf'])).stdout,
      /cbf warn {2}cbf: SSH.*; reconnecting\n(.*\n)*.* cbf info {2}cbf: session up again after \d+\.\ds \(lost: SSH/,
    );
    await echo.roundTrip('after', 30_000);
    // a fresh transfer after the reconnect is whole (and a stall fails here, not as a suite timeout)
    t.deepEqual(await download('10.217.9.2', 9100, AbortSignal.timeout(60_000)), { sha256: blobSha, bytes: 30 * 1024 * 1024 });
    // the interrupted one either finished intact or is still stalled (see README); never corrupt
    setTimeout(() => abort.abort(), 5000).unref();
    t.not(await transfer, 'corrupt');
  } finally {
    abort.abort();
    echo.close();
    server.kill();
  }
  const s = await status();
  t.is(s.reconnects, 1);
  t.truthy(s.lastError);
  t.true(await pingOk());
  t.is((await cloudbridgeRules()).length, 3, 'remote rules re-applied once, not doubled');
});

test.serial('kill -9 of the controller: connect again cleans up first, nothing doubled, nothing left after', async (t) => {
  const { pid } = await status();
  process.kill(pid, 'SIGKILL');
  await waitFor('the controller to die', async () => !fs.existsSync(`/proc/${pid}`));
  t.is((await cloudbridgeRules()).length, 3, 'the dead controller left its remote rules');
  const st = await cli(['status']);
  t.regex(st.stderr, /cbf: its controller died and left state behind: sudo cloudbridge cleanup cbf/);

  const again = await cli(['connect', 'cbf', '--config', lab.config, '-v']);
  t.is(again.exitCode, 0, again.stderr);
  t.regex(again.stderr, /cleanup: a previous controller for cbf died/);
  t.is((await cloudbridgeRules()).length, 3);
  t.is((await run('ip', ['route', 'show', '10.217.9.0/24'])).stdout.trim().split('\n').length, 1);
  t.is((await cli(['disconnect', 'cbf'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('cleanup undoes what a dead controller left when asked directly', async (t) => {
  t.is((await cli(['connect', 'cbf', '--config', lab.config])).exitCode, 0);
  process.kill((await status()).pid, 'SIGKILL');
  await waitFor('no controller', async () => (await cli(['status', '--json'])).stdout.trim() === '[]');
  const r = await cli(['cleanup', 'cbf', '--config', lab.config]);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stderr, /cbf: cleaned up/);
  t.deepEqual(await leftovers(lab), []);
  t.is((await cli(['cleanup', 'cbf', '--config', lab.config])).stderr, 'cbf: nothing to clean up');
});

test.serial(
  'on demand: no SSH until the first packet, gone again after the idle timeout (on the monotonic clock, whatever the wall clock does), local route kept',
  async (t) => {
    const cfg = variantConfig(lab, 'ondemand.yaml', [['    user: root', '    onDemand: true\n    idleTimeout: 3\n    user: root']]);
    // a connection of an earlier test still closing (FIN_WAIT, LAST_ACK) retransmits into the new tunnel's
    // routes and is a first packet; once (CI, helper mode) the session was connecting at once: wait them out
    const closing = async (): Promise<string> =>
      (await run('ss', ['-tanH', 'dst', '10.217.0.0/16'])).stdout
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('TIME-WAIT'))
        .join('; ');
    const waited = await waitFor('earlier connections to close', async () => (await closing()) === '', 5_000).catch(() => -1);
    if (waited < 0 || waited > 0.5) t.log(`waited ${waited} s for earlier connections to the lab to close: ${await closing()}`);
    const up = await cli(['connect', 'cbf', '--config', cfg]);
    t.teardown(async () => void (await cli(['disconnect', 'cbf'])));
    t.is(up.exitCode, 0, up.stderr);
    t.is((await status()).state, 'idle', fs.readFileSync(logOf('cbf'), 'utf8').split('\n').slice(-12).join('\n'));
    t.deepEqual(await sshdSessions(), []);
    t.regex((await run('ip', ['route', 'show', '10.217.9.0/24'])).stdout, /dev cb-cbf/);

    /** Waits for the idle teardown; once (a CI run on 2026-11-30) the session never went idle: should it again, say what kept it busy. */
    const idle = async (woke: Status, clock: string): Promise<void> => {
      let last = woke;
      const took = await waitFor('idle teardown', async () => (last = await status()).state === 'idle', 30_000).catch((err: Error) => {
        const log = fs.readFileSync(logOf('cbf'), 'utf8').split('\n').slice(-15).join('\n');
        throw new Error(`${err.message}; status: ${JSON.stringify({ stats: last.stats, dockerSocket: last.dockerSocket, docker: last.docker })}; log:\n${log}`);
      });
      // what was sent meanwhile keeps it up: the wake-up's packets, unless something else went out
      t.log(
        `idle ${took.toFixed(1)} s after waking, the wall clock ${clock} (idleTimeout 3); packets sent ${woke.stats?.txPackets} then, ${last.stats?.txPackets} at idle`,
      );
      // the wall clock's jump counts for nothing: neither at once (forward) nor in an hour (back)
      t.true(took > 1.5, `${took} s`);
    };
    const jumpClock = (seconds: number): Promise<unknown> => run('date', ['-s', `@${(Date.now() / 1000 + seconds).toFixed(3)}`]);

    // the first ping is held while the session is made, then answered
    const first = await run('ping', ['-c', '1', '-W', '15', '10.217.1.2']);
    t.is(first.exitCode, 0, first.stdout);
    const woke = await status();
    t.is(woke.state, 'up', JSON.stringify(woke));
    t.not(await sshdSessions(), []);
    await jumpClock(3600);
    try {
      await idle(woke, 'an hour on');
    } finally {
      await jumpClock(-3600);
    }
    await waitFor('sshd session gone', async () => (await sshdSessions()).length === 0, 10_000);
    t.deepEqual(await cloudbridgeRules(), []);
    t.is((await run('ip', ['-n', lab.remoteNs, '-o', 'link', 'show', 'type', 'tun'])).stdout.trim(), '');
    t.regex((await run('ip', ['route', 'show', '10.217.9.0/24'])).stdout, /dev cb-cbf/);

    // a docker client wakes it too
    const ps = await run('docker', ['-H', `unix://${RUN_DIR}/cbf/docker.sock`, 'ps']);
    t.is(ps.exitCode, 0, ps.stderr);
    const again = await status();
    t.is(again.state, 'up', JSON.stringify(again));
    await jumpClock(-3600);
    try {
      await idle(again, 'an hour back');
    } finally {
      await jumpClock(3600);
    }
    t.is((await cli(['disconnect', 'cbf'])).exitCode, 0);
    t.deepEqual(await leftovers(lab), []);
  },
);

test.serial('a user who is not root cannot steer the controller', async (t) => {
  // root's own controller, in every mode: its socket is what a user may not reach
  t.is((await cliRoot(['connect', 'cbf', '--config', rootConfig(lab)])).exitCode, 0);
  t.teardown(async () => void (await cliRoot(['disconnect', 'cbf'])));
  const sock = fs.statSync(`${RUN_DIR}/cbf/control.sock`);
  t.is(sock.mode & 0o777, 0o600);
  t.is(sock.uid, 0);
  const asNobody = (args: string[]): Promise<{ exitCode: number; stderr: string }> =>
    run('runuser', ['-u', 'nobody', '--', 'env', `CLOUDBRIDGE_RUN_DIR=${RUN_DIR}`, process.execPath, `${process.cwd()}/dist/src/cli/main.js`, ...args]);
  const st = await asNobody(['status', 'cbf']);
  t.is(st.exitCode, 1);
  t.is(st.stderr, 'cloudbridge: status needs root: the control socket is root-only (try: sudo cloudbridge status)');
  const down = await asNobody(['disconnect', 'cbf']);
  t.is(down.exitCode, 1);
  // it asks sudo itself, which wants a password; where the installed helper listens it is told the socket is not its own
  t.regex(down.stderr, /needs root|sudo: a (terminal|password) is required|the control socket is not yours to use/);
  // and a raw connection to the socket is refused by the kernel
  const raw = await run('runuser', [
    '-u',
    'nobody',
    '--',
    process.execPath,
    '-e',
    `require('net').connect('${RUN_DIR}/cbf/control.sock').on('error', (e) => { console.error(e.code); process.exit(3); })`,
  ]);
  t.is(raw.exitCode, 3);
  t.is(raw.stderr.trim(), 'EACCES');
  t.is(JSON.parse((await cliRoot(['status', 'cbf', '--json'])).stdout)[0].state, 'up');
  t.is((await cliRoot(['disconnect', 'cbf'])).exitCode, 0);

  // --control-user hands the socket to the user who ran sudo, and to no one else. Acting for
  // nobody, cloudbridge uses nobody's copy of the config and key (the lab's are root's).
  const nobody = { name: 'nobody', uid: 65534, gid: 65534 };
  const config = userCopy(lab, `${lab.dir}-nobody`, nobody);
  const up = await cliRoot(['connect', 'cbf', '--config', config, '--control-user'], sudoEnv(nobody));
  t.is(up.exitCode, 0, up.stderr);
  // a home that cannot take a boot record does not stop the session: it goes on without one, and says so
  t.regex(up.stderr, /warning: \/nonexistent cannot be written: a reboot mid-run would leave the server's steps \(no boot record\)/);
  t.is(fs.statSync('/run/cloudbridge/cbf/control.sock').uid, 65534);
  t.is(fs.statSync('/run/cloudbridge/cbf/control.sock').mode & 0o777, 0o600);
  const mine = await run('runuser', ['-u', 'nobody', '--', process.execPath, `${process.cwd()}/dist/src/cli/main.js`, 'status', 'cbf', '--json']);
  t.is(mine.exitCode, 0, mine.stderr);
  t.is((await cliRoot(['disconnect', 'cbf', '--config', config], sudoEnv(nobody))).exitCode, 0);
  t.false(fs.existsSync('/run/cloudbridge/cbf'));
  fs.rmSync(`${lab.dir}-nobody`, { recursive: true, force: true });
  t.deepEqual(await leftovers(lab), []);
});

test.serial("install-service: the unit's ExecStart keeps the tunnel up in the foreground; SIGTERM takes it down clean", async (t) => {
  // root writes its units where systemd reads them: no variable moves that for root
  const dir = '/etc/systemd/system';
  // an admin's command: root's own, or in the user modes as `sudo cloudbridge install-service` run by the user
  const inst = await cliRoot(['install-service', 'cbf', '--config', lab.config], AS_USER ? sudoEnv(theActor()) : {});
  t.is(inst.exitCode, 0, inst.stderr);
  const unit = fs.readFileSync(`${dir}/cloudbridge-cbf.service`, 'utf8');
  const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(' ');
  // run it as systemd would (the words here need no unquoting)
  const { execa } = await import('execa');
  const environment = Object.fromEntries(
    [...unit.matchAll(/^Environment=(.*)$/gm)].flatMap((m) => m[1]!.split(' ').map((kv) => kv.split('=') as [string, string])),
  );
  const service = execa(exec[0]!, exec.slice(1), { reject: false, env: environment });
  await waitFor('the service to come up', async () => {
    const r = await cli(['status', '--json']);
    return r.exitCode === 0 && r.stdout.includes('"state": "up"');
  });
  t.true(await pingOk());
  service.kill('SIGTERM'); // systemctl stop
  const ended = await service;
  t.is(ended.exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
  t.is((await cliRoot(['uninstall-service', 'cbf'])).exitCode, 0);
  t.false(fs.existsSync(`${dir}/cloudbridge-cbf.service`));
});
