import fs from 'node:fs';
import test from 'ava';
import {
  pauseHelper,
  restartHelper,
  cli,
  inNs,
  labDown,
  labUp,
  leftovers,
  logOf,
  removeTestFiles,
  run,
  RUN_DIR,
  sshdSessions,
  variantConfig,
  waitFor,
  type Lab,
} from './helpers.js';
import { EchoClient, makeBlob, startBlobServer } from './transfer.js';
import { fillUp } from '../fill.js';

/*
 * The faults of a developer's week, each timed: a laptop that slept, a
 * server that rebooted, a remote step that fails half way, a full state
 * folder, a clock jump. (Elsewhere: a killed sshd session, kill -9 of the
 * controller and on demand in faults.test; a full log folder, a docker
 * daemon that does not answer in errors.test; the runtime folder emptied in
 * tunnel.test; a host out of reach at disconnect in fullTunnel.test.)
 */

let lab: Lab;
/** deadAfter 3 (a lost session is noticed fast), docker off (nothing here needs it). */
let cfg = '';
/** The same with IPv6 tunnel addresses: IPv6 forwarding is a remote step after the IPv4 rules. */
let cfg6 = '';
const BLOB = '/tmp/cloudbridge-week-blob';
const DOCKER_OFF: [RegExp, string] = [/docker: \{ mode: socket[^\n]*/, 'docker: { mode: off }'];

test.before(async () => {
  removeTestFiles('cbw');
  lab = await labUp('cbw', 233);
  cfg = variantConfig(lab, 'week.yaml', [['mtu: 1500 }', 'mtu: 1500 }\n    deadAfter: 3'], DOCKER_OFF]);
  cfg6 = variantConfig(lab, 'week6.yaml', [['mtu: 1500 }', 'mtu: 1500, local6: "fd00:233:1::1", remote6: "fd00:233:1::2" }\n    deadAfter: 3'], DOCKER_OFF]);
  makeBlob(BLOB, 1);
});

test.after.always(async () => {
  await cli(['disconnect', 'cbw']);
  await run('umount', [RUN_DIR]);
  if (lab) await labDown(lab);
  fs.rmSync(BLOB, { force: true });
  removeTestFiles('cbw');
});

interface Status {
  state: string;
  pid: number;
  reconnects: number;
  lastError: string | null;
}

async function status(): Promise<Status> {
  return (JSON.parse((await cli(['status', 'cbw', '--json'])).stdout) as Status[])[0]!;
}

const isUp = async (): Promise<boolean> => (await status()).state === 'up';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pingOk = async (): Promise<boolean> => (await run('ping', ['-c', '1', '-W', '2', '10.233.1.2'])).exitCode === 0;
const remoteRules = async (): Promise<number> =>
  (await inNs(lab.remoteNs, 'iptables-save', [])).stdout.split('\n').filter((l) => l.includes('cloudbridge:cbw')).length;
const killSessions = async (): Promise<void> => {
  for (const pid of await sshdSessions(lab)) process.kill(pid, 'SIGKILL');
};
const sshdPid = (): number => Number(fs.readFileSync(`${lab.dir}/sshd.pid`, 'utf8'));
const startSshd = (): Promise<unknown> => inNs(lab.remoteNs, '/usr/sbin/sshd', ['-f', `${lab.dir}/sshd_config_tun`, '-E', `${lab.dir}/sshd_tun.log`]);
/** Moves the wall clock (date -s) by `seconds`; the monotonic clock goes on as it was. */
const jumpClock = (seconds: number): Promise<unknown> => run('date', ['-s', `@${(Date.now() / 1000 + seconds).toFixed(3)}`]);
/** Runs `args` in the remote sshd's own mount namespace (ip netns exec made it): what its sessions see, and nothing else does. */
const inSshdMounts = (args: readonly string[]): Promise<{ exitCode: number }> => run('nsenter', ['-t', String(sshdPid()), '-m', '--', ...args]);
const logText = (): string => fs.readFileSync(logOf('cbw'), 'utf8');

test.serial('a clock jump of an hour either way: the session stays, nothing reconnects', async (t) => {
  t.is((await cli(['connect', 'cbw', '--config', cfg])).exitCode, 0);
  let moved = 0;
  try {
    for (const seconds of [3600, -3600]) {
      await jumpClock(seconds);
      moved += seconds;
      // longer than deadAfter: a liveness check measured on the wall clock would have given up (or never would)
      await sleep(3500);
      t.like(await status(), { state: 'up', reconnects: 0 }, `after ${seconds > 0 ? 'forward' : 'back'}`);
      t.true(await pingOk());
    }
  } finally {
    await jumpClock(-moved);
  }
  t.notRegex(logText(), /reconnecting/);
});

test.serial('suspend and resume: the session is made again within seconds of waking, and an open connection carries on', async (t) => {
  const server = await startBlobServer(lab.behindNs, 9300, BLOB);
  const echo = await EchoClient.open('10.233.9.2', 9300);
  try {
    await echo.roundTrip('before', 5000);
    const { pid } = await status();
    // the laptop sleeps: nothing runs, its link is gone
    process.kill(pid, 'SIGSTOP');
    await run('ip', ['link', 'set', `cbh-${lab.name}`, 'down']);
    // meanwhile the server gives up on it: its session ends and the socket goes, the word lost on the dead link
    await killSessions();
    await inNs(lab.remoteNs, 'ss', ['-K', 'dst', '10.233.0.1', 'and', 'sport', '=', ':22']);
    await sleep(5000); // longer than deadAfter
    await run('ip', ['link', 'set', `cbh-${lab.name}`, 'up']);
    process.kill(pid, 'SIGCONT');
    const took = await waitFor('the session after waking', async () => {
      const s = await status();
      return s.state === 'up' && s.reconnects === 1;
    });
    t.log(`session made again ${took.toFixed(1)} s after waking (deadAfter 3)`);
    t.true(took < 8, `${took} s`);
    // the remote host kept its connection tracking: the connection goes on (a reset would do; a hang would not)
    await echo.roundTrip('after', 10_000);
  } finally {
    echo.close();
    server.kill();
  }
  t.regex(logText(), /session up again after [\d.]+s \(lost: SSH: read ECONNRESET\)/);
  t.is(await remoteRules(), 3, 'remote rules made again once, not doubled');
});

test.serial('the remote host rebooted (sshd gone a while, its tun, rules and forwarding with it): every remote step made again, once', async (t) => {
  const before = (await status()).reconnects;
  process.kill(sshdPid(), 'SIGTERM');
  await killSessions();
  await inNs(lab.remoteNs, 'sh', ['-c', 'iptables-save | grep -v cloudbridge | iptables-restore && sysctl -q -w net.ipv4.ip_forward=0']);
  await waitFor('the session to drop', async () => (await status()).state === 'connecting');
  await sleep(2000);
  await startSshd();
  const took = await waitFor('the session after the reboot', isUp);
  t.log(`session made again ${took.toFixed(1)} s after sshd was back (reconnect backoff)`);
  t.is((await status()).reconnects, before + 1);
  t.is(await remoteRules(), 3);
  t.is((await inNs(lab.remoteNs, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '1');
  t.true(await pingOk());
  // the lost session's undos found nothing to undo, and said nothing: gone is done
  t.notRegex(logText(), /could not undo/);
  t.is((await cli(['disconnect', 'cbw'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial(
  'a remote step that fails half way: connect fails with its first line, what it made is undone; on a reconnect it keeps this side and retries',
  async (t) => {
    // IPv4 forwarding on already, so the IPv4 NAT rules are made; then IPv6 forwarding fails on a read-only /proc/sys
    await inNs(lab.remoteNs, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    let readOnly = false;
    const setReadOnly = async (on: boolean): Promise<void> => {
      if (on === readOnly) return;
      const r = await inSshdMounts(on ? ['sh', '-c', 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys'] : ['umount', '/proc/sys']);
      t.is(r.exitCode, 0);
      readOnly = on;
    };
    try {
      await setReadOnly(true);
      const failed = await cli(['connect', 'cbw', '--config', cfg6]);
      t.is(failed.exitCode, 1);
      t.is(failed.stderr.trim().split('\n').at(-1), 'cloudbridge: remote IPv6 forwarding on: sysctl: permission denied on key "net.ipv6.conf.all.forwarding"');
      t.regex(logText(), /remote: masquerade for 10\.233\.1\.1\n.*\n.*\n.*session failed: remote IPv6 forwarding on/, 'made before it, then undone');
      t.deepEqual(await leftovers(lab), ['remote ip_forward is 1, was 0'], 'only what the test set');

      await setReadOnly(false);
      t.is((await cli(['connect', 'cbw', '--config', cfg6])).exitCode, 0);
      // the host comes back from a lost session with forwarding off and /proc/sys read-only
      await setReadOnly(true);
      await inNs(lab.remoteNs, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.forwarding=0']);
      await killSessions();
      await waitFor('the same failure on the reconnect', async () =>
        /^remote IPv6 forwarding on: sysctl: permission denied/.test((await status()).lastError ?? ''),
      );
      t.is((await status()).state, 'connecting', 'retrying');
      t.is(await remoteRules(), 0, "what the attempt made is undone, the lost session's rules too");
      t.regex((await run('ip', ['route', 'show', '10.233.9.0/24'])).stdout, /dev cb-cbw/, 'this side as it was');
      await setReadOnly(false);
      const took = await waitFor('the session once the step can be made', isUp);
      t.log(`session made again ${took.toFixed(1)} s after the remote host could take the step (reconnect backoff)`);
      t.is(await remoteRules(), 3);
    } finally {
      await setReadOnly(false);
    }
    t.is((await cli(['disconnect', 'cbw'])).exitCode, 0);
    await inNs(lab.remoteNs, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);
    t.deepEqual(await leftovers(lab), []);
  },
);

test.serial('a full state folder: no step is made unjournaled; the session waits for room, says why, and comes back; the journal stays whole', async (t) => {
  // the runtime tree on a small tmpfs of its own (the log's full disk: errors.test)
  fs.mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
  t.is((await run('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', RUN_DIR])).exitCode, 0);
  // the installed helper's socket is in that tree: it listens again on the new one (helper mode)
  await restartHelper();
  const filler = `${RUN_DIR}/filler`;
  const journal = `${RUN_DIR}/cbw/journal.json`;
  try {
    t.is((await cli(['connect', 'cbw', '--config', cfg])).exitCode, 0);
    t.is(fillUp(filler), 'ENOSPC');
    await killSessions();
    await waitFor('the journal to be refused', async () => /^could not write the step journal/.test((await status()).lastError ?? ''));
    t.is((await status()).lastError, `could not write the step journal ${journal} (ENOSPC): no change is made until it can be`);
    t.regex(logText(), /session failed: could not write the step journal/);
    t.notThrows(() => JSON.parse(fs.readFileSync(journal, 'utf8')) as unknown, 'whole');
    t.false(fs.existsSync(`${journal}.tmp`));
    t.regex((await run('ip', ['route', 'show', '10.233.9.0/24'])).stdout, /dev cb-cbw/, 'this side stays');
    fs.rmSync(filler);
    const took = await waitFor('the session once there is room', isUp);
    t.log(`session made again ${took.toFixed(1)} s after room was made (reconnect backoff)`);
    t.true(await pingOk());
    t.is((await cli(['disconnect', 'cbw'])).exitCode, 0);
  } finally {
    fs.rmSync(filler, { force: true });
    await pauseHelper();
    t.is((await run('umount', [RUN_DIR])).exitCode, 0, 'the small tmpfs goes');
    await restartHelper();
  }
  t.deepEqual(await leftovers(lab), []);
});

test.serial(
  'waking from a real sleep (the wall clock ahead, the monotonic one not): one round trip at once, and a dead connection is remade within seconds',
  async (t) => {
    // keepalives a hundred seconds apart: only the wake watch can notice in time
    const slow = variantConfig(lab, 'week-slow.yaml', [['mtu: 1500 }', 'mtu: 1500 }\n    deadAfter: 300'], DOCKER_OFF]);
    t.is((await cli(['connect', 'cbw', '--config', slow])).exitCode, 0);
    // connect returns ~10 ms after its last packet, whose ACK this kernel delays (40-200 ms); sent after the server
    // forgot the connection it would draw an RST, which a host that slept for minutes sent long before it slept
    await sleep(300);
    // while this host slept the server gave up on it: its session and socket gone, and no word of it (FIN, RST) got here
    const silence = ['OUTPUT', '-p', 'tcp', '--sport', '22', '-d', '10.233.0.1', '-j', 'DROP'];
    await inNs(lab.remoteNs, 'iptables', ['-I', ...silence]);
    await killSessions();
    await inNs(lab.remoteNs, 'ss', ['-K', 'dst', '10.233.0.1', 'and', 'sport', '=', ':22']);
    await inNs(lab.remoteNs, 'iptables', ['-D', ...silence]);
    await sleep(1000);
    t.like(await status(), { state: 'up', reconnects: 0 }, 'nothing here has noticed');
    // a suspend stops CLOCK_MONOTONIC: what the controller sees on waking is the wall clock two minutes on
    await jumpClock(120);
    let took: number;
    try {
      took = await waitFor('the session after waking', async () => (await status()).reconnects === 1 && (await isUp()));
    } finally {
      await jumpClock(-120);
    }
    t.log(`session made again ${took.toFixed(1)} s after waking (deadAfter 300)`);
    t.true(took < 10, `${took} s`);
    t.regex(logText(), /the host woke \(wall clock 1[12]\ds ahead of the monotonic one\): asking the session for a round trip/);
    t.is((await cli(['disconnect', 'cbw'])).exitCode, 0);
    t.deepEqual(await leftovers(lab), []);
  },
);
