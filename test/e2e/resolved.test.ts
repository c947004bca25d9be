import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa, type ResultPromise } from 'execa';
import { asActor, MODE, startHelper, CLI, dnsLeaving, labDown, labUp, leftovers, run, variantConfig, type Lab, removeTestFiles, type Ran } from './helpers.js';

// Split DNS on a systemd-resolved host, against a real systemd-resolved with
// a D-Bus of its own. The "client" lab's machine is a network namespace; in
// it, a mount namespace of its own (tmpfs over /run/systemd, an overlay over
// /etc whose /etc/resolv.conf is resolved's stub, as on Ubuntu) runs
// dbus-daemon and systemd-resolved (Debian's systemd-resolved package,
// unpacked by .ci/setup, not installed: installing it would take over this
// machine's own /etc/resolv.conf). The CLI runs in both namespaces (nsenter).

const RESOLVED = '/var/cache/cloudbridge-resolved/root';
// the system bus where everyone looks for it: sudo (and the helper after it) keep no DBUS_SYSTEM_BUS_ADDRESS
const BUS = 'unix:path=/run/dbus/system_bus_socket';
let lab: Lab;
let resolved: ResultPromise | undefined;
let dbusPid = 0;
let mnt = '';
let config = '';

test.before(async () => {
  lab = await labUp('cbr', 227, 'client');
  const w = path.join(lab.dir, 'resolved');
  fs.mkdirSync(`${w}/up`, { recursive: true });
  fs.mkdirSync(`${w}/work`, { recursive: true });
  fs.writeFileSync(
    `${w}/bus.conf`,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>${BUS}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_type="*"/></policy>
  <includedir>${RESOLVED}/usr/share/dbus-1/system.d</includedir>
</busconfig>
`,
  );
  const setup = [
    'set -e',
    'mount -t tmpfs tmpfs /run/systemd',
    'mount -t tmpfs tmpfs /run/dbus',
    // resolvectl on the PATH anyone has here, sudo's secure_path included (the helper runs it as root)
    `mount -t overlay overlay -o lowerdir=${RESOLVED}/usr/bin:/usr/bin /usr/bin`,
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${w}/up,workdir=${w}/work /etc`,
    // resolved runs as its own user, which the package's sysusers would have made
    'echo "systemd-resolve:x:990:990:resolve:/:/usr/sbin/nologin" >>/etc/passwd',
    'echo "systemd-resolve:x:990:" >>/etc/group',
    `dbus-daemon --config-file=${w}/bus.conf --fork --nopidfile --print-pid=3 3>${w}/dbus.pid`,
    'ln -sf /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf',
    `exec ${RESOLVED}/lib/systemd/systemd-resolved`,
  ].join('\n');
  resolved = execa('nsenter', [`--net=/var/run/netns/${lab.clientNs}`, 'unshare', '--mount', '--propagation', 'private', 'bash', '-c', setup], {
    reject: false,
    env: { DBUS_SYSTEM_BUS_ADDRESS: BUS },
  });
  for (let i = 0; i < 100 && !fs.existsSync(`/proc/${resolved.pid}/root/run/systemd/resolve/stub-resolv.conf`); i++)
    await new Promise((r) => setTimeout(r, 50));
  dbusPid = Number(fs.readFileSync(`${w}/dbus.pid`, 'utf8').trim());
  mnt = `/proc/${resolved.pid}/ns/mnt`;
  // the installed helper (helper mode) where resolved is, as on such a host
  if (MODE === 'helper') await startHelper(['nsenter', `--net=/var/run/netns/${lab.clientNs}`, `--mount=${mnt}`, '--']);
  config = variantConfig(lab, 'resolved.yaml', [[/(docker: \{ mode: socket, remoteSocket: [^ ]+ \}\n)/, '$1    dns: { domains: [vpc.internal] }\n']]);
});

test.after.always(async () => {
  await inNs(['node', CLI, 'disconnect', 'cbr']).catch(() => undefined);
  resolved?.kill();
  if (dbusPid) process.kill(dbusPid);
  if (lab) await labDown(lab);
  removeTestFiles('cbr');
});

/** A command on the lab's client machine, where resolved runs, with resolvectl on PATH. */
function inNs(argv: readonly string[]): Promise<Ran> {
  const here = ['nsenter', `--net=/var/run/netns/${lab.clientNs}`, `--mount=${mnt}`, '--'];
  // the CLI as the suite's mode runs it (as root, or as its user); resolvectl and the rest as root
  if (argv[0] === 'node') return asActor(process.execPath, argv.slice(1), {}, here);
  return run(here[0]!, [...here.slice(1), ...argv]);
}

const remoteQueries = async (): Promise<number> =>
  (JSON.parse((await inNs(['node', CLI, 'status', 'cbr', '--json'])).stdout) as { dns: { stats: { remote: number } } }[])[0]!.dns.stats.remote;

test.serial("resolvectl's per-link DNS: split names through the tunnel, others not, and nothing of ours left on disconnect", async (t) => {
  t.true(fs.readlinkSync(`/proc/${resolved!.pid}/root/etc/resolv.conf`).includes('/run/systemd/resolve/'), 'the stub, as on Ubuntu');
  const before = fs.readFileSync('/etc/resolv.conf', 'utf8');
  t.is((await inNs(['getent', 'hosts', 'db.vpc.internal'])).exitCode, 2, 'not known before');
  const up = await inNs(['node', CLI, 'connect', 'cbr', '--config', config, '-v']);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /systemd-resolved: vpc\.internal asked of 10\.227\.1\.2 on cb-cbr/);
  const link = (await inNs(['resolvectl', 'status', 'cb-cbr'])).stdout;
  t.regex(link, /DNS Servers: 10\.227\.1\.2/);
  t.regex(link, /DNS Domain: ~vpc\.internal/);
  t.regex(link, /-DefaultRoute/, 'only the routing domain goes there: other names keep their resolvers');
  const asked = await remoteQueries();
  t.is((await inNs(['getent', 'hosts', 'db.vpc.internal'])).stdout.trim().split(/\s+/)[0], '10.227.9.2', "resolved's stub asked the tunnel");
  t.true((await remoteQueries()) > asked, 'answered on the remote host');
  const q = await inNs(['resolvectl', 'query', 'db.vpc.internal']);
  t.regex(q.stdout, /10\.227\.9\.2 +-- link: cb-cbr/);
  const other = await remoteQueries();
  await inNs(['resolvectl', 'query', 'elsewhere.example']);
  t.is(await remoteQueries(), other, 'a name outside the split domains never reaches the tunnel');
  t.is((await inNs(['node', CLI, 'disconnect', 'cbr'])).exitCode, 0);
  t.notRegex((await inNs(['resolvectl', 'status'])).stdout, /cb-cbr|vpc\.internal/);
  t.is((await inNs(['getent', 'hosts', 'db.vpc.internal'])).exitCode, 2);
  t.is(fs.readFileSync('/etc/resolv.conf', 'utf8'), before, "this machine's own resolv.conf untouched");
  t.false(fs.existsSync('/run/systemd/test-system-bus'), 'the bus lives in the namespace only');
  t.deepEqual(await leftovers(lab), []);
});

test.serial('after kill -9 and cleanup, resolved holds nothing of ours', async (t) => {
  t.is((await inNs(['node', CLI, 'connect', 'cbr', '--config', config])).exitCode, 0);
  t.regex((await inNs(['resolvectl', 'status', 'cb-cbr'])).stdout, /DNS Domain: ~vpc\.internal/);
  const pid = (JSON.parse((await inNs(['node', CLI, 'status', 'cbr', '--json'])).stdout) as { pid: number }[])[0]!.pid;
  process.kill(pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  t.is((await inNs(['node', CLI, 'cleanup', 'cbr', '--config', config])).exitCode, 0);
  t.notRegex((await inNs(['resolvectl', 'status'])).stdout, /cb-cbr|vpc\.internal/);
  t.is((await inNs(['getent', 'hosts', 'db.vpc.internal'])).exitCode, 2);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('a full tunnel routes every name (~.) to the tunnel while it stands: none leaves by the LAN, and the LAN keeps its DNS after', async (t) => {
  const full = variantConfig(lab, 'resolved-full.yaml', [
    ['routes: [10.227.9.0/24]', 'routes: [default]'],
    [/docker: \{ mode: socket, remoteSocket: [^ ]+ \}\n/, 'docker: { mode: off }\n    dns: { domains: [vpc.internal] }\n'],
  ]);
  // the LAN's resolver, as DHCP would give it: the remote host's LAN address (nothing answers on its port 53, but the query leaves)
  t.is((await inNs(['resolvectl', 'dns', 'cbh-cbr', '10.227.0.2'])).exitCode, 0);
  const control = await dnsLeaving(lab.clientNs!, 'cbh-cbr', () => inNs(['resolvectl', 'query', '--cache=no', 'before.elsewhere.example']));
  t.true(
    control.some((l) => l.includes('10.227.0.2.53')),
    `the capture sees the LAN resolver asked before: ${control.join(' | ')}`,
  );
  const up = await inNs(['node', CLI, 'connect', 'cbr', '--config', full, '-v']);
  t.is(up.exitCode, 0, up.stderr);
  t.regex(up.stderr, /systemd-resolved: every name \(~\.\) on cb-cbr/);
  t.regex((await inNs(['resolvectl', 'status', 'cb-cbr'])).stdout, /DNS Domain: ~\. ~vpc\.internal/);
  const asked = await remoteQueries();
  const leaked = await dnsLeaving(lab.clientNs!, 'cbh-cbr', async () => {
    t.regex((await inNs(['resolvectl', 'query', 'db.vpc.internal'])).stdout, /10\.227\.9\.2 +-- link: cb-cbr/);
    await inNs(['resolvectl', 'query', '--cache=no', 'www.elsewhere.example']);
  });
  t.deepEqual(leaked, [], 'no DNS packet on the LAN');
  t.true((await remoteQueries()) >= asked + 2, 'both names were asked on the remote host');
  t.is((await inNs(['node', CLI, 'disconnect', 'cbr'])).exitCode, 0);
  const after = (await inNs(['resolvectl', 'status'])).stdout;
  t.notRegex(after, /cb-cbr|vpc\.internal|~\./);
  t.regex((await inNs(['resolvectl', 'dns', 'cbh-cbr'])).stdout, /10\.227\.0\.2/, "the LAN link's resolver is as it was");
  await inNs(['resolvectl', 'revert', 'cbh-cbr']);
  t.deepEqual(await leftovers(lab), []);
});
