import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { journalArgs } from '../../src/cli/journalLogs.js';
import { isLoopback } from '../../src/config/forwards.js';
import { exposeForwards } from '../../src/docker/labels.js';
import { unixPlan } from '../../src/forward/unixPath.js';
import { checkJournalOwner, readJournal, StepJournal } from '../../src/plan/apply.js';
import { checkEnvName } from '../../src/util/envName.js';
import { appendOwn, readOwn, writeOwn } from '../../src/util/ownFile.js';
import { envRunDir } from '../../src/util/paths.js';
import { logFile } from '../../src/util/log.js';
import { movedFolder } from '../../src/util/user.js';

// Issue 28's first class: root acting on what the caller chose. Each test here
// failed on the code before it (paths from unchecked names, env variables keyed
// on SUDO_UID, labels naming hosts, root binding in system folders).

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-rootpaths-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
const someone = { name: 'someone', uid: 65534, gid: 65534, home: '/nonexistent' };

test('an environment argument is a name before any path is made of it', (t) => {
  for (const bad of ['../../../home/u/x', '/../../../etc/x', 'a/b', '.', '..', '', 'A', 'x\ny', `${'a'.repeat(33)}`]) {
    t.throws(() => checkEnvName(bad), { message: /is not an environment name/ });
    t.throws(() => envRunDir(bad), { message: /is not an environment name/ });
    t.throws(() => logFile(bad), { message: /is not an environment name/ });
  }
  t.is(
    (() => {
      try {
        checkEnvName('x\u001b[2J');
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })(),
    '"x\\u001b[2J" is not an environment name (1-32 characters of a-z, 0-9, - and _, starting with a letter or digit)',
  );
  t.is(checkEnvName('staging-eu_1'), 'staging-eu_1');
});

test('folder variables move nothing for a process with root in it, however it got root', (t) => {
  const env = { CLOUDBRIDGE_RUN_DIR: '/home/u/evil' };
  t.is(movedFolder('CLOUDBRIDGE_RUN_DIR', env, { uid: 1000, euid: 1000 }), '/home/u/evil');
  t.is(movedFolder('CLOUDBRIDGE_RUN_DIR', env, { uid: 0, euid: 0 }), undefined, 'doas, su, sudo with SETENV: no SUDO_UID needed');
  t.is(movedFolder('CLOUDBRIDGE_RUN_DIR', { ...env, SUDO_UID: '1000' }, { uid: 0, euid: 0 }), undefined);
  t.is(movedFolder('CLOUDBRIDGE_RUN_DIR', env, { uid: 1000, euid: 0 }), undefined, 'a setuid root process');
  t.is(movedFolder('CLOUDBRIDGE_RUN_DIR', env, { uid: 0, euid: 1000 }), undefined);
  t.is(movedFolder('CLOUDBRIDGE_LOG_DIR', env, { uid: 1000, euid: 1000 }), undefined);
});

test("root's own files: never through a link, never someone else's, never writable by others", (t) => {
  const dir = path.join(tmp, 'own');
  fs.mkdirSync(dir, { mode: 0o755 });
  const file = path.join(dir, 'journal.json');
  writeOwn(file, '{"env":"x","pid":1,"applied":[],"pending":[]}\n');
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  t.false(fs.existsSync(`${file}.tmp`), 'written whole: the temporary file was renamed');
  t.like(readJournal(file), { env: 'x' });
  t.is(readOwn(path.join(dir, 'none')), undefined);
  // a link in our folder, to a file of someone else's
  const target = path.join(tmp, 'shadow');
  fs.writeFileSync(target, 'secret\n', { mode: 0o600 });
  const link = path.join(dir, 'x.log');
  fs.symlinkSync(target, link);
  t.throws(() => readOwn(link), { message: `${link} is a symbolic link; refusing to follow it` });
  t.throws(() => appendOwn(link), { message: /is a symbolic link/ });
  t.throws(() => readJournal(link), { message: /is a symbolic link/ });
  fs.rmSync(link);
  // owned by another user, or writable by others
  const theirs = path.join(dir, 'theirs.log');
  fs.writeFileSync(theirs, 'forged\n', { mode: 0o644 });
  fs.chownSync(theirs, 65534, 65534);
  t.throws(() => readOwn(theirs), { message: new RegExp(`^${theirs} is owned by uid 65534, not 0; refusing to use it$`) });
  const open = path.join(dir, 'open.log');
  fs.writeFileSync(open, '', { mode: 0o600 });
  fs.chmodSync(open, 0o666);
  t.throws(() => appendOwn(open), { message: /is writable by others \(mode 0666\)/ });
  // a folder of someone else's
  const foreign = path.join(tmp, 'foreign');
  fs.mkdirSync(foreign);
  fs.chownSync(foreign, 65534, 65534);
  t.throws(() => writeOwn(path.join(foreign, 'journal.json'), '{}'), { message: new RegExp(`^${foreign} is owned by uid 65534`) });
});

test("a user's unix listen path: in a directory of theirs, never in a system folder", (t) => {
  for (const p of ['/dev/log', '/run/dbus/system_bus_socket', '/var/run/docker.sock', '/tmp/app.sock', '/app.sock']) {
    t.throws(() => unixPlan(p, someone), { message: /refusing to make a socket in .*: it must be a directory of someone's, writable by no one else$/ }, p);
  }
  const mine = path.join(tmp, 'someones');
  fs.mkdirSync(mine, { mode: 0o700 });
  fs.chownSync(mine, someone.uid, someone.gid);
  t.deepEqual(unixPlan(path.join(mine, 'a.sock'), someone), { binder: 'user', path: path.join(mine, 'a.sock') });
  fs.chmodSync(mine, 0o770);
  t.throws(() => unixPlan(path.join(mine, 'a.sock'), someone), { message: /writable by no one else/ }, 'group-writable');
  // root acting for itself keeps its own folders
  t.is(unixPlan('/run/cb-test.sock', { ...someone, name: 'root', uid: 0, gid: 0 }).binder, 'root');
});

test('labels name loopback IP literals only: a host name is refused, whatever it looks like', (t) => {
  for (const local of ['127.evil.example:18080', 'localhost:18080', '127.0.0.1.nip.io:18080', '0x7f.1:18080']) {
    const r = exposeForwards({ 'cloudbridge.expose': '80', 'cloudbridge.expose.local': local }, '172.17.0.2');
    t.true(typeof r === 'string' && /labels name an IP address, not a host name|not HOST:PORT/.test(r), `${local}: ${JSON.stringify(r)}`);
  }
  t.is(
    exposeForwards({ 'cloudbridge.expose': '80', 'cloudbridge.expose.local': '127.0.0.1:80' }, '172.17.0.2'),
    'cloudbridge.expose.local: 127.0.0.1:80: labels may listen on ports from 1024 only (allow lower with docker.exposeLowPorts)',
  );
  const ok = exposeForwards({ 'cloudbridge.expose': '80,81', 'cloudbridge.expose.local': '127.0.0.2:18080,[::1]:18081' }, '172.17.0.2');
  t.deepEqual(typeof ok === 'string' ? ok : ok.map((f) => f.name), ['127.0.0.2:18080', '[::1]:18081']);
  t.false(isLoopback('127.evil.example'));
  t.false(isLoopback('localhost'));
  t.true(isLoopback('127.3.2.1'));
  t.true(isLoopback('0:0:0:0:0:0:0:1'));
});

test("logs from the journal: root's entries and the asking user's only (_UID), so no other user can forge a line", (t) => {
  t.deepEqual(journalArgs({}), ['--no-pager', '-o', 'json', 'SYSLOG_IDENTIFIER=cloudbridge', '_UID=0']);
  t.true(journalArgs({ follow: true, pid: 7 }).includes('_UID=0'));
  // a --privsep controller's lines carry its user's uid: the user who ran sudo sees them
  t.deepEqual(journalArgs({ user: 1001 }).slice(-2), ['_UID=0', '_UID=1001']);
  t.deepEqual(journalArgs({ user: 0 }).slice(-1), ['_UID=0']);
});

test("another user's environment is theirs: the journal names its owner and its host", (t) => {
  const file = path.join(tmp, 'owned.json');
  const j = new StepJournal(file, 'stg', { owner: { uid: 1000, name: 'ann' }, target: 'root@10.0.0.2:22' });
  j.begin();
  const record = readJournal(file);
  t.like(record, { env: 'stg', owner: { uid: 1000, name: 'ann' }, target: 'root@10.0.0.2:22', applied: [] });
  t.notThrows(() => checkJournalOwner(record, 'stg', { uid: 1000 }));
  t.notThrows(() => checkJournalOwner(record, 'stg', { uid: 0 }), 'root itself, without sudo');
  t.throws(() => checkJournalOwner(record, 'stg', { uid: 1001 }), {
    message: 'stg was connected by ann (uid 1000); only they, or root itself, may take it down',
  });
  const old = { env: 'stg', pid: 1, applied: [], pending: [] };
  t.throws(() => checkJournalOwner(old, 'stg', { uid: 1000 }), { message: /an older cloudbridge, with no owner recorded/ });
});
