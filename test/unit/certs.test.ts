import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { caSignatureProblem, certificateProblem, parseCertificate } from '../../src/ssh/certs.js';
import { checkHostKey, parseKnownHosts } from '../../src/ssh/knownHosts.js';

// Certificates made by ssh-keygen itself (no hand-built fixtures): every CA key type signs a
// host key, and the parser and the CA check must agree with what ssh-keygen wrote.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-certs-'));
const keygen = (...args: string[]): string => execFileSync('ssh-keygen', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const blobOf = (file: string): Buffer => Buffer.from(fs.readFileSync(file, 'utf8').trim().split(/\s+/)[1]!, 'base64');
keygen('-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/host`);

function signed(ca: string, caType: string[], opts: string[]): Buffer {
  if (!fs.existsSync(`${dir}/${ca}`)) keygen('-q', ...caType, '-N', '', '-f', `${dir}/${ca}`);
  fs.copyFileSync(`${dir}/host.pub`, `${dir}/h-${ca}.pub`);
  keygen('-q', '-s', `${dir}/${ca}`, ...opts, `${dir}/h-${ca}.pub`);
  return blobOf(`${dir}/h-${ca}-cert.pub`);
}

test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

for (const [ca, type] of [
  ['ca-ed25519', ['-t', 'ed25519']],
  ['ca-ecdsa', ['-t', 'ecdsa', '-b', '384']],
  ['ca-rsa', ['-t', 'rsa', '-b', '2048']],
] as const) {
  test(`a host certificate signed by an ${ca.slice(3)} CA: parsed as ssh-keygen -L reads it, the CA's signature holds, a changed byte breaks it`, (t) => {
    const blob = signed(ca, [...type], ['-I', 'web-1', '-h', '-n', 'web.example,10.0.0.*', '-z', '42', '-V', '-5m:+1h']);
    const cert = parseCertificate(blob);
    t.is(cert.type, 'ssh-ed25519-cert-v01@openssh.com');
    t.deepEqual(cert.key, blobOf(`${dir}/host.pub`));
    t.deepEqual(cert.signatureKey, blobOf(`${dir}/${ca}.pub`));
    t.is(cert.keyId, 'web-1');
    t.is(cert.serial, 42n);
    t.deepEqual(cert.principals, ['web.example', '10.0.0.*']);
    t.is(caSignatureProblem(cert), undefined);
    t.is(certificateProblem(cert, 'host', 'web.example'), undefined);
    t.is(certificateProblem(cert, 'host', '10.0.0.7'), undefined, 'principals are patterns for hosts');
    t.is(certificateProblem(cert, 'host', 'db.example'), 'Certificate invalid: name is not a listed principal');
    t.is(certificateProblem(cert, 'user', undefined), 'Certificate invalid: not a user certificate');
    const tampered = Buffer.from(blob);
    tampered[tampered.indexOf(Buffer.from('web-1')) + 4]! ^= 1;
    t.is(caSignatureProblem(parseCertificate(tampered)), 'Certificate signature is not valid');
  });
}

test('host keys of every type inside a certificate come out as their plain public keys', (t) => {
  for (const [name, type] of [
    ['hk-ecdsa', ['-t', 'ecdsa', '-b', '256']],
    ['hk-ecdsa521', ['-t', 'ecdsa', '-b', '521']],
    ['hk-rsa', ['-t', 'rsa', '-b', '2048']],
  ] as const) {
    keygen('-q', ...type, '-N', '', '-f', `${dir}/${name}`);
    keygen('-q', '-s', `${dir}/ca-ed25519`, '-I', name, '-h', '-n', 'h', `${dir}/${name}.pub`);
    const cert = parseCertificate(blobOf(`${dir}/${name}-cert.pub`));
    t.deepEqual(cert.key, blobOf(`${dir}/${name}.pub`), name);
    t.is(caSignatureProblem(cert), undefined, name);
  }
});

test('validity and principals as OpenSSH words them', (t) => {
  const old = parseCertificate(signed('ca-ed25519', ['-t', 'ed25519'], ['-I', 'old', '-h', '-n', 'web.example', '-V', '20200101:20200102']));
  t.is(certificateProblem(old, 'host', 'web.example'), 'Certificate invalid: expired');
  const later = parseCertificate(signed('ca-ed25519', ['-t', 'ed25519'], ['-I', 'later', '-h', '-n', 'web.example', '-V', '+1d:+2d']));
  t.is(certificateProblem(later, 'host', 'web.example'), 'Certificate invalid: not yet valid');
  const nobody = parseCertificate(signed('ca-ed25519', ['-t', 'ed25519'], ['-I', 'anyone', '-h']));
  t.is(certificateProblem(nobody, 'host', 'web.example'), 'Certificate lacks principal list');
});

test('known_hosts: @cert-authority vouches for a host certificate; @revoked on the CA refuses it; no CA judges the plain key', (t) => {
  const blob = signed('ca-ed25519', ['-t', 'ed25519'], ['-I', 'web-1', '-h', '-n', 'web.example', '-V', '-5m:+1h']);
  const caLine = `@cert-authority *.example,web.example ${fs.readFileSync(`${dir}/ca-ed25519.pub`, 'utf8').trim()}`;
  const policy = { knownHostsFile: '/k', globalKnownHostsFiles: [], strictHostKeyChecking: 'yes' as const };
  const check = (text: string, name = 'web.example'): string | undefined =>
    checkHostKey(policy, name, blob, { read: () => parseKnownHosts(text), append: () => assert.fail('nothing is appended') });
  t.is(check(caLine), undefined);
  t.regex(check(caLine, '[web.example]:2222') ?? '', /not in \/k/, 'a pattern without the port does not speak for [host]:port');
  t.regex(
    check(`${caLine}\n@revoked * ${fs.readFileSync(`${dir}/ca-ed25519.pub`, 'utf8').trim()}`) ?? '',
    /its CA \(ssh-ed25519 SHA256:.*\) is marked @revoked/,
  );
  t.regex(check(`@revoked * ${fs.readFileSync(`${dir}/host.pub`, 'utf8').trim()}\n${caLine}`) ?? '', /its key \(SHA256:.*\) is marked @revoked/);
  t.regex(
    check(caLine, 'db.example') ?? '',
    /^host certificate for db\.example \(ssh-ed25519-cert-v01@openssh\.com id "web-1" .*\): Certificate invalid: name is not a listed principal; refusing to connect$/,
  );
  // no CA line: the certified key is judged as a plain host key
  t.is(check(`web.example ${fs.readFileSync(`${dir}/host.pub`, 'utf8').trim()}`), undefined);
  t.regex(check('') ?? '', /^host key for web\.example \(ssh-ed25519 SHA256:/);
});

const assert = {
  fail: (m: string): never => {
    throw new Error(m);
  },
};
