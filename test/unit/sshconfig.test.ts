import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { findEnvironment, parseConfigText } from '../../src/config/load.js';
import { pubkeyFilter } from '../../src/ssh/algorithms.js';
import { describeRoute, sshRouteFor } from '../../src/ssh/route.js';
import { hostPatternsMatch, parseProxyJump, parseSshConfig, readSshConfigFiles, resolveSshHost, type SshHostOptions } from '../../src/ssh/sshConfig.js';
import { localAddresses, matchExec, nameResolves, userShell } from '../../src/ssh/userCommand.js';
import { invokingUser } from '../../src/util/user.js';

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

Match host db* !originalhost db9
  User dbadmin

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

test('Match blocks apply where their criteria hold, keywords are case-insensitive, Key=value works', (t) => {
  t.is(resolveSshHost(files, 'db1', ctx).user, 'dbadmin');
  t.is(resolveSshHost(files, 'db9', ctx).user, 'fallback');
  const eq = resolveSshHost([parseSshConfig('HOST a\n  hostname=10.0.0.1\n  PORT = 23\n')], 'a', ctx);
  t.is(eq.hostName, '10.0.0.1');
  t.is(eq.port, 23);
});

/** Host and Match blocks that lean on each other; IdentitiesOnly for every local user but `except`. */
const matchBlocks = (except: string): string => `
Host web
  HostName web.corp.internal
Match host *.corp.internal
  ProxyJump bastion.corp
Match originalhost web
  Port 2200
Match user deploy
  IdentityFile ~/.ssh/deploy
Match !localuser ${except}
  IdentitiesOnly yes
`;

test('Match: host is the HostName so far, originalhost the name given, user the given one first', (t) => {
  const cfg = [
    parseSshConfig(`${matchBlocks('dev')}
Match all
  IdentityFile ~/.ssh/id_ed25519
`),
  ];
  const web = resolveSshHost(cfg, 'web', ctx);
  t.is(web.proxyJump, 'bastion.corp', 'matched on the HostName given before it');
  t.is(web.port, 2200);
  t.deepEqual(web.identityFiles, ['/home/dev/.ssh/id_ed25519']);
  t.is(web.identitiesOnly, undefined);
  t.deepEqual(resolveSshHost(cfg, 'web', ctx, 'deploy').identityFiles, ['/home/dev/.ssh/deploy', '/home/dev/.ssh/id_ed25519']);
  t.is(resolveSshHost(cfg, 'web', { home: '/root', localUser: 'root' }).identitiesOnly, true);
  const other = resolveSshHost(cfg, 'db.corp.internal', ctx);
  t.is(other.proxyJump, 'bastion.corp');
  t.is(other.port, undefined);
});

test('Match exec and localnetwork as ssh evaluates them (ssh -G agrees); commas belong to the command', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshexec-'));
  const text = `Match exec "test %h = app"
  User by-exec
Match !exec "false" host db
  Port 2201
Match exec "printf a,b | grep -q ,"
  IdentityFile ~/.ssh/id_commas
Host *
  IdentityFile ~/.ssh/id_ed25519
`;
  fs.writeFileSync(path.join(dir, 'config'), text);
  agreesWithSshG(t, path.join(dir, 'config'), [parseSshConfig(text)], ['app', 'db', 'other']);
  // localnetwork came with OpenSSH 9.4, after the ssh here: held to its manual instead
  const local = `${text}Match localnetwork 127.0.0.0/8\n  ProxyJump via-loopback\nMatch localnetwork 203.0.113.0/24,198.51.100.0/24\n  Port 9\n`;
  const ran: string[] = [];
  const with10 = { ...ctx, exec: (c: string) => (ran.push(c), c === 'test app = app'), localAddresses: ['10.0.0.5', '127.0.0.1'] };
  const app = resolveSshHost([parseSshConfig(local)], 'app', with10);
  t.is(app.user, 'by-exec');
  t.is(app.proxyJump, 'via-loopback');
  t.is(app.port, undefined, 'no interface in 203.0.113.0/24 or 198.51.100.0/24');
  t.is(resolveSshHost([parseSshConfig(local)], 'app', { ...with10, localAddresses: ['198.51.100.20'] }).port, 9);
  t.true(ran.includes('printf a,b | grep -q ,'));
  fs.rmSync(dir, { recursive: true });
});

test('Match: without the means to run exec or see interfaces, those blocks do not apply; final applies on a second reading', (t) => {
  const cfg = [
    parseSshConfig(`
Match exec "test -e /etc/vpn-up"
  ProxyJump never-a
Match !exec "true" host *
  ProxyJump never-b
Match localnetwork 10.0.0.0/8
  ProxyJump never-c
Match
  ProxyJump never-d
Host app
  HostName app.internal
Match final host *.internal
  User late
  Port 2201
Host *
  Port 22
`),
  ];
  const app = resolveSshHost(cfg, 'app', ctx);
  t.is(app.proxyJump, undefined);
  t.is(app.user, 'late', 'User was not set on the first reading');
  t.is(app.port, 22, 'Port was: first value wins across readings');
  t.is(resolveSshHost(cfg, 'other', ctx).user, undefined);
});

test("resolution agrees with OpenSSH's own (ssh -G) on Host and Match blocks", (t) => {
  const text = `${matchBlocks('nobody-here')}
Match exec "false"
  ProxyJump never
Host app db?
  HostName %h.internal
Match final host *.internal !originalhost db9
  User late
  Port 2201
Match all
  IdentityFile ~/.ssh/id_ed25519
Host *
  Port 22
`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshg-'));
  const file = path.join(dir, 'ssh_config');
  fs.writeFileSync(file, text);
  agreesWithSshG(t, file, [parseSshConfig(text)], ['web', 'deploy@web', 'app', 'db1', 'db9', 'other']);
  fs.rmSync(dir, { recursive: true });
});

/** For each host spec, the fields cloudbridge uses, resolved from `blocks`, equal what `ssh -G -F file` prints. */
function agreesWithSshG(t: ExecutionContext, file: string, blocks: ReturnType<typeof parseSshConfig>[], specs: readonly string[]): void {
  const localUser = os.userInfo().username;
  // home "~": the files come out as ssh -G prints them; Match exec and localnetwork evaluated as connect does
  const here = { home: '~', localUser, exec: matchExec(invokingUser()), localAddresses: localAddresses() };
  for (const spec of specs) {
    const [givenUser, name] = spec.includes('@') ? (spec.split('@') as [string, string]) : [undefined, spec];
    const g = new Map<string, string[]>();
    for (const line of execFileSync('ssh', ['-G', '-F', file, spec], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')) {
      const [k, ...v] = line.split(' ');
      if (k) g.set(k, [...(g.get(k) ?? []), v.join(' ')]);
    }
    const o = resolveSshHost(blocks, name, here, givenUser);
    t.deepEqual(
      {
        hostname: o.hostName ?? name.toLowerCase(),
        user: givenUser ?? o.user ?? localUser,
        port: String(o.port ?? 22),
        proxyjump: o.proxyJump,
        identitiesonly: o.identitiesOnly ? 'yes' : 'no',
        identityfile: o.identityFiles,
        certificatefile: o.certificateFiles.length ? o.certificateFiles : undefined,
        proxycommand: o.proxyCommand,
      },
      {
        hostname: g.get('hostname')![0],
        user: g.get('user')![0],
        port: g.get('port')![0],
        proxyjump: g.get('proxyjump')?.[0],
        identitiesonly: g.get('identitiesonly')![0],
        identityfile: g.get('identityfile'),
        certificatefile: g.get('certificatefile'),
        proxycommand: g.get('proxycommand')?.[0],
      },
      spec,
    );
  }
}

test("Include as ssh reads it: an included file's Host blocks stay theirs, an Include inside a Host block applies only there (ssh -G agrees)", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshinc-'));
  fs.mkdirSync(path.join(dir, 'conf.d'));
  const write = (name: string, body: string): void => fs.writeFileSync(path.join(dir, name), body);
  write('conf.d/00-defaults.conf', 'IdentitiesOnly yes\n');
  write('conf.d/10-bastion.conf', 'Host bastion\n  HostName 198.51.100.7\n  User ops\n');
  write('conf.d/20-app.conf', 'Host app\n  HostName 10.1.2.3\n  ProxyJump bastion\n  CertificateFile ~/.ssh/app-cert.pub\n  Include ' + dir + '/nested.conf\n');
  write('nested.conf', 'Port 2201\n');
  write('web.conf', 'Port 2022\nHost other\n  User bystander\n');
  // ProxyCommand and ProxyJump: whichever comes first wins
  write(
    'conf.d/30-proxies.conf',
    'Host ssm\n  ProxyCommand sh -c "aws ssm start-session --target %h --document-name AWS-StartSSHSession --parameters \'portNumber=%p\'"\n  ProxyJump bastion\nHost jumpfirst\n  ProxyJump bastion\n  ProxyCommand nc %h %p\n',
  );
  const text = `Include ${dir}/conf.d/*.conf\nHost web\n  Include ${dir}/web.conf\n  User webber\nHost *\n  User fallback\n  IdentityFile ~/.ssh/id_ed25519\n`;
  write('config', text);
  const blocks = readSshConfigFiles([path.join(dir, 'config')], '/nonexistent-home');
  t.is(resolveSshHost(blocks, 'bastion', ctx).proxyJump, undefined, "the jump host does not inherit the target's ProxyJump");
  t.is(resolveSshHost(blocks, 'other', ctx).user, 'fallback', 'a Host block included inside Host web applies only with web');
  agreesWithSshG(t, path.join(dir, 'config'), blocks, ['bastion', 'app', 'web', 'other', 'unrelated', 'ssm', 'jumpfirst']);
  t.is(resolveSshHost(blocks, 'ssm', ctx).proxyJump, undefined);
  fs.rmSync(dir, { recursive: true });
});

test("Include: relative paths are under ~/.ssh for the user's files and /etc/ssh for the system file; globs and nesting", (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-home-'));
  fs.mkdirSync(path.join(home, '.ssh/config.d'), { recursive: true });
  fs.writeFileSync(path.join(home, '.ssh/config'), 'Include config.d/*\n');
  fs.writeFileSync(path.join(home, '.ssh/config.d/a'), 'Host a\n  Port 1001\n  Include more\n');
  fs.writeFileSync(path.join(home, '.ssh/more'), 'User from-more\n');
  const blocks = readSshConfigFiles([path.join(home, '.ssh/config')], home);
  const a = resolveSshHost(blocks, 'a', ctx);
  t.is(a.port, 1001);
  t.is(a.user, 'from-more');
  t.is(resolveSshHost(blocks, 'b', ctx).user, undefined);
  fs.rmSync(home, { recursive: true });
});

test('ProxyJump values: user@host:port lists and none', (t) => {
  t.deepEqual(parseProxyJump('a, u@b:2200,[fe80::1]:22'), [
    { user: undefined, host: 'a', port: undefined },
    { user: 'u', host: 'b', port: 2200 },
    { user: undefined, host: 'fe80::1', port: 22 },
  ]);
  t.deepEqual(parseProxyJump('none'), []);
  // the user is what comes before the last @ (ssh.c's parse_user_host_port); ssh:// URIs as parse_ssh_uri reads them
  t.deepEqual(parseProxyJump('first.last@corp.example@bastion:2222'), [{ user: 'first.last@corp.example', host: 'bastion', port: 2222 }]);
  t.deepEqual(parseProxyJump('ssh://ops@bastion:2200,ssh://[fe80::1]'), [
    { user: 'ops', host: 'bastion', port: 2200 },
    { user: undefined, host: 'fe80::1', port: undefined },
  ]);
  t.throws(() => parseProxyJump('@bastion'), { message: /cannot read/ });
});

test('a chain as ssh -J walks it: the last jump is reached through the rest, overriding its own ProxyJump and ProxyCommand', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshchain-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'ssh_config');
  // b's own ProxyJump a (and a ProxyCommand) would dial a twice: ssh -J a b ignores both for b
  fs.writeFileSync(cfg, 'Host target\n  ProxyJump a,b\nHost b\n  ProxyJump a\n  ProxyCommand nc %h %p\nHost a\n  HostName 198.51.100.7\n  ProxyJump edge\n');
  const env = findEnvironment(
    parseConfigText(`environments:\n  e:\n    host: target\n    sshConfig: ${cfg}\n    tunnel: false\n`, '/c.yaml', '/home/dev'),
    'e',
  );
  const route = sshRouteFor(env, { name: 'dev', uid: process.getuid!(), gid: process.getgid!(), home: '/home/dev' });
  // the first of the chain keeps its own ProxyJump (edge), as ssh reaches it without -J
  t.deepEqual(
    route.jumps.map((j) => [j.name, j.proxyCommand]),
    [
      ['edge', undefined],
      ['a', undefined],
      ['b', undefined],
    ],
  );
  // what ssh -G says of b when it is reached as ssh does: -J a b
  const b = execFileSync('ssh', ['-G', '-F', cfg, '-J', 'a', 'b'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.regex(b, /^proxyjump a$/m);
  t.notRegex(b, /^proxycommand /m);
});

test('route: chains of jumps in order, cloudbridge settings win for the target', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshcfg-'));
  fs.chmodSync(dir, 0o755); // ssh_config is read with the (made-up) invoking user's rights
  const cfg = path.join(dir, 'ssh_config');
  fs.writeFileSync(
    cfg,
    `
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
`,
  );
  const user = { name: 'dev', uid: 1000, gid: 1000, home: '/home/dev' };
  const load = (extra: string) =>
    findEnvironment(
      parseConfigText(
        `
environments:
  e:
    host: target
    sshConfig: ${cfg}
${extra}    tunnel: { local: 10.9.0.1, remote: 10.9.0.2 }
`,
        path.join(dir, 'c.yaml'),
        '/home/dev',
      ),
      'e',
    );
  const route = sshRouteFor(load(''), user);
  t.deepEqual(
    route.jumps.map((j) => [j.name, j.host, j.port, j.user]),
    [
      ['outer', '198.51.100.7', 2201, 'dev'],
      ['inner', '10.4.0.2', 22, 'dev'],
    ],
  );
  t.deepEqual([route.target.host, route.target.user], ['10.5.0.2', 'admin']);
  t.deepEqual(route.target.keepalive, { intervalSeconds: 7, countMax: 3 });
  t.is(route.jumps[0]!.keepalive, undefined);
  t.is(describeRoute(route), 'admin@10.5.0.2:22 via dev@198.51.100.7:2201, dev@10.4.0.2:22');
  const overridden = sshRouteFor(load('    user: root\n    port: 2022\n    deadAfter: 9\n'), user);
  t.deepEqual([overridden.target.user, overridden.target.port, overridden.target.keepalive], ['root', 2022, undefined]);
  fs.writeFileSync(cfg, 'Host loop\n  ProxyJump loop\n');
  t.throws(
    () =>
      sshRouteFor(
        findEnvironment(
          parseConfigText(
            `
environments:
  e:
    host: loop
    sshConfig: ${cfg}
    tunnel: { local: 10.9.0.1, remote: 10.9.0.2 }
`,
            path.join(dir, 'c.yaml'),
            '/home/dev',
          ),
          'e',
        ),
        user,
      ),
    { message: /longer than 10 hops/ },
  );
  fs.rmSync(dir, { recursive: true });
});

test("ProxyCommand's tokens as ssh_config(5) lists them; any other is named", async (t) => {
  const { expandProxyCommand } = await import('../../src/ssh/proxyCommand.js');
  const hop = { name: 'stg', host: '10.1.2.3', port: 2222, user: 'ops' } as Parameters<typeof expandProxyCommand>[1];
  t.is(expandProxyCommand('nc -X 5 -x proxy:1080 %h %p # %r %n 100%%', hop), 'nc -X 5 -x proxy:1080 10.1.2.3 2222 # ops stg 100%');
  t.throws(() => expandProxyCommand('tsh proxy ssh %C', hop), { message: 'ssh_config: ProxyCommand for stg "tsh proxy ssh %C": ssh knows no token %C there' });
});

test('what ssh would do and cloudbridge does not is named, with what to do instead; Debian defaults stay quiet', (t) => {
  const o = resolveSshHost(
    [
      parseSshConfig(
        'Host app\n  ControlMaster auto\n  ControlPath ~/.ssh/cm-%r@%h:%p\n  PKCS11Provider /usr/lib/opensc-pkcs11.so\n  LocalForward 8080 localhost:80\nHost *\n  SendEnv LANG LC_*\n  HashKnownHosts yes\n  GSSAPIAuthentication yes\n  ControlMaster no\n',
      ),
    ],
    'app',
    ctx,
  );
  t.deepEqual(o.unsupported, [
    'ControlMaster auto (cloudbridge keeps its own connection and shares none)',
    "PKCS11Provider /usr/lib/opensc-pkcs11.so (load the token's keys into ssh-agent (ssh-add -s) instead)",
    'LocalForward 8080 (use forwards: in the cloudbridge config)',
  ]);
  t.deepEqual(resolveSshHost([parseSshConfig('Host *\n  GSSAPIAuthentication yes\n  ControlMaster no\n')], 'other', ctx).unsupported, []);
});

test("doctor's referee: ssh -G's reading of each hop beside cloudbridge's, a difference named field by field", async (t) => {
  const { sshGFindings } = await import('../../src/cli/referee.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-referee-'));
  const file = path.join(dir, 'ssh_config');
  fs.writeFileSync(
    file,
    `Host web\n  HostName 10.1.1.1\n  User deploy\n  Port 2200\n  IdentitiesOnly yes\n  ConnectTimeout 7\n  IdentityAgent ${dir}/agent_%r.sock\n`,
  );
  fs.writeFileSync(path.join(dir, 'c.yaml'), `environments:\n  web:\n    host: web\n    sshConfig: ${file}\n    tunnel: false\n`, { mode: 0o600 });
  const env = findEnvironment(parseConfigText(fs.readFileSync(path.join(dir, 'c.yaml'), 'utf8'), path.join(dir, 'c.yaml'), '/root'), 'web');
  const user = invokingUser();
  const route = sshRouteFor(env, user);
  // user and port from ssh_config: ssh -G finds them itself (not given -l and -p), so a wrong reading of ours shows
  t.deepEqual(route.target.fromSshConfig, { user: true, port: true });
  t.deepEqual(sshGFindings(env, route, user), [{ ok: true, what: 'ssh -G web agrees: deploy@10.1.1.1:2200' }]);
  const wrong = {
    jumps: [],
    target: { ...route.target, host: '10.9.9.9', user: 'other', identitiesOnly: false, connectTimeout: undefined, identityAgent: null },
  };
  const [f] = sshGFindings(env, wrong, user);
  t.false(f!.ok);
  t.is(
    f!.what,
    `ssh -G web differs: hostname ssh "10.1.1.1", cloudbridge "10.9.9.9"; user ssh "deploy", cloudbridge "other"; identitiesonly ssh "yes", cloudbridge "no"; connecttimeout ssh "7", cloudbridge "none"; identityagent ssh "${dir}/agent_deploy.sock", cloudbridge "none"`,
  );
  fs.rmSync(dir, { recursive: true });
});

test("a comment after a line's words, Match criterion=value, and an Include glob that skips dotfiles, as ssh -G reads them", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshcm-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'conf.d'));
  // an editor's backup and a disabled file: ssh's glob leaves dotfiles out
  fs.writeFileSync(path.join(dir, 'conf.d/.old-web'), 'Host web\n  IdentityFile ~/.ssh/from-dotfile\n');
  fs.writeFileSync(path.join(dir, 'conf.d/web.conf'), 'Host web\n  IdentityFile ~/.ssh/from-visible\n');
  const text = `Include ${dir}/conf.d/*
Match host=web user=deploy # production web
  Port 2201
Match host web # a comment, not a criterion
  HostName web.internal
Host *
  User fallback # trailing
  IdentityFile ~/.ssh/id_ed25519
`;
  fs.writeFileSync(path.join(dir, 'config'), text);
  const blocks = readSshConfigFiles([path.join(dir, 'config')], '/nonexistent-home');
  const web = resolveSshHost(blocks, 'web', ctx, 'deploy');
  t.is(web.port, 2201);
  t.is(web.hostName, 'web.internal');
  t.deepEqual(web.identityFiles, ['/home/dev/.ssh/from-visible', '/home/dev/.ssh/id_ed25519'], 'not the dotfile');
  t.is(resolveSshHost(blocks, 'web', ctx).user, 'fallback');
  agreesWithSshG(t, path.join(dir, 'config'), blocks, ['web', 'deploy@web', 'other']);
});

test('UserKnownHostsFile with several files: all read, the first written; BatchMode yes means ServerAliveInterval 300 (ssh -G agrees)', (t) => {
  const text =
    'Host several\n  UserKnownHostsFile ~/.ssh/known_a ~/.ssh/known_b\nHost batch\n  BatchMode yes\nHost batch-own\n  BatchMode yes\n  ServerAliveInterval 15\n';
  const blocks = [parseSshConfig(text)];
  const several = resolveSshHost(blocks, 'several', ctx);
  t.is(several.userKnownHostsFile, '/home/dev/.ssh/known_a');
  t.deepEqual(several.moreUserKnownHostsFiles, ['/home/dev/.ssh/known_b']);
  t.is(resolveSshHost(blocks, 'batch', ctx).serverAliveInterval, 300);
  t.is(resolveSshHost(blocks, 'batch-own', ctx).serverAliveInterval, 15);
  t.is(resolveSshHost(blocks, 'other', ctx).serverAliveInterval, undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshkh-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'config'), text);
  const g = (spec: string, key: string): string | undefined =>
    execFileSync('ssh', ['-G', '-F', path.join(dir, 'config'), spec], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')
      .find((l) => l.startsWith(`${key} `))
      ?.slice(key.length + 1);
  t.is(g('several', 'userknownhostsfile')?.split(' ').length, 2);
  t.is(g('batch', 'serveraliveinterval'), '300');
  t.is(g('batch-own', 'serveraliveinterval'), '15');
  // the route reads both files, writes the first
  const env = findEnvironment(
    parseConfigText(`environments:\n  e:\n    host: several\n    sshConfig: ${path.join(dir, 'config')}\n    tunnel: false\n`, '/c.yaml', '/home/dev'),
    'e',
  );
  // this process's own uid reads the test's files (a folder of its own)
  const route = sshRouteFor(env, { name: 'dev', uid: process.getuid!(), gid: process.getgid!(), home: '/home/dev' });
  t.is(route.target.knownHostsFile, '/home/dev/.ssh/known_a');
  t.deepEqual(route.target.globalKnownHostsFiles.slice(0, 1), ['/home/dev/.ssh/known_b']);
});

test('case as ssh has it: Host lines match the name as typed, Match criteria without case, HostName lowercased (ssh -G agrees)', (t) => {
  const text =
    'Host Web\n  Port 2201\nMatch originalhost Db\n  User matched\nHost other\n  HostName MixedCase.Example.COM\nHost *\n  IdentityFile ~/.ssh/id_ed25519\n';
  const blocks = [parseSshConfig(text)];
  t.is(resolveSshHost(blocks, 'Web', ctx).port, 2201);
  t.is(resolveSshHost(blocks, 'web', ctx).port, undefined, 'Host Web is not web');
  t.is(resolveSshHost(blocks, 'db', ctx).user, 'matched', 'Match compares without case');
  t.is(resolveSshHost(blocks, 'other', ctx).hostName, 'mixedcase.example.com');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshcase-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'config'), text);
  agreesWithSshG(t, path.join(dir, 'config'), blocks, ['Web', 'web', 'db', 'DB', 'other', 'Upper']);
});

test("tokens and ${VAR} in file names and IdentityAgent, as ssh expands them; Match exec's too (ssh -G agrees)", (t) => {
  const me = os.userInfo();
  const mine = { home: me.homedir, localUser: me.username, uid: me.uid, env: { ...process.env, CB_TOKEN_TEST: 'from-env' } };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshtok-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const seen = path.join(dir, 'seen');
  const text = [
    'Host tok',
    '  HostName Tok.Example',
    '  User deploy',
    '  Port 2222',
    '  HostKeyAlias tok-alias',
    '  UserKnownHostsFile ~/kh_%C_%L_%l_%i_%k_%n_%h_%p_%r_%u_%d_%%_${CB_TOKEN_TEST}',
    '  IdentityAgent ~/agent/%C/%i.sock',
    '  IdentityFile ~/.ssh/id_%r@%h_${CB_TOKEN_TEST}',
    // Match exec sees %k as HostKeyAlias so far, %C %i and the rest as ssh builds them there
    `Match originalhost exec-tok exec "echo %C %i %k %l %L %n %h %p %r %u > ${seen}"`,
    '  User matched',
    'Host agent-none',
    '  IdentityAgent none',
    'Host agent-env',
    '  IdentityAgent SSH_AUTH_SOCK',
    'Host agent-var',
    '  IdentityAgent $CB_TOKEN_TEST',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'config'), text);
  const g = (spec: string, key: string): string | undefined =>
    execFileSync('ssh', ['-G', '-F', path.join(dir, 'config'), spec], { encoding: 'utf8', env: mine.env, stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')
      .find((l) => l.startsWith(`${key} `))
      ?.slice(key.length + 1);
  const blocks = [parseSshConfig(text)];
  const tok = resolveSshHost(blocks, 'tok', mine);
  t.is(tok.userKnownHostsFile, g('tok', 'userknownhostsfile'));
  t.regex(tok.userKnownHostsFile!, /_[0-9a-f]{40}_.*_tok-alias_tok_tok\.example_2222_deploy_.*_%_from-env$/);
  t.is(tok.identityAgent, g('tok', 'identityagent'));
  // ssh -G prints IdentityFile before expanding it: the same expansion, by hand
  t.deepEqual(tok.identityFiles, [path.join(me.homedir, '.ssh/id_deploy@tok.example_from-env')]);
  t.is(resolveSshHost(blocks, 'agent-none', mine).identityAgent, null);
  t.is(resolveSshHost(blocks, 'agent-env', { ...mine, env: { SSH_AUTH_SOCK: '/tmp/a.sock' } }).identityAgent, '/tmp/a.sock');
  t.is(resolveSshHost(blocks, 'agent-var', mine).identityAgent, 'from-env');
  t.is(resolveSshHost(blocks, 'agent-var', { ...mine, env: {} }).identityAgent, null, 'an unset variable: no agent, as ssh unsets SSH_AUTH_SOCK');
  t.is(resolveSshHost(blocks, 'other', mine).identityAgent, undefined);
  // Match exec: what ssh's command wrote, and what ours writes
  g('exec-tok', 'user');
  const bySsh = fs.readFileSync(seen, 'utf8');
  fs.rmSync(seen);
  const ran = resolveSshHost(blocks, 'exec-tok', { ...mine, exec: (cmd) => (execFileSync('sh', ['-c', cmd]), true) });
  t.is(ran.user, 'matched');
  t.is(fs.readFileSync(seen, 'utf8'), bySsh);
});

test('a token ssh does not know, or a variable that is not set, is refused as ssh refuses it', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshtok-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [line, says] of [
    ['UserKnownHostsFile ~/kh_%z', /UserKnownHostsFile "~\/kh_%z": ssh knows no token %z there/],
    ['IdentityFile ~/id_${CB_NOT_SET_ANYWHERE}', /IdentityFile "~\/id_\$\{CB_NOT_SET_ANYWHERE\}": \$\{CB_NOT_SET_ANYWHERE\} is not set/],
    ['IdentityAgent ~/a_${', /IdentityAgent "~\/a_\$\{": \$\{ without a variable name and a closing \}/],
  ] as const) {
    const text = `Host bad\n  ${line}\n`;
    t.throws(() => resolveSshHost([parseSshConfig(text)], 'bad', ctx), { message: says });
    if (!line.startsWith('IdentityFile')) {
      // ssh -G stops on the same line (IdentityFile it expands only when it loads keys, after -G prints)
      fs.writeFileSync(path.join(dir, 'config'), text);
      t.throws(() => execFileSync('ssh', ['-G', '-F', path.join(dir, 'config'), 'bad'], { stdio: 'pipe' }), undefined, line);
    }
  }
});

test("Match exec and ProxyCommand run in the user's shell, as ssh runs them in $SHELL (ssh -G agrees)", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshshell-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // bash's test syntax: dash (/bin/sh here) fails it
  const text = 'Match exec "[[ abc == a* ]]"\n  User bashed\n';
  fs.writeFileSync(path.join(dir, 'config'), text);
  const blocks = [parseSshConfig(text)];
  const me = invokingUser();
  for (const shell of ['/bin/bash', '/bin/sh']) {
    const bySsh = execFileSync('ssh', ['-G', '-F', path.join(dir, 'config'), 'h'], {
      encoding: 'utf8',
      env: { ...process.env, SHELL: shell },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const theirs = /^user (.*)$/m.exec(bySsh)![1]!;
    const user = { ...me, shell };
    const ours = resolveSshHost(blocks, 'h', { home: me.home, localUser: me.name, exec: matchExec(user) }).user ?? me.name;
    t.is(ours, theirs, shell);
  }
  t.is(resolveSshHost(blocks, 'h', { home: me.home, localUser: me.name, exec: matchExec({ ...me, shell: '/bin/bash' }) }).user, 'bashed');
  t.throws(() => userShell({ ...me, shell: `${dir}/no-such-shell` }), { message: new RegExp(`no-such-shell \\(${me.name}'s\\), is not executable: ENOENT`) });
});

test('a config ssh refuses is refused with its reason: an unknown keyword, a value it does not know, an Include loop, a user config others may write (ssh -G agrees)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshbad-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const me = invokingUser();
  const sshG = (config: string): number => {
    try {
      execFileSync('ssh', ['-G', '-F', config, 'h'], { stdio: 'pipe' });
      return 0;
    } catch (err) {
      return (err as { status: number }).status;
    }
  };
  const resolve = (config: string): SshHostOptions => resolveSshHost(readSshConfigFiles([config], me.home), 'h', { home: me.home, localUser: me.name });
  // a macOS line in an included file, in a block that does not even apply: ssh refuses the config
  fs.writeFileSync(path.join(dir, 'mac.conf'), 'Host other\n  UseKeychain yes\n');
  fs.writeFileSync(path.join(dir, 'config'), `Include ${dir}/mac.conf\nHost h\n  User u\n`);
  t.not(sshG(path.join(dir, 'config')), 0);
  t.throws(() => resolve(path.join(dir, 'config')), { message: new RegExp(`ssh_config: ${dir}/mac\\.conf line 2: Bad configuration option: usekeychain`) });
  // IgnoreUnknown before it: both read it
  fs.writeFileSync(path.join(dir, 'config'), `IgnoreUnknown UseKeychain,AddKeysTo*\nInclude ${dir}/mac.conf\nHost h\n  User u\n`);
  t.is(sshG(path.join(dir, 'config')), 0);
  t.is(resolve(path.join(dir, 'config')).user, 'u');
  // after it: too late, for ssh as for us
  fs.writeFileSync(path.join(dir, 'config'), `Include ${dir}/mac.conf\nIgnoreUnknown UseKeychain\nHost h\n  User u\n`);
  t.not(sshG(path.join(dir, 'config')), 0);
  t.throws(() => resolve(path.join(dir, 'config')), { message: /Bad configuration option: usekeychain/ });
  // a CanonicalizeHostname value ssh does not know ("none" is not one), even in a block that does not apply
  for (const value of ['foo', 'none']) {
    fs.writeFileSync(path.join(dir, 'canon'), `Host other\n  CanonicalizeHostname ${value}\nHost h\n  User u\n`);
    t.not(sshG(path.join(dir, 'canon')), 0);
    t.throws(() => resolve(path.join(dir, 'canon')), { message: new RegExp(`canon line 2: unsupported option "${value}" for CanonicalizeHostname`) });
  }
  fs.writeFileSync(path.join(dir, 'canon'), 'Host h\n  CanonicalizeHostname No\n  User u\n');
  t.is(sshG(path.join(dir, 'canon')), 0);
  t.is(resolve(path.join(dir, 'canon')).user, 'u');
  // a file that includes itself: refused, not left out
  fs.writeFileSync(path.join(dir, 'loop'), `Host h\n  User looped\nInclude ${dir}/loop\n`);
  t.not(sshG(path.join(dir, 'loop')), 0);
  t.throws(() => resolve(path.join(dir, 'loop')), { message: /Too many recursive configuration includes/ });
  // the user's own ~/.ssh/config that others may write: ssh will not read it
  const home = path.join(dir, 'home');
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
  fs.writeFileSync(path.join(home, '.ssh', 'config'), 'Host h\n  User mine\n', { mode: 0o664 });
  fs.chmodSync(path.join(home, '.ssh', 'config'), 0o664);
  t.throws(() => readSshConfigFiles([path.join(home, '.ssh', 'config')], home), { message: /Bad owner or permissions on .*\/home\/\.ssh\/config/ });
  fs.chmodSync(path.join(home, '.ssh', 'config'), 0o644);
  t.is(resolveSshHost(readSshConfigFiles([path.join(home, '.ssh', 'config')], home), 'h', { home, localUser: me.name }).user, 'mine');
  // one that cannot be opened is skipped, as ssh skips it
  t.deepEqual(readSshConfigFiles([path.join(dir, 'no-such-file')], home), []);
});

test('Ciphers, KexAlgorithms, HostKeyAlgorithms, MACs: assembled as ssh assembles them (+ - ^, wildcards), what ssh2 does not speak said', async (t) => {
  const { assemble } = await import('../../src/ssh/algorithms.js');
  const defaults = ['a-gcm', 'b-gcm', 'c-ctr'];
  const supported = [...defaults, 'd-ctr', 'e-cbc'];
  t.deepEqual(assemble('Ciphers', '+d-ctr,zz', defaults, supported), { list: ['a-gcm', 'b-gcm', 'c-ctr', 'd-ctr'], left: ['zz'] });
  t.deepEqual(assemble('Ciphers', '-*-gcm', defaults, supported), { list: ['c-ctr'], left: [] });
  t.deepEqual(assemble('Ciphers', '^e-cbc', defaults, supported), { list: ['e-cbc', 'a-gcm', 'b-gcm', 'c-ctr'], left: [] });
  t.deepEqual(assemble('Ciphers', '*-ctr,a-gcm', defaults, supported), { list: ['c-ctr', 'd-ctr', 'a-gcm'], left: [] });
  t.throws(() => assemble('KexAlgorithms', 'sntrup761x25519-sha512@openssh.com', defaults, supported), {
    message: /^ssh_config: KexAlgorithms sntrup761x25519-sha512@openssh\.com: cloudbridge speaks none of these \(it speaks a-gcm/,
  });
  // read per host, first value wins; the target's Ciphers give way to cloudbridge's own ciphers:
  const text = 'Host h\n  Ciphers aes256-gcm@openssh.com\n  KexAlgorithms -diffie-hellman*\n  MACs hmac-sha2-512\nHost *\n  Ciphers aes128-ctr\n';
  const o = resolveSshHost([parseSshConfig(text)], 'h', ctx);
  t.deepEqual(o.algorithms, { Ciphers: 'aes256-gcm@openssh.com', KexAlgorithms: '-diffie-hellman*', MACs: 'hmac-sha2-512' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshalg-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'config'), text);
  const cfg = (extra: string): ReturnType<typeof findEnvironment> =>
    findEnvironment(
      parseConfigText(`environments:\n  e:\n    host: h\n    sshConfig: ${path.join(dir, 'config')}\n    tunnel: false\n${extra}`, '/c.yaml', '/home/dev'),
      'e',
    );
  const user = { name: 'dev', uid: process.getuid!(), gid: process.getgid!(), home: '/home/dev' };
  t.is(sshRouteFor(cfg(''), user).target.algorithms.Ciphers, 'aes256-gcm@openssh.com');
  t.is(sshRouteFor(cfg('    ciphers: [chacha20-poly1305@openssh.com]\n'), user).target.algorithms.Ciphers, undefined);
  // ssh2 speaks what we hand it: the names ssh2 lists as its own
  const { SSH2_ALGORITHMS } = await import('../../src/ssh2/algorithms.js');
  t.true(SSH2_ALGORITHMS.kex.supported.includes('curve25519-sha256'));
  t.deepEqual(
    assemble('KexAlgorithms', '-diffie-hellman*', SSH2_ALGORITHMS.kex.defaults, SSH2_ALGORITHMS.kex.supported).list.filter((k) => k.startsWith('diffie')),
    [],
  );
});

test('ConnectTimeout: a server that takes the connection and says nothing is given up on after it, as ssh gives up', async (t) => {
  const net = await import('node:net');
  const { connectSsh } = await import('../../src/ssh/session.js');
  const { ed25519Key } = await import('./sshKey.js');
  const silent = net.createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => silent.close());
  const port = (silent.address() as { port: number }).port;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sshto-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'id'), ed25519Key(), { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'config'), `Host quiet\n  HostName 127.0.0.1\n  Port ${port}\n  ConnectTimeout 1\n  IdentityFile ${dir}/id\n`);
  const env = findEnvironment(
    parseConfigText(
      `environments:\n  e:\n    host: quiet\n    sshConfig: ${dir}/config\n    knownHostsFile: ${dir}/known_hosts\n    tunnel: false\n    connectTimeout: 20\n`,
      '/c.yaml',
      '/home/dev',
    ),
    'e',
  );
  const user = { name: 'dev', uid: process.getuid!(), gid: process.getgid!(), home: '/home/dev' };
  const route = sshRouteFor(env, user);
  t.is(route.target.connectTimeout, 1);
  const started = Date.now();
  await t.throwsAsync(connectSsh(env, route, { user, agent: '/nonexistent' }), {
    message: `cannot reach 127.0.0.1:${port}: no SSH banner within 1s (ssh_config ConnectTimeout)`,
  });
  const took = Date.now() - started;
  t.true(took >= 900 && took < 3000, `${took} ms`);
});

test('a connection started before ssh2 loads (transport.ts) and refused meanwhile: connect says so in one line, as it does without', async (t) => {
  const net = await import('node:net');
  const { connectSsh } = await import('../../src/ssh/session.js');
  const { hopLimits, startTransport } = await import('../../src/ssh/transport.js');
  const { ed25519Key } = await import('./sshKey.js');
  // a port nobody listens on: taken, then let go
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as { port: number }).port;
  await new Promise((r) => taken.close(r));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-early-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'id'), ed25519Key(), { mode: 0o600 });
  const env = findEnvironment(
    parseConfigText(
      `environments:\n  e:\n    host: 127.0.0.1\n    port: ${port}\n    identityFile: ${dir}/id\n    sshConfig: ${dir}/none\n    tunnel: false\n`,
      '/c.yaml',
      '/home/dev',
    ),
    'e',
  );
  const user = { name: 'dev', uid: process.getuid!(), gid: process.getgid!(), home: '/home/dev' };
  const route = sshRouteFor(env, user);
  const transport = startTransport(route, hopLimits(env), { user });
  t.is(transport.kind, 'tcp');
  if (transport.kind === 'tcp') await new Promise((r) => transport.ring.socket.once('close', r));
  await t.throwsAsync(connectSsh(env, route, { user, agent: '/nonexistent', transport }), { message: `cannot reach 127.0.0.1:${port}: ECONNREFUSED` });
});

test('CanonicalizeHostname: a second pass whenever it is on, Host lines then matched against the host, not the alias (ssh -G agrees)', (t) => {
  // no name here resolves (.invalid never does): what is held against ssh -G is the passes, not DNS
  const text = `
Host web
  HostName Web.Internal
Host web.internal
  User deploy
  Port 2222
Host db
  CanonicalizeHostname yes
  CanonicalDomains nothere.invalid
Host strict
  CanonicalizeHostname yes
  CanonicalDomains nothere.invalid
  CanonicalizeFallbackLocal no
Host proxied
  CanonicalizeHostname yes
  ProxyJump web
Match canonical
  IdentityFile ~/.ssh/canonical
Match final !host web.internal
  CertificateFile ~/.ssh/final-cert.pub
`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-canon-'));
  const file = path.join(dir, 'ssh_config');
  fs.writeFileSync(file, text);
  try {
    const blocks = [parseSshConfig(text)];
    agreesWithSshG(t, file, blocks, ['web', 'db', 'proxied', 'other']);
    // the final pass (Match final) matched Host web.internal against the host web became
    t.like(resolveSshHost(blocks, 'web', ctx), { hostName: 'web.internal', user: 'deploy', port: 2222 });
    // CanonicalizeFallbackLocal no and nothing resolves: ssh refuses, and so do we
    t.throws(() => execFileSync('ssh', ['-G', '-F', file, 'strict'], { stdio: 'pipe' }));
    t.throws(() => resolveSshHost(blocks, 'strict', ctx), { message: /^ssh_config: Could not resolve host "strict" in any of CanonicalDomains/ });
    // the lookup connect makes: getaddrinfo in a child, as the user
    const resolves = nameResolves(invokingUser());
    t.true(resolves('localhost'));
    t.false(resolves('nothere.invalid.'));
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

test('CanonicalizeHostname: the first CanonicalDomains suffix that resolves, within CanonicalizeMaxDots, not through a proxy unless always', (t) => {
  // what getaddrinfo would find, for the names tried (with their final dot, as ssh asks)
  const known = new Set(['web.corp.example.', 'a.b.corp.example.', 'fq.example.']);
  const asked: string[] = [];
  const dns = { ...ctx, resolves: (n: string) => (asked.push(n), known.has(n)) };
  const blocks = [
    parseSshConfig(`
Host always
  HostName web
  ProxyJump bastion
  CanonicalizeHostname always
Host *
  CanonicalizeHostname yes
  CanonicalDomains lab.example corp.example
Host web.corp.example
  User canon
Host jumped
  HostName web
  ProxyJump bastion
`),
  ];
  t.like(resolveSshHost(blocks, 'web', dns), { hostName: 'web.corp.example', user: 'canon' });
  t.deepEqual(asked.splice(0), ['web.lab.example.', 'web.corp.example.'], 'in order, with the final dot');
  t.like(resolveSshHost(blocks, 'a.b', dns), { hostName: 'a.b.corp.example' }, 'one dot: within CanonicalizeMaxDots 1');
  asked.length = 0;
  t.is(resolveSshHost(blocks, 'a.b.c', dns).hostName, 'a.b.c', 'two dots: used as given');
  t.deepEqual(asked, []);
  t.is(resolveSshHost(blocks, 'fq.example.', dns).hostName, 'fq.example', 'a final dot: asked as it is');
  t.is(resolveSshHost(blocks, 'jumped', dns).hostName, 'web', 'through a jump host the name is for it to resolve');
  t.is(resolveSshHost(blocks, 'web', dns, undefined, true).hostName, 'web', 'a chain given (-J) counts as a jump host');
  t.is(resolveSshHost(blocks, 'always', dns).hostName, 'web.corp.example', 'always: through it too');
  t.is(resolveSshHost(blocks, 'WEB', dns).hostName, 'web.corp.example', 'lowercased before it is tried');
  t.is(resolveSshHost(blocks, '10.0.0.1', dns).hostName, '10.0.0.1', 'an address is never tried as a name');
});

test('PubkeyAcceptedAlgorithms: a key or certificate goes out only when a signature its type makes is on the list', (t) => {
  t.is(pubkeyFilter(undefined), undefined, 'no line: everything is offered');
  const edOnly = pubkeyFilter('ssh-ed25519,ssh-ed25519-cert-v01@openssh.com')!;
  t.deepEqual(['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ssh-ed25519-cert-v01@openssh.com', 'ssh-rsa-cert-v01@openssh.com'].map(edOnly), [
    true,
    false,
    false,
    true,
    false,
  ]);
  // an RSA key makes rsa-sha2-512 and -256 (and SHA-1 ssh-rsa): any of them on the list lets it go out
  t.true(pubkeyFilter('rsa-sha2-256')!('ssh-rsa'));
  t.false(pubkeyFilter('-rsa-sha2-*')!('ssh-rsa'), 'the defaults less both SHA-2 RSA signatures: ssh-rsa is not among them');
  t.true(pubkeyFilter('+ssh-rsa')!('ssh-rsa'));
  t.false(pubkeyFilter('-*cert*')!('ssh-ed25519-cert-v01@openssh.com'));
  t.true(pubkeyFilter('^ecdsa-sha2-nistp256')!('ecdsa-sha2-nistp256'));
});
