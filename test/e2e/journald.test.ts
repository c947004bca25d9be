import fs from 'node:fs';
import test from 'ava';
import { execa, type ResultPromise } from 'execa';
import { asActor, logOf, MODE, theActor, AS_USER, CLI, labDown, labUp, leftovers, run, variantConfig, type Lab, removeTestFiles, type Ran } from './helpers.js';

// The controller's log in a real systemd-journald: journald runs in a mount
// namespace of its own (tmpfs over /run/systemd, /run/log and
// /var/log/journal, so the machine's are untouched), and the CLI runs in that
// namespace (nsenter), where it finds /run/systemd/journal/socket as on a
// systemd host. $CLOUDBRIDGE_LOG_DIR is not set: that would keep the file.

let lab: Lab;
let journald: ResultPromise | undefined;
let ns = '';

test.before(async () => {
  lab = await labUp('cbl', 226);
  const mounts = ['/run/systemd', '/run/log', ...(fs.existsSync('/var/log/journal') ? ['/var/log/journal'] : [])];
  journald = execa(
    'unshare',
    ['--mount', '--propagation', 'private', 'sh', '-c', `${mounts.map((m) => `mount -t tmpfs tmpfs ${m}`).join(' && ')} && exec /lib/systemd/systemd-journald`],
    {
      reject: false,
    },
  );
  ns = `/proc/${journald.pid}/ns/mnt`;
  for (let i = 0; i < 100 && !fs.existsSync(`/proc/${journald.pid}/root/run/systemd/journal/socket`); i++) await new Promise((r) => setTimeout(r, 50));
});

test.after.always(async () => {
  journald?.kill();
  if (lab) await labDown(lab);
  removeTestFiles('cbl');
});

/** The CLI where journald is, as the suite's mode runs it. */
function cliJ(args: readonly string[]): Promise<Ran> {
  return asActor(process.execPath, [CLI, ...args], {}, ['nsenter', `--mount=${ns}`, '--']);
}

/**
 * Root's log, and sudo's (connect opens the journal's stream as root, before
 * the drop), goes to the journal; a helper group's member's controller is
 * theirs from its first line and logs to their own state folder instead
 * (docs/privsep.md), journald or not: that is the one test here for them.
 */
const journaled = MODE === 'helper' ? test.serial.skip : test.serial;

if (MODE === 'helper') {
  test.serial("installed helper: a member's log is their own file even where journald runs, and logs reads it", async (t) => {
    t.is((await cliJ(['connect', 'cbl', '--config', lab.config])).exitCode, 0);
    t.is((await cliJ(['disconnect', 'cbl'])).exitCode, 0);
    t.regex(fs.readFileSync(logOf('cbl'), 'utf8'), /cbl info {2}down \(disconnect requested\)/);
    t.regex((await cliJ(['logs', 'cbl'])).stdout, /cbl info {2}down \(disconnect requested\)$/m);
    t.is((await journalctl(['-o', 'cat', 'CLOUDBRIDGE_ENV=cbl'])).stdout.trim(), '', 'nothing of theirs in the journal');
    t.deepEqual(await leftovers(lab), []);
  });
}

/** runuser's words for the mode's user, in the user modes. */
const asUser = (): string[] => (AS_USER ? ['runuser', '-u', theActor().name, '--', 'env', `HOME=${theActor().home}`] : []);

function journalctl(args: readonly string[]): Promise<Ran> {
  return run('nsenter', [`--mount=${ns}`, '--', 'journalctl', '--no-pager', ...args]);
}

journaled('with journald running, the log goes to the journal, and logs reads it back', async (t) => {
  t.true(fs.existsSync(`/proc/${journald!.pid}/root/run/systemd/journal/socket`), 'journald is up');
  t.is((await cliJ(['connect', 'cbl', '--config', lab.config, '-vv'])).exitCode, 0);
  t.is((await run('ping', ['-c', '1', '-W', '2', '10.226.9.2'])).exitCode, 0);
  t.is((await cliJ(['disconnect', 'cbl'])).exitCode, 0);
  // a local user logs under our identifier and the environment's field: journald's _UID tells it apart
  const forged = "printf 'MESSAGE=forged by a user\\nSYSLOG_IDENTIFIER=cloudbridge\\nCLOUDBRIDGE_ENV=cbl\\n' | logger --journald";
  t.is((await run('nsenter', [`--mount=${ns}`, '--', 'runuser', '-u', 'nobody', '--', 'sh', '-c', forged])).exitCode, 0);
  t.regex((await journalctl(['-o', 'cat', 'CLOUDBRIDGE_ENV=cbl'])).stdout, /forged by a user/, 'the forged line is in the journal');
  const text = await cliJ(['logs', 'cbl']);
  t.is(text.exitCode, 0, text.stderr);
  t.notRegex(text.stdout, /forged/, 'and not in what logs shows');
  t.regex(text.stdout, /^\S+Z cbl info {2}connect: controller \d+, root@10\.226\.0\.2:22$/m);
  t.regex(text.stdout, /^\S+Z cbl debug ssh root@10\.226\.0\.2:22: Handshake completed$/m);
  t.regex(text.stdout, /^\S+Z cbl info {2}down \(disconnect requested\)$/m);
  const json = (await cliJ(['logs', 'cbl', '--json', '--since', '1h'])).stdout.trim().split('\n');
  t.true(json.map((l) => JSON.parse(l) as { level: string; message: string }).some((e) => e.level === 'info' && e.message === 'down (disconnect requested)'));
  // journalctl's own view: our identifier, the environment as a field, syslog priorities
  const raw = (await journalctl(['-o', 'json', '-t', 'cloudbridge', 'CLOUDBRIDGE_ENV=cbl'])).stdout.trim().split('\n');
  const entries = raw.map((l) => JSON.parse(l) as Record<string, string>);
  t.true(entries.some((e) => e['MESSAGE'] === 'down (disconnect requested)' && e['PRIORITY'] === '6'));
  t.true(entries.some((e) => e['PRIORITY'] === '7' && e['MESSAGE']!.includes('Handshake completed')));
  t.false(fs.existsSync('/var/log/cloudbridge/cbl.log'), 'no file beside the journal');
  t.deepEqual(await leftovers(lab), []);
});

journaled('logs -f follows the journal as the controller writes', async (t) => {
  // a process group of its own, stopped as a terminal's Ctrl-C stops one: under sudo the command is
  // root's, and sudo relays no signal sent from the group it was started in (its own caller's)
  const follow = execa('nsenter', [`--mount=${ns}`, '--', ...asUser(), process.execPath, CLI, 'logs', 'cbl', '-f', '--since', '1s'], {
    reject: false,
    detached: true,
  });
  let seen = '';
  follow.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
  try {
    await new Promise((r) => setTimeout(r, 500));
    t.is((await cliJ(['connect', 'cbl', '--config', lab.config])).exitCode, 0);
    t.is((await cliJ(['disconnect', 'cbl'])).exitCode, 0);
    for (let i = 0; i < 40 && !/down \(disconnect requested\)/.test(seen); i++) await new Promise((r) => setTimeout(r, 100));
    t.regex(seen, /^\S+Z cbl info {2}connect: controller \d+/m);
    t.regex(seen, /^\S+Z cbl info {2}down \(disconnect requested\)$/m);
  } finally {
    process.kill(-follow.pid!, 'SIGINT');
  }
  await follow;
  t.is((await run('pgrep', ['-f', 'journalctl --no-pager -o json SYSLOG_IDENTIFIER=cloudbridge'])).exitCode, 1, 'journalctl went with it');
  t.deepEqual(await leftovers(lab), []);
});

journaled('a failed connect names the journal, and its error is there', async (t) => {
  const cfg = variantConfig(lab, 'nodocker.yaml', [[`remoteSocket: ${lab.dir}/docker.sock`, 'remoteSocket: /nonexistent/docker.sock, required: true']]);
  const failed = await cliJ(['connect', 'cbl', '--config', cfg, '-v']);
  t.not(failed.exitCode, 0);
  const lines = failed.stderr.trim().split('\n');
  t.is(lines.at(-2), '  (kept in the journal (journalctl -t cloudbridge CLOUDBRIDGE_ENV=cbl): cloudbridge logs cbl)');
  t.regex(lines.at(-1)!, /^cloudbridge: docker at .* did not answer \/_ping/);
  t.regex((await cliJ(['logs', 'cbl', '--since', '1m'])).stdout, /cbl error connect failed: docker at .* did not answer \/_ping/);
  t.deepEqual(await leftovers(lab), []);
});

journaled("a controller's stderr reaches the journal as a stream of ours, at priority err", async (t) => {
  const script = `const { journalStream } = await import(${JSON.stringify(new URL('../../src/native/journald.js', import.meta.url).href)});
const { spawn } = await import('node:child_process');
const s = await journalStream();
const c = spawn('sh', ['-c', 'echo "a crash, as Node prints one" >&2'], { stdio: ['ignore', 'ignore', s] });
c.on('exit', () => s.destroy());`;
  const r = await run('nsenter', [`--mount=${ns}`, '--', process.execPath, '--input-type=module', '-e', script]);
  t.is(r.exitCode, 0, r.stderr);
  let entry: Record<string, string> | undefined;
  for (let i = 0; i < 40 && !entry; i++) {
    const out = (await journalctl(['-o', 'json', '-t', 'cloudbridge', '_TRANSPORT=stdout'])).stdout.trim();
    entry = out ? (JSON.parse(out.split('\n').at(-1)!) as Record<string, string>) : undefined;
    if (!entry) await new Promise((res) => setTimeout(res, 50));
  }
  t.is(entry?.['MESSAGE'], 'a crash, as Node prints one');
  t.is(entry?.['PRIORITY'], '3');
});

journaled('journald going away mid-run: the controller goes on in the file and says so', async (t) => {
  t.is((await cliJ(['connect', 'cbl', '--config', lab.config])).exitCode, 0);
  // the namespace lives on in the controller
  ns = `/proc/${(JSON.parse((await cliJ(['status', 'cbl', '--json'])).stdout) as { pid: number }[])[0]!.pid}/ns/mnt`;
  journald!.kill();
  await journald;
  journald = undefined;
  t.is((await cliJ(['disconnect', 'cbl'])).exitCode, 0);
  // root's file, or the sudo mode's: the dropped controller's own, in its user's state folder
  const file = fs.readFileSync(AS_USER ? `${theActor().home}/.local/state/cloudbridge/cbl.log` : '/var/log/cloudbridge/cbl.log', 'utf8');
  t.regex(file, /cbl warn {2}journald stopped taking lines \(errno \d+\); the log goes on here/);
  t.regex(file, /cbl info {2}down \(disconnect requested\)/);
  t.deepEqual(await leftovers(lab), []);
});
