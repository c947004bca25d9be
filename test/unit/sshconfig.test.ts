import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { findEnvironment, parseConfigText } from '../../src/config/load.js';
import { describeRoute, sshRouteFor } from '../../src/ssh/route.js';
import { hostPatternsMatch, parseProxyJump, parseSshConfig, resolveSshHost } from '../../src/ssh/sshConfig.js';

const ctx = { home: '/home/dev', localUser: 'dev' };
const text = `
# global first lines apply everywhere
ServerAliveInterval 20

Host *.prod.acme !bastion.prod.acme
  ProxyJump bastion.prod.acme
  User deploy
  IdentityFile ~/.ssh/prod_key

Host bastion.prod.acme
  HostName 203.0.113.10
  Port 2222
  User jump
  IdentityFile %d/.ssh/bastion_%r

Host web web.prod.acme !db.prod.acme
  HostName %h.internal
  IdentitiesOnly yes
  StrictHostKeyChecking accept-new

Match host db*
  User nobody-should-see-this

Host *
  User fallback
  IdentityFile ~/.ssh/id_ed25519
  UserKnownHostsFile ~/.ssh/known_hosts_%h
`;
const files = [parseSshConfig(text)];

test('patterns: wildcards, lists and negation, as ssh matches Host lines', (t) => {
  t.true(hostPatternsMatch(['*.prod.acme'], 'web.prod.acme'));
  t.false(hostPatternsMatch(['web', '!web'], 'web'));
  t.false(hostPatternsMatch(['*.prod.acme', '!db.prod.acme'], 'db.prod.acme'));
  t.true(hostPatternsMatch(['db?'], 'db1'));
});

test('first value wins, IdentityFile accumulates in order, tokens expand', (t) => {
  const web = resolveSshHost(files, 'web.prod.acme', ctx);
  t.is(web.user, 'deploy');
  t.is(web.hostName, 'web.prod.acme.internal');
  t.is(web.proxyJump, 'bastion.prod.acme');
  t.deepEqual(web.identityFiles, ['/home/dev/.ssh/prod_key', '/home/dev/.ssh/id_ed25519']);
  t.true(web.identitiesOnly);
  t.is(web.strictHostKeyChecking, 'accept-new');
  t.is(web.serverAliveInterval, 20);
  t.is(web.userKnownHostsFile, '/home/dev/.ssh/known_hosts_web.prod.acme.internal');
  const bastion = resolveSshHost(files, 'bastion.prod.acme', ctx);
  t.is(bastion.port, 2222);
  t.is(bastion.user, 'jump');
  t.deepEqual(bastion.identityFiles, ['/home/dev/.ssh/bastion_jump', '/home/dev/.ssh/id_ed25519']);
});

test('Match blocks are skipped, keywords are case-insensitive, Key=value works', (t) => {
  const db = resolveSshHost(files, 'db1', ctx);
  t.is(db.user, 'fallback');
  const eq = resolveSshHost([parseSshConfig('HOST a\n  hostname=10.0.0.1\n  PORT = 23\n')], 'a', ctx);
  t.is(eq.hostName, '10.0.0.1');
  t.is(eq.port, 23);
});

test('ProxyJump values: user@host:port lists and none', (t) => {
  t.deepEqual(parseProxyJump('a, u@b:2200,[fe80::1]:22'), [
    { user: undefined, host: 'a', port: undefined },
    { user: 'u', host: 'b', port: 2200 },
    { user: undefined, host: 'fe80::1', port: 22 },
  ]);
  t.deepEqual(parseProxyJump('none'), []);
});

test('route: chains of jumps in order, cloudbridge settings win for the target', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshcfg-'));
  const cfg = path.join(dir, 'ssh_config');
  fs.writeFileSync(cfg, `
Host target
  HostName 10.5.0.2
  ProxyJump inner
  User admin
  ServerAliveInterval 7
Host inner
  HostName 10.4.0.2
  ProxyJump outer
Host outer
  HostName 198.51.100.7
  Port 2201
`);
  const user = { name: 'dev', uid: 1000, gid: 1000, home: '/home/dev' };
  const load = (extra: string) => findEnvironment(parseConfigText(`
environments:
  e:
    host: target
    sshConfig: ${cfg}
${extra}    tunnel: { local: 10.9.0.1, remote: 10.9.0.2 }
`, path.join(dir, 'c.yaml'), '/home/dev'), 'e');
  const route = sshRouteFor(load(''), user);
  t.deepEqual(route.jumps.map((j) => [j.name, j.host, j.port, j.user]), [['outer', '198.51.100.7', 2201, 'dev'], ['inner', '10.4.0.2', 22, 'dev']]);
  t.deepEqual([route.target.host, route.target.user], ['10.5.0.2', 'admin']);
  t.deepEqual(route.target.keepalive, { intervalSeconds: 7, countMax: 3 });
  t.is(route.jumps[0]!.keepalive, undefined);
  t.is(describeRoute(route), 'admin@10.5.0.2:22 via dev@198.51.100.7:2201, dev@10.4.0.2:22');
  const overridden = sshRouteFor(load('    user: root\n    port: 2022\n    deadAfter: 9\n'), user);
  t.deepEqual([overridden.target.user, overridden.target.port, overridden.target.keepalive], ['root', 2022, undefined]);
  fs.writeFileSync(cfg, 'Host loop\n  ProxyJump loop\n');
  t.throws(() => sshRouteFor(findEnvironment(parseConfigText(`
environments:
  e:
    host: loop
    sshConfig: ${cfg}
    tunnel: { local: 10.9.0.1, remote: 10.9.0.2 }
`, path.join(dir, 'c.yaml'), '/home/dev'), 'e'), user), { message: /longer than 10 hops/ });
  fs.rmSync(dir, { recursive: true });
});
