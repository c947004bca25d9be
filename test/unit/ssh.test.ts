import { createHmac } from 'node:crypto';
import test from 'ava';
import { batchScript, parseBatchOutput } from '../../src/ssh/exec.js';
import { hostKeyName, hostMatches, keyTypeOfBlob, parseKnownHosts, verifyHostKey } from '../../src/ssh/knownHosts.js';
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
