import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadAddon } from '../../src/native/addon.js';
import type { Action } from '../../src/plan/steps.js';
import { readJournal } from '../../src/plan/apply.js';
import type { HostPath, KernelView } from '../../src/helper/policy.js';
import { serve, type HelperDeps, type Reply } from '../../src/helper/session.js';

// The helper's session on a real socket pair, the host faked: requests in, replies out, the
// journal on disk, and sshuttle's rule: when the controller's end closes (killed), everything
// the helper did is undone, newest first.

const kernel: KernelView = {
  outsidePath: async (): Promise<HostPath> => ({ via: '192.168.1.1', dev: 'eth0' }),
  resolvConf: async () => ({ content: '', symlink: undefined }),
  serviceDns: async () => [],
  hasDevice: async () => true,
  addressesOn: async () => undefined,
  localAddresses: async () => ['172.17.0.1'],
};

/** `vanishing`: the tun device goes while the first undo runs (a killed controller's fds close after its socket). */
function harness(
  t: { teardown(fn: () => void): void },
  opts: { vanishing?: boolean; live?: Set<string>; addresses?: string[]; boot?: boolean; claims?: boolean } = {},
) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-helper-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ran: string[] = [];
  const claimed: string[] = [];
  let present = true;
  const deps: HelperDeps = {
    kernel: { ...kernel, hasDevice: async () => present, addressesOn: async () => opts.addresses },
    platform: 'linux',
    openTun: (name) => ({ fd: 99, name }),
    bind: async () => 98,
    executor: {
      run: async (actions: readonly Action[]) => {
        for (const a of actions) ran.push(a.side === 'local' && 'cidr' in a ? `${a.op} ${a.cidr}` : a.side === 'local' ? a.op : 'remote');
        if (opts.vanishing && actions.some((a) => a.side === 'local' && a.op === 'route-del')) {
          present = false;
          return { done: 0, failures: actions.map((_, index) => ({ index, message: 'Cannot find device "cb-stg"' })) };
        }
        return { done: actions.length, failures: [] };
      },
    },
    // as host.ts does: the folder made whenever a journal is asked for
    journalFile: (env) => {
      fs.mkdirSync(dir, { recursive: true });
      return path.join(dir, `${env}.json`);
    },
    log: () => undefined,
    live: opts.live ?? new Set(),
    ...(opts.boot ? { bootRecord: (env: string) => path.join(dir, 'boot', `${env}.json`) } : {}),
    // the installed helper's claim: the caller the kernel names (here, whoever runs the test)
    ...(opts.claims ? { claim: (env: string) => (claimed.push(env), process.getuid!()) } : {}),
  };
  const [a, b] = loadAddon().socketPair();
  const helperEnd = new net.Socket({ fd: a, readable: true, writable: true });
  const controller = new net.Socket({ fd: b, readable: true, writable: true });
  const replies: (Reply & { passed?: number })[] = [];
  const done = serve(helperEnd, deps, (reply, fd) => {
    replies.push({ ...reply, ...(fd === undefined ? {} : { passed: fd }) });
    helperEnd.write(`${JSON.stringify(reply)}\n`);
  });
  const ask = async (req: object): Promise<Reply & { passed?: number }> => {
    const n = replies.length;
    controller.write(`${JSON.stringify(req)}\n`);
    for (let i = 0; i < 200 && replies.length === n; i++) await new Promise((r) => setTimeout(r, 5));
    return replies[n]!;
  };
  return { ask, ran, claimed, controller, done, dir, journal: path.join(dir, 'stg.json'), vanish: () => void (present = false) };
}

const route = (cidr: string): object => ({
  op: 'step',
  step: {
    title: `route ${cidr}`,
    apply: { side: 'local', op: 'route-add', dev: 'cb-stg', cidr },
    undo: { side: 'local', op: 'route-del', dev: 'cb-stg', cidr },
  },
});

test('a killed controller: its end closes and everything is undone, newest first, the journal gone', async (t) => {
  const h = harness(t);
  t.deepEqual(await h.ask({ op: 'hello', env: 'stg' }), { ok: true });
  t.like(await h.ask({ op: 'open-tun', name: 'cb-stg' }), { ok: true, name: 'cb-stg', passed: 99 });
  t.deepEqual(await h.ask(route('10.20.0.0/16')), { ok: true });
  t.deepEqual(await h.ask(route('10.30.0.0/16')), { ok: true });
  t.deepEqual(
    readJournal(h.journal)!.applied.map((s) => s.title),
    ['route 10.20.0.0/16', 'route 10.30.0.0/16'],
    'journaled as root keeps it',
  );
  const started = Date.now();
  h.controller.destroy(); // kill -9: no down
  t.deepEqual(await h.done, []);
  t.true(Date.now() - started < 1000, 'undone within a second');
  t.deepEqual(h.ran, ['route-add 10.20.0.0/16', 'route-add 10.30.0.0/16', 'route-del 10.30.0.0/16', 'route-del 10.20.0.0/16']);
  t.false(fs.existsSync(h.journal));
});

test('refusals change nothing and the session goes on; undo by title, newest first; down ends it', async (t) => {
  const h = harness(t);
  const early = await h.ask({ op: 'open-tun', name: 'cb-stg' });
  t.regex(early.ok ? '' : early.error, /say hello first/);
  const stepEarly = await h.ask(route('10.20.0.0/16'));
  t.regex(stepEarly.ok ? '' : stepEarly.error, /say hello first/);
  t.like(await h.ask({ op: 'claim' }), { ok: false, error: 'say hello first: the environment is not known' });
  t.like(await h.ask({ op: 'claim', env: 'other' }), { ok: false }, "claim names nothing: the session's environment only");
  await h.ask({ op: 'hello', env: 'stg' });
  t.like(await h.ask({ op: 'claim' }), { ok: false, error: 'this helper does not know whose the run folder is' });
  await h.ask({ op: 'open-tun', name: 'cb-stg' });
  const refused = await h.ask({
    op: 'step',
    step: {
      title: 'x',
      apply: { side: 'local', op: 'route-add', dev: 'eth0', cidr: '0.0.0.0/0' },
      undo: { side: 'local', op: 'route-del', dev: 'eth0', cidr: '0.0.0.0/0' },
    },
  });
  t.false(refused.ok);
  t.regex((refused as { error: string }).error, /only through this connection's device/);
  const unknown = await h.ask({ op: 'reboot' });
  t.regex(unknown.ok ? '' : unknown.error, /unknown request "reboot"/);
  t.deepEqual(h.ran, [], 'nothing ran');
  await h.ask(route('10.20.0.0/16'));
  await h.ask(route('10.30.0.0/16'));
  await h.ask(route('10.40.0.0/16'));
  t.deepEqual(await h.ask({ op: 'undo', titles: ['route 10.20.0.0/16', 'route 10.40.0.0/16'] }), { ok: true });
  t.like(await h.ask({ op: 'bind', addr: '172.17.0.1', proto: 'udp' }), { ok: true, passed: 98 });
  t.like(await h.ask({ op: 'bind', addr: '0.0.0.0', proto: 'udp' }), { ok: false });
  t.deepEqual(await h.ask({ op: 'down' }), { ok: true });
  t.like(await h.ask(route('10.50.0.0/16')), { ok: false, error: 'the session has ended' });
  t.deepEqual(h.ran, [
    'route-add 10.20.0.0/16',
    'route-add 10.30.0.0/16',
    'route-add 10.40.0.0/16',
    'route-del 10.40.0.0/16',
    'route-del 10.20.0.0/16',
    'route-del 10.30.0.0/16',
  ]);
  h.controller.destroy();
  await h.done;
  t.false(fs.existsSync(h.journal));
});

test('fd passing (SCM_RIGHTS): the fd that arrives is the same open file; a byte without one is refused', (t) => {
  const addon = loadAddon();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-fd-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'f');
  const [a, b] = addon.socketPair();
  const sent = fs.openSync(file, 'w');
  t.is(addon.fdSend(a, sent), 0);
  fs.closeSync(sent); // the receiver's copy stays open
  const got = addon.fdRecv(b);
  t.true(got >= 0);
  fs.writeSync(got, 'through the passed fd');
  fs.closeSync(got);
  t.is(fs.readFileSync(file, 'utf8'), 'through the passed fd');
  fs.writeSync(a, 'x');
  t.is(addon.fdRecv(b), -os.constants.errno.EBADMSG);
  fs.closeSync(a);
  t.is(addon.fdRecv(b), -os.constants.errno.EBADMSG, 'end of stream: no fd');
  fs.closeSync(b);
});

test('a device that goes while its undos run (kill -9: the fds close after the socket): moot, not failed; the journal goes', async (t) => {
  const h = harness(t, { vanishing: true });
  await h.ask({ op: 'hello', env: 'stg' });
  await h.ask({ op: 'open-tun', name: 'cb-stg' });
  t.deepEqual(await h.ask(route('10.20.0.0/16')), { ok: true });
  t.deepEqual(await h.ask(route('10.30.0.0/16')), { ok: true });
  h.controller.destroy();
  t.deepEqual(await h.done, [], 'no undo reported as failed');
  t.false(fs.existsSync(h.journal), 'nothing left for cleanup');
});

test('per-link DNS on a device that has gone is moot too: resolved forgot it with the link, and `resolvectl revert` of it would fail', async (t) => {
  const h = harness(t);
  await h.ask({ op: 'hello', env: 'stg' });
  await h.ask({ op: 'open-tun', name: 'cb-stg' });
  const dns = {
    title: 'resolvectl dns cb-stg',
    apply: { side: 'local', op: 'resolvectl', argv: ['dns', 'cb-stg', '10.20.0.53'] },
    undo: { side: 'local', op: 'resolvectl', argv: ['revert', 'cb-stg'] },
  };
  t.deepEqual(await h.ask({ op: 'step', step: dns }), { ok: true });
  h.vanish(); // the controller's tun fd closed
  h.controller.destroy();
  t.deepEqual(await h.done, [], 'no undo reported as failed');
  t.deepEqual(h.ran, ['resolvectl'], 'applied, and no revert of a link that is not there');
  t.false(fs.existsSync(h.journal), 'nothing left for the next hello, which refused the environment before');
});

test("a dead helper's journal for the environment is undone at hello, before anything new", async (t) => {
  const h = harness(t);
  const left = {
    title: 'route 10.40.0.0/16',
    apply: { side: 'local', op: 'route-add', dev: 'cb-stg', cidr: '10.40.0.0/16' },
    undo: { side: 'local', op: 'route-del', dev: 'cb-stg', cidr: '10.40.0.0/16' },
  };
  // a helper that died: its pid is gone
  fs.writeFileSync(h.journal, JSON.stringify({ env: 'stg', pid: deadPid(), applied: [left], pending: [] }), { mode: 0o600 });
  t.deepEqual(await h.ask({ op: 'hello', env: 'stg' }), { ok: true });
  t.deepEqual(h.ran, ['route-del 10.40.0.0/16'], 'what the dead one left, undone');
  t.deepEqual(readJournal(h.journal)!.applied, [], 'a fresh journal for this session');
  h.controller.destroy();
  await h.done;
});

test("a dead helper's device reopened by another program (a VPN on the same utun unit): what was on ours is forgotten, not undone", async (t) => {
  // cb-stg exists again, with another's address: a route delete there would take the other's route
  const h = harness(t, { addresses: ['10.50.0.1'] });
  const step = (title: string, apply: object, undo: object): object => ({ title, apply, undo });
  const left = [
    step(
      'address',
      { side: 'local', op: 'addr-add', dev: 'cb-stg', local: '10.99.0.1', peer: '10.99.0.2' },
      { side: 'local', op: 'addr-del', dev: 'cb-stg', local: '10.99.0.1', peer: '10.99.0.2' },
    ),
    step('half', { side: 'local', op: 'route-add', dev: 'cb-stg', cidr: '0.0.0.0/1' }, { side: 'local', op: 'route-del', dev: 'cb-stg', cidr: '0.0.0.0/1' }),
    step(
      'pin',
      { side: 'local', op: 'route-add', dev: 'eth0', via: '192.168.1.1', cidr: '203.0.113.9/32' },
      { side: 'local', op: 'route-del', dev: 'eth0', via: '192.168.1.1', cidr: '203.0.113.9/32' },
    ),
  ];
  fs.writeFileSync(h.journal, JSON.stringify({ env: 'stg', pid: deadPid(), applied: left, pending: [] }), { mode: 0o600 });
  t.deepEqual(await h.ask({ op: 'hello', env: 'stg' }), { ok: true });
  t.deepEqual(h.ran, ['route-del 203.0.113.9/32'], "only the pin, on a device that is not the other's");
  h.controller.destroy();
  await h.done;
});

test('after a reboot: a boot record with no journal beside it is put back at hello; a new one kept while the session sets DNS', async (t) => {
  const h = harness(t, { boot: true });
  const dns = (servers: string[], was: string[]): object => ({
    title: 'full tunnel: DNS',
    apply: { side: 'local', op: 'resolv-conf', content: `nameserver ${servers[0]}\n`, symlink: undefined },
    undo: { side: 'local', op: 'resolv-conf', content: was.map((w) => `nameserver ${w}\n`).join(''), symlink: undefined },
  });
  fs.mkdirSync(path.join(h.dir, 'boot'), { recursive: true });
  fs.writeFileSync(
    path.join(h.dir, 'boot', 'stg.json'),
    JSON.stringify({ env: 'stg', pid: deadPid(), applied: [dns(['10.99.0.1'], ['192.168.1.1'])], pending: [] }),
    {
      mode: 0o600,
    },
  );
  t.deepEqual(await h.ask({ op: 'hello', env: 'stg' }), { ok: true });
  t.deepEqual(h.ran, ['resolv-conf'], 'put back before anything new');
  t.false(fs.existsSync(path.join(h.dir, 'boot', 'stg.json')));
  // the fake host's resolv.conf is empty: the undo puts that back
  t.deepEqual(await h.ask({ op: 'step', step: dns(['127.0.0.153'], []) }), { ok: true });
  t.true(fs.existsSync(path.join(h.dir, 'boot', 'stg.json')), 'the new setting is recorded where a reboot keeps it');
  h.controller.destroy();
  await h.done;
  t.false(fs.existsSync(path.join(h.dir, 'boot', 'stg.json')), 'and goes when it is undone');
});

test("claim: the session's run folder made again for its caller, the helper's journal written again", async (t) => {
  const h = harness(t, { claims: true });
  await h.ask({ op: 'hello', env: 'stg' });
  await h.ask({ op: 'open-tun', name: 'cb-stg' });
  t.deepEqual(await h.ask(route('10.20.0.0/16')), { ok: true });
  fs.rmSync(h.dir, { recursive: true, force: true });
  t.deepEqual(await h.ask({ op: 'claim' }), { ok: true });
  t.deepEqual(h.claimed, ['stg', 'stg'], 'at hello and again now, for the same environment');
  t.deepEqual(
    readJournal(h.journal)!.applied.map((s) => s.title),
    ['route 10.20.0.0/16'],
  );
  // whose session it is, so that root acting for them (sudo cleanup after a reboot) may undo what is left
  t.is(readJournal(h.journal)!.owner?.uid, process.getuid!());
  h.controller.destroy();
  await h.done;
});

test('the journal folder removed mid-session (a tmpfiles cleaner): made again, the undo runs, nothing crashes', async (t) => {
  const h = harness(t);
  await h.ask({ op: 'hello', env: 'stg' });
  await h.ask({ op: 'open-tun', name: 'cb-stg' });
  t.deepEqual(await h.ask(route('10.20.0.0/16')), { ok: true });
  fs.rmSync(h.dir, { recursive: true, force: true });
  t.deepEqual(await h.ask(route('10.30.0.0/16')), { ok: true }, 'journaled again in a folder made again');
  t.deepEqual(
    readJournal(h.journal)!.applied.map((s) => s.title),
    ['route 10.20.0.0/16', 'route 10.30.0.0/16'],
  );
  fs.rmSync(h.dir, { recursive: true, force: true });
  h.controller.destroy();
  t.deepEqual(await h.done, []);
  t.deepEqual(h.ran.slice(-2), ['route-del 10.30.0.0/16', 'route-del 10.20.0.0/16']);
});

/** The pid of a process that has exited. */
const deadPid = (): number => spawnSync('true').pid!;

test('one session per environment: a second in this process, or a journal whose helper still runs, is refused and changes nothing', async (t) => {
  // one helper process: its sessions share what is live
  const live = new Set<string>();
  const a = harness(t, { live });
  t.deepEqual(await a.ask({ op: 'hello', env: 'stg' }), { ok: true });
  const b = harness(t, { live });
  t.deepEqual(await b.ask({ op: 'hello', env: 'stg' }), { ok: false, error: 'stg is connected already' });
  // another helper process, alive, whose journal this is: its steps are not taken for a dead one's
  const c = harness(t);
  const left = {
    title: 'route 10.40.0.0/16',
    apply: { side: 'local', op: 'route-add', dev: 'cb-prd', cidr: '10.40.0.0/16' },
    undo: { side: 'local', op: 'route-del', dev: 'cb-prd', cidr: '10.40.0.0/16' },
  };
  fs.writeFileSync(path.join(c.dir, 'prd.json'), JSON.stringify({ env: 'prd', pid: process.ppid, applied: [left], pending: [] }), { mode: 0o600 });
  t.deepEqual(await c.ask({ op: 'hello', env: 'prd' }), { ok: false, error: 'prd is connected already' });
  t.deepEqual(c.ran, [], 'nothing undone');
  for (const h of [a, b, c]) h.controller.destroy();
  await Promise.all([a.done, b.done, c.done]);
  // once the first has ended, the environment is free again
  const d = harness(t, { live });
  t.deepEqual(await d.ask({ op: 'hello', env: 'stg' }), { ok: true });
  d.controller.destroy();
  await d.done;
});
