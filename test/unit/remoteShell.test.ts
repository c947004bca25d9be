import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { execRemote, runRemote } from '../../src/ssh/exec.js';
import { MAX_OUTPUT } from '../../src/ssh/remoteShell.js';
import { connect, type Pair } from './sshPair.js';
import { factsScript } from '../../src/daemon/remote.js';
import { envOf } from './configs.js';

// The remote shell (src/ssh/remoteShell.ts) against ssh2's own Server, whose
// exec runs each command line in a real `sh -c`, as sshd runs it through the
// user's shell: what the commands see is what a remote host's shell gives.

/** A pair whose server runs execs in sh with `env`; `execs` counts the exec requests it served. */
async function shellPair(env: NodeJS.ProcessEnv = process.env): Promise<Pair & { execs: string[] }> {
  const p = await connect('aes128-gcm@openssh.com', { ring: false });
  const execs: string[] = [];
  p.peer.on('session', (accept) => {
    const session = accept();
    session.on('exec', (acceptExec, _reject, info) => {
      execs.push(info.command);
      const ch = acceptExec();
      const child = spawn('sh', ['-c', info.command], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      ch.pipe(child.stdin);
      child.stdout.pipe(ch, { end: false });
      child.stderr.pipe(ch.stderr, { end: false });
      child.stdin.on('error', () => undefined);
      child.on('close', (code) => {
        ch.exit(code ?? 1);
        ch.end();
      });
    });
  });
  return Object.assign(p, { execs });
}

test('one shell runs a session’s commands in order, each with its own output and exit code', async (t) => {
  const p = await shellPair();
  try {
    const a = await execRemote(p.client, ['sh', '-c', 'echo out; echo err >&2; exit 3'], { sudo: false });
    t.deepEqual(a, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    // no newline at the end, and a command that reads its stdin: it gets EOF, not the next command
    t.deepEqual(await execRemote(p.client, ['printf', '%s', 'no newline'], { sudo: false }), { code: 0, stdout: 'no newline', stderr: '' });
    t.deepEqual(await execRemote(p.client, ['cat'], { sudo: false }), { code: 0, stdout: '', stderr: '' });
    // what one command does to its shell (cd, a variable, exit) stays in its subshell
    await runRemote(p.client, ['sh', '-c', 'cd /'], { sudo: false });
    t.is(await runRemote(p.client, ['sh', '-c', 'exit 0; echo never'], { sudo: false }), '');
    t.is(await runRemote(p.client, ['echo', "it's", '$HOME', 'a b'], { sudo: false }), "it's $HOME a b\n");
    // output that looks like a marker without this shell's random part is output
    t.is(await runRemote(p.client, ['printf', '\n@@cb-0000000000000000 7\n'], { sudo: false }), '\n@@cb-0000000000000000 7\n');
    t.is(p.execs.length, 1, 'one exec: the shell');
    t.regex(p.execs[0]!, /exec sh$/);
  } finally {
    p.close();
  }
});

test('a command that comes while the shell is busy gets an exec of its own', async (t) => {
  const p = await shellPair();
  try {
    const slow = execRemote(p.client, ['sh', '-c', 'sleep 0.3; echo slow'], { sudo: false });
    const quick = await execRemote(p.client, ['echo', 'quick'], { sudo: false });
    t.is(quick.stdout, 'quick\n');
    t.is((await slow).stdout, 'slow\n');
    t.is(p.execs.length, 2);
    t.regex(p.execs[1]!, /exec echo quick$/);
    t.is((await execRemote(p.client, ['echo', 'again'], { sudo: false })).stdout, 'again\n', 'the shell is free again');
    t.is(p.execs.length, 2);
  } finally {
    p.close();
  }
});

test('where sudo will not run a shell, each command is an exec through sudo, as before', async (t) => {
  // a sudo that allows anything but a shell (a sudoers rule naming ip, iptables, sysctl)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sudo-'));
  fs.writeFileSync(path.join(dir, 'sudo'), '#!/bin/sh\nshift\n[ "$1" = sh ] && { echo "sudo: sorry, not allowed to run sh" >&2; exit 1; }\nexec "$@"\n', {
    mode: 0o755,
  });
  const p = await shellPair({ ...process.env, PATH: `${dir}:${process.env['PATH']}` });
  try {
    t.is(await runRemote(p.client, ['echo', 'one'], { sudo: true }), 'one\n');
    t.is(await runRemote(p.client, ['echo', 'two'], { sudo: true }), 'two\n');
    t.deepEqual(
      p.execs.map((c) => c.replace(/^PATH=\S+ exec /, '')),
      ['sudo -n sh', 'sudo -n echo one', 'sudo -n echo two'],
    );
    // without sudo the shell is another one, and it works
    t.is(await runRemote(p.client, ['echo', 'three'], { sudo: false }), 'three\n');
  } finally {
    p.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('output past the bound fails that command, not the controller', async (t) => {
  const p = await shellPair();
  try {
    const bytes = MAX_OUTPUT + 4096;
    await t.throwsAsync(execRemote(p.client, ['head', '-c', String(bytes), '/dev/zero'], { sudo: false }), { message: /more than \d+ bytes/ });
    t.is(await runRemote(p.client, ['echo', 'after'], { sudo: false }), 'after\n', 'an exec of its own once the shell is gone');
  } finally {
    p.close();
  }
});

test("the facts script, run by this host's sh, reads what cat reads (a sysctl file gives read no newline)", (t) => {
  const env = envOf('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2, local6: "fd00:99::1", remote6: "fd00:99::2" }\n    nat: true\n');
  const out = execFileSync('sh', ['-c', factsScript(env, env.tunnel!)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [names = '', ip4 = '', , ip6 = ''] = out.split('@@\n');
  t.deepEqual(names.split(/\s+/).filter(Boolean).sort(), fs.readdirSync('/sys/class/net').sort());
  t.is(ip4.trim(), fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim());
  const six = '/proc/sys/net/ipv6/conf/all/forwarding';
  t.is(ip6.trim(), fs.existsSync(six) ? fs.readFileSync(six, 'utf8').trim() : '', 'a missing file reads as nothing, not the section before');
});
