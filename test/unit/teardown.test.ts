import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { readJournal, StepJournal, type Executor } from '../../src/plan/apply.js';
import type { Action, Step } from '../../src/plan/steps.js';
import { teardown, type TeardownParts } from '../../src/daemon/teardown.js';

// A controller's way down on fakes: a real step journal in a temporary folder, executors
// that run nothing and fail on cue, a keeper that ends its session (or has none).

const local = (cidr: string): Step => ({
  title: `route ${cidr}`,
  apply: { side: 'local', op: 'route-add', dev: 'cb-t', cidr },
  undo: { side: 'local', op: 'route-del', dev: 'cb-t', cidr },
});
const remote = (what: string): Step => ({
  title: `remote ${what}`,
  apply: { side: 'remote', argv: ['add', what] },
  undo: { side: 'remote', argv: ['del', what] },
});

/** Runs actions by name; those `fails` names fail. A remote action without a connection fails as stepExecutor's does. */
function executor(ran: string[], opts: { connected: boolean; fails?: string[] }): Executor {
  return {
    run: async (actions: readonly Action[]) => {
      const failures: { index: number; message: string }[] = [];
      actions.forEach((a, index) => {
        const name = a.side === 'remote' ? a.argv.join(' ') : `${a.op} ${'cidr' in a ? a.cidr : ''}`;
        if (a.side === 'remote' && !opts.connected) failures.push({ index, message: 'no SSH connection' });
        else if (opts.fails?.includes(name)) failures.push({ index, message: 'refused' });
        else ran.push(name);
      });
      return { done: actions.length, failures };
    },
  };
}

async function setUp(t: { teardown(fn: () => void): void }): Promise<{ journal: StepJournal; file: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-teardown-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'journal.json');
  const journal = new StepJournal(file, 'stg');
  journal.begin();
  await journal.apply([local('10.1.0.0/16'), local('10.2.0.0/16')], executor([], { connected: true }));
  await journal.apply([remote('tun5'), remote('nat')], executor([], { connected: true }));
  return { journal, file };
}

function parts(journal: StepJournal, endSession: () => Promise<string[]>, ran: string[], order: string[]): TeardownParts & { kept: boolean[] } {
  const kept: boolean[] = [];
  return {
    env: 'stg',
    journal,
    keeper: {
      stop: async () => void order.push('keeper stop'),
      end: async () => {
        order.push('session end');
        return endSession();
      },
    },
    stops: [() => void order.push('pump'), async () => void order.push('services')],
    local: () => executor(ran, { connected: false }),
    release: () => void order.push('release'),
    removeRunFiles: (keep) => void kept.push(keep),
    kept,
  };
}

test('with a session: its remote steps are undone over it, then the local ones, newest first; the journal goes', async (t) => {
  const { journal, file } = await setUp(t);
  const ran: string[] = [];
  const order: string[] = [];
  const p = parts(journal, () => journal.undo(executor(ran, { connected: true }), (s) => s.apply.side === 'remote'), ran, order);
  t.deepEqual(await teardown(p, 'disconnect requested'), []);
  t.deepEqual(ran, ['del nat', 'del tun5', 'route-del 10.2.0.0/16', 'route-del 10.1.0.0/16']);
  t.deepEqual(order, ['keeper stop', 'pump', 'services', 'session end', 'release']);
  t.deepEqual(p.kept, [false]);
  t.false(fs.existsSync(file));
});

test('without a session, the remote steps stay in the journal for cleanup, and the errors say so', async (t) => {
  const { journal, file } = await setUp(t);
  const ran: string[] = [];
  const p = parts(journal, async () => [], ran, []);
  const errors = await teardown(p, 'SSH lost');
  t.deepEqual(ran, ['route-del 10.2.0.0/16', 'route-del 10.1.0.0/16'], 'the local side is undone all the same');
  t.deepEqual(errors, ['remote steps left for "cloudbridge cleanup stg": they could not be undone over SSH now']);
  t.deepEqual(p.kept, [true]);
  t.deepEqual(
    readJournal(file)!.applied.map((s) => s.title),
    ['remote tun5', 'remote nat'],
    'what cleanup will replay',
  );
});

test('a remote undo that fails over a live session is not forgotten: it stays for cleanup', async (t) => {
  const { journal, file } = await setUp(t);
  const ran: string[] = [];
  const p = parts(journal, () => journal.undo(executor(ran, { connected: true, fails: ['del tun5'] }), (s) => s.apply.side === 'remote'), ran, []);
  const errors = await teardown(p, 'disconnect requested');
  t.deepEqual(errors, ['remote: del tun5: refused', 'remote steps left for "cloudbridge cleanup stg": they could not be undone over SSH now']);
  t.deepEqual(
    readJournal(file)!.applied.map((s) => s.title),
    ['remote tun5'],
  );
  t.deepEqual(p.kept, [true]);
});

test('a session that ended under its undo (the connection already gone) leaves its steps for cleanup', async (t) => {
  const { journal, file } = await setUp(t);
  const ran: string[] = [];
  const p = parts(journal, () => journal.undo(executor(ran, { connected: false }), (s) => s.apply.side === 'remote'), ran, []);
  const errors = await teardown(p, 'disconnect requested');
  t.is(errors.length, 3);
  t.deepEqual(
    readJournal(file)!.applied.map((s) => s.title),
    ['remote tun5', 'remote nat'],
  );
});
