import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { parseConfigText, findEnvironment } from '../../src/config/load.js';
import { readJournal, restoreAfterBoot, runGrouped, StepJournal, type Executor } from '../../src/plan/apply.js';
import { lowestFreeTun, planLocal, planRemote } from '../../src/plan/plan.js';
import { describeAction, type Action, type Step } from '../../src/plan/steps.js';
import { fillUp } from '../fill.js';

const env = findEnvironment(
  parseConfigText(
    `
environments:
  stg:
    host: h
    tunnel: { local: 10.9.0.1, remote: 10.9.0.2, mtu: 9000 }
    routes: [172.31.0.0/16]
    nat: true
`,
    '/c.yaml',
    '/home/u',
  ),
  'stg',
);

test('local plan: address, link, routes, masquerade for local containers, each with its undo', (t) => {
  const masq = 'POSTROUTING -o cb-stg -m comment --comment cloudbridge:stg -j MASQUERADE';
  t.deepEqual(
    planLocal(env, 'cb-stg').map((s) => [describeAction(s.apply), s.undo && describeAction(s.undo)]),
    [
      ['local: addr-add 10.9.0.1 peer 10.9.0.2 dev cb-stg', 'local: addr-del 10.9.0.1 peer 10.9.0.2 dev cb-stg'],
      ['local: link cb-stg mtu 9000 up', null],
      ['local: route-add 172.31.0.0/16 dev cb-stg', 'local: route-del 172.31.0.0/16 dev cb-stg'],
      [`local: iptables -t nat -A ${masq}`, `local: iptables -t nat -D ${masq}`],
    ],
  );
  t.is(planLocal({ ...env, localMasquerade: false }, 'cb-stg').length, 3);
  t.is(planLocal(env, 'utun4', 'darwin').length, 3, "macOS containers leave with the host's address already");
  t.is(planLocal({ ...env, tunnel: undefined, routes: [] }, '').length, 0, 'tunnel: false changes nothing on this host');
});

test('remote plan: exact commands, NAT tagged with the environment, forwarding restored as found', (t) => {
  const cmd = (a: Action | null): string | null => (a && a.side === 'remote' ? a.argv.join(' ') : null);
  const tag = '-m comment --comment cloudbridge:stg';
  t.deepEqual(
    planRemote(env, env.tunnel!, 'tun3', { ipForward: '0\n' }).map((s) => [cmd(s.apply), cmd(s.undo)]),
    [
      ['ip addr add 10.9.0.2 peer 10.9.0.1 dev tun3', null],
      ['ip link set dev tun3 mtu 9000 up', null],
      ['sysctl -q -w net.ipv4.ip_forward=1', 'sysctl -q -w net.ipv4.ip_forward=0'],
      [
        `iptables -w -t nat -I POSTROUTING -s 10.9.0.1/32 ${tag} -j MASQUERADE`,
        `sh -c e=$(iptables -w -t nat -C POSTROUTING -s 10.9.0.1/32 ${tag} -j MASQUERADE 2>&1 >/dev/null); c=$?; [ $c = 1 ] && exit 0; [ $c = 0 ] || { echo "$e" >&2; exit $c; }; exec iptables -w -t nat -D POSTROUTING -s 10.9.0.1/32 ${tag} -j MASQUERADE`,
      ],
      [
        `iptables -w -t filter -I FORWARD -i tun3 ${tag} -j ACCEPT`,
        `sh -c e=$(iptables -w -t filter -C FORWARD -i tun3 ${tag} -j ACCEPT 2>&1 >/dev/null); c=$?; [ $c = 1 ] && exit 0; [ $c = 0 ] || { echo "$e" >&2; exit $c; }; exec iptables -w -t filter -D FORWARD -i tun3 ${tag} -j ACCEPT`,
      ],
      [
        `iptables -w -t filter -I FORWARD -o tun3 -m conntrack --ctstate RELATED,ESTABLISHED ${tag} -j ACCEPT`,
        `sh -c e=$(iptables -w -t filter -C FORWARD -o tun3 -m conntrack --ctstate RELATED,ESTABLISHED ${tag} -j ACCEPT 2>&1 >/dev/null); c=$?; [ $c = 1 ] && exit 0; [ $c = 0 ] || { echo "$e" >&2; exit $c; }; exec iptables -w -t filter -D FORWARD -o tun3 -m conntrack --ctstate RELATED,ESTABLISHED ${tag} -j ACCEPT`,
      ],
    ],
  );
  t.is(planRemote(env, env.tunnel!, 'tun3', { ipForward: '1' }).filter((s) => s.title.includes('forwarding')).length, 0);
  t.is(planRemote({ ...env, nat: false }, env.tunnel!, 'tun3', { ipForward: '0' }).length, 2);
});

test("a rule's removal is done when -C says it is gone (1), and fails with the first line on any other answer", async (t) => {
  const undo = planRemote(env, env.tunnel!, 'tun3', { ipForward: '1' })[2]!.undo as { argv: readonly string[] };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-rule-'));
  try {
    // iptables(8)'s answers to -C, as this stand-in on PATH gives them: 0 there, 1 not there, 2 a bad command line, 3 a broken table
    fs.writeFileSync(
      path.join(dir, 'iptables'),
      `#!/bin/sh\necho "$*" >> ${dir}/ran\ncase "$*" in *" -C "*) [ "$CHECK" = 0 ] || echo "answer $CHECK" >&2; exit $CHECK;; esac\n`,
      { mode: 0o755 },
    );
    const run = (check: number): { code: number; stderr: string; deleted: boolean } => {
      fs.rmSync(path.join(dir, 'ran'), { force: true });
      const r = spawnSync(undo.argv[0]!, undo.argv.slice(1), { env: { PATH: `${dir}:/usr/bin:/bin`, CHECK: String(check) }, encoding: 'utf8' });
      return { code: r.status ?? -1, stderr: r.stderr, deleted: fs.readFileSync(path.join(dir, 'ran'), 'utf8').includes(' -D ') };
    };
    t.deepEqual(run(0), { code: 0, stderr: '', deleted: true }, 'there: deleted');
    t.deepEqual(run(1), { code: 0, stderr: '', deleted: false }, 'gone already (a rebooted host): done');
    t.deepEqual(run(3), { code: 3, stderr: 'answer 3\n', deleted: false }, 'a broken iptables: the undo fails and stays in the journal');
    t.deepEqual(run(127), { code: 127, stderr: 'answer 127\n', deleted: false });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Records what it runs; fails actions whose text matches `failOn`. */
function recorder(failOn?: RegExp): { exec: Executor; ran: string[] } {
  const ran: string[] = [];
  const one = async (a: Action): Promise<void> => {
    const d = describeAction(a);
    if (failOn?.test(d)) throw new Error(`boom: ${d}`);
    ran.push(d);
  };
  const exec: Executor = {
    run: (actions, keepGoing) =>
      runGrouped(actions, keepGoing, one, async (group) => {
        const failures: { index: number; message: string }[] = [];
        let done = 0;
        for (const [i, a] of group.entries()) {
          try {
            await one(a);
            if (failures.length === 0) done = i + 1;
          } catch (err) {
            failures.push({ index: i, message: (err as Error).message });
            if (!keepGoing) break;
          }
        }
        return { done, failures };
      }),
  };
  return { exec, ran };
}

const steps: Step[] = [...planLocal(env, 'cb-stg'), ...planRemote(env, env.tunnel!, 'tun3', { ipForward: '0' })];

test('journal: undo runs every undo in reverse', async (t) => {
  const { exec, ran } = recorder();
  const j = new StepJournal(undefined);
  await j.apply(steps, exec);
  t.is(j.steps.length, steps.length);
  ran.length = 0;
  t.deepEqual(await j.undo(exec), []);
  t.deepEqual(
    ran,
    steps
      .filter((s) => s.undo)
      .map((s) => describeAction(s.undo!))
      .reverse(),
  );
  t.is(j.steps.length, 0);
});

test('journal: a failing step undoes what this apply did, and names the step', async (t) => {
  const { exec, ran } = recorder(/-I FORWARD -i/);
  const j = new StepJournal(undefined);
  const err = await t.throwsAsync(j.apply(steps, exec));
  t.regex(err!.message, /^remote forward from tun3: boom/);
  t.is(j.steps.length, 0);
  t.true(ran.some((r) => r.includes('exec iptables -w -t nat -D POSTROUTING -s 10.9.0.1/32 -m comment --comment cloudbridge:stg -j MASQUERADE')));
  t.true(ran.includes('remote: sysctl -q -w net.ipv4.ip_forward=0'));
  t.true(ran.includes('local: route-del 172.31.0.0/16 dev cb-stg'));
});

test('journal: undo keeps going past failures and reports them', async (t) => {
  const ok = recorder();
  const j = new StepJournal(undefined);
  await j.apply(steps, ok.exec);
  const { exec, ran } = recorder(/route-del/);
  const errors = await j.undo(exec);
  t.is(errors.length, 1);
  t.regex(errors[0]!, /^local: route-del 172\.31\.0\.0\/16 dev cb-stg: boom/);
  t.true(ran.includes('local: addr-del 10.9.0.1 peer 10.9.0.2 dev cb-stg'));
  // the undo that did not run is not forgotten: it stays for the next undo (or cleanup), alone
  t.deepEqual(
    j.steps.map((s) => s.title),
    steps.filter((s) => s.undo && /route-del/.test(describeAction(s.undo))).map((s) => s.title),
  );
  const again = recorder();
  t.deepEqual(await j.undo(again.exec), []);
  t.deepEqual(again.ran, ['local: route-del 172.31.0.0/16 dev cb-stg']);
  t.is(j.steps.length, 0);
});

test('journal: remote undos over a session that has ended stay for cleanup (the first connect failing half way)', async (t) => {
  const ok = recorder();
  const j = new StepJournal(undefined);
  await j.apply(steps, ok.exec);
  const gone = recorder(/^remote: /);
  const errors = await j.undo(gone.exec, (s) => s.apply.side === 'remote');
  t.true(errors.length > 0);
  const remoteLeft = j.steps.filter((s) => s.apply.side === 'remote');
  t.deepEqual(
    remoteLeft.map((s) => s.title),
    steps.filter((s) => s.apply.side === 'remote' && s.undo !== null).map((s) => s.title),
    'every remote step with an undo stays: what teardown reads as remoteLeft, and cleanup replays',
  );
});

// a real tmpfs filled to its last block: root only (CI runs as root)
(process.geteuid?.() === 0 ? test.serial : test.skip)(
  'journal: a full folder makes no change unjournaled, leaves the file whole, and undoes all the same',
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-full-'));
    t.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k,mode=0755', 'tmpfs', dir]).status, 0);
    try {
      const file = path.join(dir, 'journal.json');
      const j = new StepJournal(file, 'stg');
      const { exec, ran } = recorder();
      await j.apply(steps.slice(0, 3), exec);
      const before = fs.readFileSync(file, 'utf8');
      t.is(fillUp(path.join(dir, 'filler')), 'ENOSPC');
      ran.length = 0;
      const err = await t.throwsAsync(j.apply(steps.slice(3), exec));
      t.is(err!.message, `could not write the step journal ${file} (ENOSPC): no change is made until it can be`);
      t.deepEqual(ran, [], 'nothing ran');
      t.is(fs.readFileSync(file, 'utf8'), before, 'the file as it was, whole');
      t.false(fs.existsSync(`${file}.tmp`), 'no half-written temporary left');
      t.deepEqual(await j.undo(exec), [], 'undos run on a full disk');
      t.is(j.steps.length, 0);
      t.is(ran.length, steps.slice(0, 3).filter((s) => s.undo).length);
      t.is(fs.readFileSync(file, 'utf8'), before, 'still whole: it lists what is undone, each undo harmless to run again');
    } finally {
      spawnSync('umount', [dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('boot record: the steps a reboot does not undo (DNS) journaled where a reboot keeps them, put back from there after one', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-boot-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'state', 'boot', 'stg.json');
  const dns = (servers: string[], was: string[]): Step => ({
    title: 'full tunnel: DNS of Wi-Fi',
    apply: { side: 'local', op: 'service-dns', service: 'Wi-Fi', servers },
    undo: { side: 'local', op: 'service-dns', service: 'Wi-Fi', servers: was },
  });
  const { exec, ran } = recorder();
  const j = new StepJournal(path.join(dir, 'journal.json'), 'stg', undefined, file);
  j.begin();
  t.false(fs.existsSync(file), 'nothing that outlives a boot yet: no record');
  await j.apply([...steps.filter((s) => s.apply.side === 'local'), dns(['10.99.0.1'], ['192.168.1.1'])], exec);
  t.deepEqual(
    readJournal(file)!.applied.map((s) => s.title),
    ['full tunnel: DNS of Wi-Fi'],
    'routes, addresses and rules go with the boot: only DNS is kept',
  );
  // a reboot: the run folder (and its journal) is gone, the record is not
  fs.rmSync(path.join(dir, 'journal.json'));
  ran.length = 0;
  t.deepEqual(await restoreAfterBoot(file, exec), { restored: 1, errors: [] });
  t.deepEqual(ran, ['local: DNS of Wi-Fi: 192.168.1.1']);
  t.false(fs.existsSync(path.join(dir, 'state')), 'the record and its empty folders are gone');
  // an ordinary disconnect removes it too
  const k = new StepJournal(path.join(dir, 'journal.json'), 'stg', undefined, file);
  await k.apply([dns(['10.99.0.1'], [])], exec);
  t.true(fs.existsSync(file));
  await k.undo(exec);
  t.false(fs.existsSync(file));
  // a user's controller that root's helper serves: root's record has this host's side, the user's the server's alone
  const u = new StepJournal(path.join(dir, 'journal.json'), 'stg', { owner: { uid: 1000, name: 'dev' }, target: 'root@h', localBy: 'helper' }, file);
  await u.apply([...steps, dns(['10.99.0.1'], [])], exec);
  const kept = readJournal(file)!.applied;
  t.true(kept.length > 0);
  t.true(
    kept.every((s) => s.apply.side === 'remote'),
    kept.map((s) => s.title).join(', '),
  );
  t.is(readJournal(file)!.localBy, 'helper', 'cleanup knows whose the local side was');
  await u.undo(exec);
  t.false(fs.existsSync(file));
});

test('the lowest free tun unit, in one pass over what the server lists (however much that is)', (t) => {
  t.is(lowestFreeTun(['lo', 'eth0']), 0);
  t.is(lowestFreeTun(['tun0', 'tun2', 'tun1', 'tun10']), 3);
  t.is(lowestFreeTun(['tun01', 'tun0x', 'xtun0']), 0, 'only tunN names count');
  const many = Array.from({ length: 200_000 }, (_, i) => `tun${i}`);
  t.is(lowestFreeTun(many), 65_536, 'a list past any real host is cut');
});
