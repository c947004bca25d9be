import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { batchScript, parseBatchOutput, type BatchResult } from '../../src/ssh/exec.js';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  hostKeyName,
  hostMatches,
  keyTypeOfBlob,
  parseKnownHosts,
  verifyHostKey,
  type KnownHostsEntry,
} from '../../src/ssh/knownHosts.js';
import { shellJoin, shellQuote } from '../../src/util/quote.js';

function blob(type: string, body: string): Buffer {
  const t = Buffer.from(type);
  const b = Buffer.from(body);
  const out = Buffer.alloc(8 + t.length + b.length);
  out.writeUInt32BE(t.length, 0);
  t.copy(out, 4);
  out.writeUInt32BE(b.length, 4 + t.length);
  b.copy(out, 8 + t.length);
  return out;
}

const keyA = blob('ssh-ed25519', 'A'.repeat(32));
const keyB = blob('ssh-ed25519', 'B'.repeat(32));
const keyR = blob('ssh-rsa', 'R'.repeat(64));

test("consecutive ip commands go in one ip -batch; iproute2's and BusyBox's ip both report each step, stopping at the first failure", (t) => {
  const show = ['ip', 'link', 'show', 'dev', 'lo'];
  const cmds = [show, show, ['ip', 'link', 'set', 'dev', 'cb-nosuch0', 'up'], ['true']];
  t.is(batchScript(cmds, false).match(/ip -batch/g)?.length, 1);
  t.notRegex(batchScript(cmds, true), /ip -batch/, 'undo keeps going past failures: one by one');
  t.notRegex(batchScript([show, ['ip', '-6', 'route', 'show']], false), /ip -batch/, 'a global option: its own process');
  t.notRegex(batchScript([show, ['ip', 'link', 'show', 'dev', 'a b']], false), /ip -batch/, 'a word ip would split otherwise');
  // the real binaries, read-only commands: a BusyBox ip (no -batch) through a PATH of its own
  const bb = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-bbip-'));
  t.teardown(() => fs.rmSync(bb, { recursive: true, force: true }));
  fs.symlinkSync(execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim(), path.join(bb, 'ip'));
  for (const [which, PATH] of [
    ['iproute2', process.env['PATH']!],
    ['busybox', `${bb}:${process.env['PATH']!}`],
  ] as const) {
    const run = (c: string[][]): BatchResult =>
      parseBatchOutput(spawnSync('sh', ['-c', batchScript(c, false)], { env: { PATH }, encoding: 'utf8' }).stdout, c.length);
    const r = run(cmds);
    t.is(r.done, 2, which);
    t.is(r.failures[0]?.index, 2, which);
    t.regex(r.failures[0]?.message ?? '', /cb-nosuch0|No such device/, which);
    t.like(run([cmds[2]!, show]), { done: 0, failures: [{ index: 0 }] }, `${which}: the first fails`);
    t.deepEqual(run([show, show]), { done: 2, failures: [] }, which);
  }
});

test('shell quoting survives every character', (t) => {
  t.is(shellQuote('tun0'), 'tun0');
  t.is(shellQuote(''), "''");
  t.is(shellQuote("it's"), `'it'\\''s'`);
  t.is(shellQuote('$(reboot)'), `'$(reboot)'`);
  t.is(shellJoin(['ip', 'addr', 'add', '10.0.0.1', 'dev', 'a b;c']), `ip addr add 10.0.0.1 dev 'a b;c'`);
});

test('batch script reports each step and stops at the first failure', (t) => {
  const script = batchScript([['true'], ['false'], ['echo', 'x y']], false);
  t.is(script.split('\n').length, 3);
  t.regex(script, /exit 1/);
  t.notRegex(batchScript([['true']], true), /exit 1/);
  t.deepEqual(parseBatchOutput('ok:0\nfail:1:nope\n', 3), { done: 1, failures: [{ index: 1, message: 'nope' }] });
  t.deepEqual(parseBatchOutput('ok:0\nok:1\nok:2\n', 3), { done: 3, failures: [] });
  t.deepEqual(parseBatchOutput('ok:0\n', 2), { done: 1, failures: [{ index: 1, message: 'remote shell ended early' }] });
  t.deepEqual(parseBatchOutput('fail:0:a\nok:1\nfail:2:\n', 3), {
    done: 0,
    failures: [
      { index: 0, message: 'a' },
      { index: 2, message: 'failed' },
    ],
  });
});

test('known_hosts names non-22 ports in brackets', (t) => {
  t.is(hostKeyName('h', 22), 'h');
  t.is(hostKeyName('10.0.0.2', 2200), '[10.0.0.2]:2200');
});

test('known_hosts: plain, lists, wildcards, negation', (t) => {
  t.true(hostMatches('a.example,b.example', 'b.example'));
  t.true(hostMatches('*.example', 'x.example'));
  t.false(hostMatches('*.example,!bad.example', 'bad.example'));
  t.false(hostMatches('a.example', 'a.example.evil'));
  t.true(hostMatches('[10.0.0.2]:2200', '[10.0.0.2]:2200'));
});

test('known_hosts: hashed entries match as ssh-keygen -H writes them', (t) => {
  const salt = Buffer.from('0123456789abcdef0123');
  const hash = createHmac('sha1', salt).update('bastion').digest('base64');
  const pattern = `|1|${salt.toString('base64')}|${hash}`;
  t.true(hostMatches(pattern, 'bastion'));
  t.false(hostMatches(pattern, 'bastion2'));
});

test('host key verdicts: known, changed, unknown, revoked', (t) => {
  const entries = parseKnownHosts(
    [
      '# comment',
      `bastion ssh-ed25519 ${keyA.toString('base64')}`,
      `other ssh-rsa ${keyR.toString('base64')}`,
      `@revoked * ssh-ed25519 ${keyB.toString('base64')}`,
      'garbage',
    ].join('\n'),
  );
  t.is(keyTypeOfBlob(keyA), 'ssh-ed25519');
  t.is(verifyHostKey(entries, 'bastion', keyA), 'known');
  t.is(verifyHostKey(entries, 'bastion', keyB), 'revoked');
  t.is(verifyHostKey(entries.slice(0, 2), 'bastion', keyB), 'changed');
  t.is(verifyHostKey(entries, 'newhost', keyA), 'unknown');
  t.is(verifyHostKey(entries, 'other', keyA), 'unknown');
});

test('host keys as OpenSSH decides: revoked and changed are refused under every setting, with the fingerprint and the fix', (t) => {
  const files: Record<string, string> = {
    '/u/known_hosts': `h ssh-ed25519 ${keyA.toString('base64')}\n@revoked * ssh-ed25519 ${keyB.toString('base64')}\n`,
    '/etc/ssh/ssh_known_hosts': `global ssh-ed25519 ${keyA.toString('base64')}\n`,
  };
  const added: string[] = [];
  const io = {
    read: (f: string): KnownHostsEntry[] => (f in files ? parseKnownHosts(files[f]!) : []),
    append: (f: string, name: string, key: Buffer): void => void added.push(`${f} ${name} ${keyTypeOfBlob(key)}`),
  };
  const policy = (strict: 'yes' | 'accept-new' | 'no') => ({
    knownHostsFile: '/u/known_hosts',
    globalKnownHostsFiles: ['/etc/ssh/ssh_known_hosts'],
    strictHostKeyChecking: strict,
  });
  const keyC = blob('ssh-ed25519', 'C'.repeat(32));
  t.is(fingerprint(keyA), `SHA256:${require_sha256(keyA)}`);
  for (const strict of ['yes', 'accept-new', 'no'] as const) {
    t.is(checkHostKey(policy(strict), 'h', keyA, io), undefined, `${strict}: known`);
    t.is(checkHostKey(policy(strict), 'global', keyA, io), undefined, `${strict}: known from the global file`);
    t.regex(
      checkHostKey(policy(strict), 'other', keyB, io)!,
      /^host key for other \(ssh-ed25519 SHA256:\S+\) is marked @revoked in \/u\/known_hosts/,
      `${strict}: revoked`,
    );
    t.is(
      checkHostKey(policy(strict), 'h', keyC, io),
      `HOST KEY FOR h HAS CHANGED: it is now ssh-ed25519 ${fingerprint(keyC)}, which does not match /u/known_hosts (or /etc/ssh/ssh_known_hosts); refusing to connect (if the change is expected: ssh-keygen -R h -f /u/known_hosts)`,
      `${strict}: changed`,
    );
  }
  t.is(
    checkHostKey(policy('yes'), 'new', keyC, io),
    `host key for new (ssh-ed25519 ${fingerprint(keyC)}) is not in /u/known_hosts (or /etc/ssh/ssh_known_hosts) (strictHostKeyChecking: yes); if it is right, add to /u/known_hosts: new ssh-ed25519 ${keyC.toString('base64')}`,
  );
  t.deepEqual(added, []);
  t.is(checkHostKey(policy('accept-new'), 'new', keyC, io), undefined);
  t.is(checkHostKey(policy('no'), 'new2', keyC, io), undefined);
  t.deepEqual(added, ['/u/known_hosts new ssh-ed25519', '/u/known_hosts new2 ssh-ed25519']);
  const failing = {
    ...io,
    append: () => {
      throw Object.assign(new Error('denied'), { code: 'EACCES' });
    },
  };
  t.is(checkHostKey(policy('accept-new'), 'new', keyC, failing), 'cannot add the host key for new to /u/known_hosts: EACCES');
  t.is(checkHostKey(policy('no'), 'new', keyC, failing), undefined, 'no: not being able to add it is no reason to refuse');
});

function require_sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('base64').replace(/=+$/, '');
}

test('HashKnownHosts yes: an accepted key is written with its name hashed, and ssh-keygen -F finds it there', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-hashed-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'known_hosts');
  const key = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]);
  appendKnownHost(file, '[web.example]:2222', key, true);
  appendKnownHost(file, 'plain.example', key);
  const [hashed, plain] = fs.readFileSync(file, 'utf8').trim().split('\n');
  t.regex(hashed!, /^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-ed25519 /);
  t.false(hashed!.includes('web.example'));
  t.true(plain!.startsWith('plain.example ssh-ed25519 '));
  t.is(verifyHostKey(parseKnownHosts(fs.readFileSync(file, 'utf8')), '[web.example]:2222', key), 'known');
  // OpenSSH's own reading of the file finds the hashed name
  t.regex(execFileSync('ssh-keygen', ['-F', '[web.example]:2222', '-f', file], { encoding: 'utf8' }), /Host \[web\.example\]:2222 found: line 1/);
});
