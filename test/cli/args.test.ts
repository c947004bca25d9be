import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { execa } from 'execa';

// The command line as root would run it for a user (no lab: nothing here connects).
// Every command that takes an environment refuses a name that is not one, with
// exit 2, before any path, unit or journal name is made of it; and a dead
// controller's journal is replayed only for its owner, on the host it was made on.

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-args-'));
fs.chmodSync(tmp, 0o755); // the other user reads the config too: the journal's owner, not the file, refuses them
const config = path.join(tmp, 'config.yaml');
fs.writeFileSync(config, 'environments:\n  cbargs:\n    host: 127.0.0.1\n    user: root\n    tunnel: { local: 10.231.0.1, remote: 10.231.0.2 }\n', {
  mode: 0o644,
});
const runDir = '/run/cloudbridge/cbargs';
test.after.always(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(runDir, { recursive: true, force: true });
});

const cli = (args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, [CLI, ...args], { reject: false, env: { CLOUDBRIDGE_CONFIG: config, ...env } });

test('a traversal as ENV is a usage error for every command that takes one, and touches nothing', async (t) => {
  const bad = '../../../etc/x';
  const commands = [
    ['connect', bad],
    ['connect', bad, '--dry-run'],
    ['connect', bad, '--foreground'],
    ['disconnect', bad],
    ['cleanup', bad],
    ['status', bad],
    ['status', bad, '--json'],
    ['env', bad],
    ['exec', bad, '--', 'true'],
    ['run', bad, '--print', '--', 'docker', 'run', 'x'],
    ['use', bad],
    ['doctor', bad],
    ['init', bad, '--config', path.join(tmp, 'new.yaml')],
    ['logs', bad],
    ['install-service', bad],
    ['install-service', bad, '--print'],
    ['uninstall-service', bad],
  ];
  const runs = await Promise.all(commands.map((c) => cli(c)));
  runs.forEach((r, i) => {
    t.is(r.exitCode, 2, `${commands[i]!.join(' ')}: ${r.stderr}`);
    t.is(
      r.stderr.trim(),
      'cloudbridge: "../../../etc/x" is not an environment name (1-32 characters of a-z, 0-9, - and _, starting with a letter or digit)',
      commands[i]!.join(' '),
    );
  });
  t.false(fs.existsSync(path.join(tmp, 'new.yaml')));
  // control characters come back escaped, never raw to the terminal
  const esc = await cli(['logs', 'x\u001b]0;pwned\u0007']);
  t.is(
    esc.stderr.trim(),
    'cloudbridge: "x\\u001b]0;pwned\\u0007" is not an environment name (1-32 characters of a-z, 0-9, - and _, starting with a letter or digit)',
  );
});

/** A dead controller's journal, with one remote step whose undo would leave a mark. */
function staleJournal(owner: { uid: number; name: string }, target: string, mark: string): void {
  fs.mkdirSync(runDir, { recursive: true, mode: 0o755 });
  const step = { title: 'remote x', apply: { side: 'remote', argv: ['true'] }, undo: { side: 'remote', argv: ['touch', mark] } };
  const record = { env: 'cbargs', pid: 999999, owner, target, applied: [step], pending: [] };
  fs.writeFileSync(path.join(runDir, 'journal.json'), JSON.stringify(record), { mode: 0o600 });
}

test.serial("cleanup: another user's environment is refused; a journal from another host is kept, not replayed here", async (t) => {
  const mark = path.join(tmp, 'replayed');
  staleJournal({ uid: 4242, name: 'ann' }, 'root@127.0.0.1:22', mark);
  const nobody = { SUDO_USER: 'nobody', SUDO_UID: '65534', SUDO_GID: '65534' };
  for (const cmd of ['cleanup', 'disconnect']) {
    const r = await cli([cmd, 'cbargs'], nobody);
    t.is(r.exitCode, 1, r.stderr);
    t.is(r.stderr.trim(), 'cloudbridge: cbargs was connected by ann (uid 4242); only they, or root itself, may take it down', cmd);
  }
  t.true(fs.existsSync(path.join(runDir, 'journal.json')));
  // root itself may; but the config now names 127.0.0.1, and the steps were made on 10.231.0.9
  staleJournal({ uid: 4242, name: 'ann' }, 'root@10.231.0.9:22', mark);
  const r = await cli(['cleanup', 'cbargs']);
  t.is(r.exitCode, 1, r.stderr);
  t.regex(
    r.stderr.trim(),
    /^cloudbridge: cleanup cbargs: its remote steps were made on root@10\.231\.0\.9:22, and the config now names root@127\.0\.0\.1:22: name root@10\.231\.0\.9:22 again to undo them; the remote steps in \/run\/cloudbridge\/cbargs\/journal\.json stay until then$/,
  );
  t.false(fs.existsSync(mark), 'nothing was replayed');
  const kept = JSON.parse(fs.readFileSync(path.join(runDir, 'journal.json'), 'utf8')) as { applied: unknown[]; target: string };
  t.is(kept.applied.length, 1, 'the remote step stays for a cleanup that can reach its host');
  t.is(kept.target, 'root@10.231.0.9:22');
});
