import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { HelperClient } from '../../src/helper/client.js';
import { StepJournal } from '../../src/plan/apply.js';
import type { Step } from '../../src/plan/steps.js';
import { stepExecutor } from '../../src/daemon/executor.js';
import { claimRunFolder, HELPER_DIR } from '../../src/helper/host.js';
import { ENV_NAME } from '../../src/util/envName.js';
import { HELPER_SOCKET, envRunDir } from '../../src/util/paths.js';

// --privsep's two halves that run in one process: local changes go to the helper as whole
// steps and come back by title, through the one journal code path; and the drop to the user
// is for good (a child process, since it cannot be undone in this one).

const route = (cidr: string): Step => ({
  title: `route ${cidr}`,
  apply: { side: 'local', op: 'route-add', dev: 'cb-t', cidr },
  undo: { side: 'local', op: 'route-del', dev: 'cb-t', cidr },
});

/** A stand-in for the helper's client: what it was asked, in order; steps whose title `fails` names are refused. */
function fakeHelper(asked: string[], fails: string[] = []): HelperClient {
  const fake = {
    step: async (s: Step) => {
      asked.push(`step ${s.title}`);
      if (fails.includes(s.title)) throw new Error(`refused: ${s.title}`);
    },
    undo: async (titles: readonly string[]) => void asked.push(`undo ${titles.join(',')}`),
  };
  return fake as unknown as HelperClient;
}

test("root's own files in the run folder are no environment's: no name makes a run folder of them", (t) => {
  // the helper's journal folder was /run/cloudbridge/helper: environment "helper"'s run folder too
  for (const own of [HELPER_DIR, HELPER_SOCKET]) {
    t.false(ENV_NAME.test(path.basename(own)), own);
    t.is(path.dirname(own), path.dirname(envRunDir('helper')));
  }
});

test('local steps go to the helper whole, and their undos by title, newest first', async (t) => {
  const asked: string[] = [];
  const journal = new StepJournal(undefined);
  const exec = stepExecutor({ helper: fakeHelper(asked) }, undefined, false);
  await journal.apply([route('10.1.0.0/16'), route('10.2.0.0/16')], exec);
  t.is(journal.steps.length, 2);
  t.deepEqual(await journal.undo(exec), []);
  t.deepEqual(asked, ['step route 10.1.0.0/16', 'step route 10.2.0.0/16', 'undo route 10.2.0.0/16', 'undo route 10.1.0.0/16']);
  t.is(journal.steps.length, 0);
});

test('a step the helper refuses fails the apply, and what this call made is undone through the helper', async (t) => {
  const asked: string[] = [];
  const journal = new StepJournal(undefined);
  const exec = stepExecutor({ helper: fakeHelper(asked, ['route 10.2.0.0/16']) }, undefined, false);
  const err = await t.throwsAsync(journal.apply([route('10.1.0.0/16'), route('10.2.0.0/16')], exec));
  t.is(err?.message, 'route 10.2.0.0/16: refused: route 10.2.0.0/16');
  t.deepEqual(asked, ['step route 10.1.0.0/16', 'step route 10.2.0.0/16', 'undo route 10.1.0.0/16']);
  t.is(journal.steps.length, 0);
});

test('an action without its step is refused: the helper never takes a bare change', async (t) => {
  const exec = stepExecutor({ helper: fakeHelper([]) }, undefined, false);
  const r = await exec.run([route('10.1.0.0/16').apply], false);
  t.is(r.done, 0);
  t.regex(r.failures[0]!.message, /the helper takes whole steps/);
});

const root = process.geteuid?.() === 0;
(root ? test : test.skip)("dropTo: uid, gid and groups become the user's, capabilities go, and root cannot be had back", (t) => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const privsep = path.join(here, '../../src/cli/privsep.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-drop-'));
  const script = path.join(dir, 'drop.mjs');
  fs.writeFileSync(
    script,
    `import fs from 'node:fs';
const { dropTo } = await import(${JSON.stringify(privsep)});
dropTo({ name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' });
let back = 'no';
try { process.setuid(0); back = 'yes'; } catch {}
try { process.seteuid(0); back = 'yes'; } catch {}
const status = fs.readFileSync('/proc/self/status', 'utf8');
const f = (k) => new RegExp('^' + k + ':\\\\s*(.*)$', 'm').exec(status)[1].trim();
console.log(JSON.stringify({ uid: f('Uid'), gid: f('Gid'), groups: f('Groups'), capEff: f('CapEff'), capPrm: f('CapPrm'), back }));
`,
  );
  try {
    const out = JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8' })) as Record<string, string>;
    t.deepEqual(out['uid']!.split(/\s+/), ['65534', '65534', '65534', '65534']);
    t.deepEqual(out['gid']!.split(/\s+/), ['65534', '65534', '65534', '65534']);
    t.notRegex(out['groups']!, /(^|\s)0(\s|$)/, 'not in root group');
    t.is(out['capEff'], '0000000000000000');
    t.is(out['capPrm'], '0000000000000000');
    t.is(out['back'], 'no');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

(root ? test : test.skip)("the installed helper's claim: a run folder made the caller's, theirs taken as it is, another's refused", (t) => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-claim-'));
  t.teardown(() => fs.rmSync(top, { recursive: true, force: true }));
  const alice = { uid: 64001, gid: 64001 };
  claimRunFolder(top, 'stg', alice);
  const st = fs.statSync(path.join(top, 'stg'));
  t.is(st.uid, alice.uid);
  t.is(st.mode & 0o777, 0o755);
  t.notThrows(() => claimRunFolder(top, 'stg', alice), 'their own again');
  t.throws(() => claimRunFolder(top, 'stg', { uid: 64002, gid: 64002 }), { message: /^stg is another user's environment \(uid 64001\)$/ });
  fs.symlinkSync('/etc', path.join(top, 'link'));
  t.throws(() => claimRunFolder(top, 'link', alice), { message: /another user's/ }, "a link is nobody's folder");
  t.throws(() => claimRunFolder(top, '../x', alice));
  fs.mkdirSync(path.join(top, 'rooted'));
  t.throws(() => claimRunFolder(top, 'rooted', alice), {
    message: /^rooted is root's \(a controller run as root, or what one left\): sudo cloudbridge cleanup rooted$/,
  });
});
