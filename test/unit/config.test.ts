import test from 'ava';
import { UserError } from '../../src/util/errors.js';
import { cidrsOverlap, formatIPv4, parseCidr, parseIPv4 } from '../../src/config/ipv4.js';
import { deviceFor } from '../../src/config/names.js';
import { badOwnerOrMode, configCandidates, findEnvironment, parseConfigText } from '../../src/config/load.js';

const ctx = { source: '/etc/cloudbridge/config.yaml', home: '/home/dev' };
const minimal = `
environments:
  staging:
    host: bastion.example.test
    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }
`;

function error(text: string): string {
  const err = (() => {
    try {
      parseConfigText(text, ctx.source, ctx.home);
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  if (!(err instanceof UserError)) throw new Error(`expected a UserError for:\n${text}`);
  return err.message;
}

test('IPv4 parsing and formatting round-trip', (t) => {
  t.is(parseIPv4('10.0.0.1'), 0x0a000001);
  t.is(formatIPv4(0xc0a80001), '192.168.0.1');
  for (const bad of ['10.0.0', '10.0.0.256', '1.2.3.4.5', 'a.b.c.d', '01234.1.1.1', '']) t.is(parseIPv4(bad), undefined, bad);
});

test('CIDRs: host bits must be zero, overlap is symmetric', (t) => {
  t.deepEqual(parseCidr('10.1.0.0/16'), { addr: 0x0a010000, prefix: 16 });
  t.is(parseCidr('10.1.0.1/16'), undefined);
  t.is(parseCidr('10.1.0.0/33'), undefined);
  t.deepEqual(parseCidr('10.1.2.3'), { addr: 0x0a010203, prefix: 32 });
  t.true(cidrsOverlap(parseCidr('10.0.0.0/8')!, parseCidr('10.2.0.0/16')!));
  t.true(cidrsOverlap(parseCidr('10.2.0.0/16')!, parseCidr('10.0.0.0/8')!));
  t.false(cidrsOverlap(parseCidr('10.2.0.0/16')!, parseCidr('10.3.0.0/16')!));
});

test('defaults fill a minimal environment', (t) => {
  const env = findEnvironment(parseConfigText(minimal, ctx.source, ctx.home), 'staging');
  t.is(env.user, 'root');
  t.is(env.port, 22);
  t.is(env.knownHostsFile, '/home/dev/.ssh/known_hosts');
  t.is(env.strictHostKeyChecking, 'yes');
  t.is(env.tunnel?.mtu, 16000);
  t.true(env.tunnel?.mtuAuto);
  t.is(env.tunnel?.device, 'cb-staging');
  t.deepEqual(env.routes, []);
  t.false(env.nat);
  t.is(env.docker.mode, 'socket');
  t.is(env.docker.remoteSocket, '/var/run/docker.sock');
});

test('tcp docker host defaults to the remote tunnel address', (t) => {
  const env = findEnvironment(parseConfigText(minimal.replace('tunnel:', 'docker: { mode: tcp }\n    tunnel:'), ctx.source, ctx.home), 'staging');
  t.is(env.docker.host, 'tcp://10.99.0.2:2375');
  t.false(env.docker.warm);
});

test('docker.warm: on by default in socket mode, can be turned off, means nothing elsewhere', (t) => {
  const docker = (d: string) =>
    findEnvironment(parseConfigText(minimal.replace('tunnel:', `docker: ${d}\n    tunnel:`), ctx.source, ctx.home), 'staging').docker;
  t.true(findEnvironment(parseConfigText(minimal, ctx.source, ctx.home), 'staging').docker.warm);
  t.false(docker('{ warm: false }').warm);
  t.is(
    error(minimal.replace('tunnel:', 'docker: { mode: tcp, warm: true }\n    tunnel:')),
    '/etc/cloudbridge/config.yaml: environments.staging.docker.warm: only applies to mode: socket',
  );
  t.is(
    error(minimal.replace('tunnel:', 'docker: { warm: 1 }\n    tunnel:')),
    '/etc/cloudbridge/config.yaml: environments.staging.docker.warm: must be true or false',
  );
});

test('relative paths resolve against the config file, ~ against the invoking user', (t) => {
  const env = findEnvironment(
    parseConfigText(minimal.replace('host:', 'identityFile: keys/id\n    knownHostsFile: ~/kh\n    host:'), ctx.source, ctx.home),
    'staging',
  );
  t.deepEqual(env.identityFiles, ['/etc/cloudbridge/keys/id']);
  t.is(env.knownHostsFile, '/home/dev/kh');
});

test('errors name the file, the environment and the field', (t) => {
  t.is(
    error(minimal.replace('10.99.0.2', '10.99.0.300')),
    '/etc/cloudbridge/config.yaml: environments.staging.tunnel.remote: "10.99.0.300" is not an IPv4 address',
  );
  t.is(
    error(`${minimal}    tunnel2: 1\n`),
    '/etc/cloudbridge/config.yaml: environments.staging.tunnel2: unknown field (did you mean tunnel? expected one of: host, user, port, identityFile, knownHostsFile, strictHostKeyChecking, sshConfig, connectTimeout, deadAfter, onDemand, idleTimeout, tunnel, routes, exclude, lan, onLoss, nat, docker, dns, allow, forwards, socks, localMasquerade, ciphers)',
  );
  t.regex(error(`${minimal}    identityfile: ~/.ssh/id\n`), /environments\.staging\.identityfile: unknown field \(did you mean identityFile\? /);
  t.regex(error(`${minimal}    zzz: 1\n`), /environments\.staging\.zzz: unknown field \(expected one of: /);
  t.regex(error(minimal.replace('staging:', 'default:')), /environments\.default: "default" is the name of docker's own context: pick another/);
  t.regex(error(`${minimal}    routes: [10.1.0.1/16]\n`), /environments\.staging\.routes\.0: "10\.1\.0\.1\/16" is not an IPv4 CIDR/);
  t.regex(error(`${minimal}    routes: [172.16.0.0/12, 172.17.0.0/16]\n`), /routes\.1: "172\.17\.0\.0\/16" overlaps "172\.16\.0\.0\/12"/);
  t.regex(
    error(`${minimal}    routes: [10.0.0.0/8]\n`),
    /routes\.0: "10\.0\.0\.0\/8" covers the tunnel's own address 10\.99\.0\.\d: pick tunnel addresses outside the routes/,
  );
  t.regex(error(minimal.replace('remote: 10.99.0.2', 'remote: 10.99.0.2, mtu: 70000')), /tunnel\.mtu: must be an integer from 576 to 16000/);
  t.regex(error(`${minimal}    strictHostKeyChecking: maybe\n`), /strictHostKeyChecking: must be one of: yes, accept-new, no/);
  t.regex(error(`${minimal}    docker: { mode: socket, host: tcp://1.2.3.4:2375 }\n`), /docker\.host: only applies to mode: tcp/);
  t.regex(error(minimal.replace('host: bastion.example.test', 'host: -oProxyCommand=x')), /environments\.staging\.host: .* is not a host name/);
  t.regex(error(minimal.replace('staging:', 'Staging Env:')), /environments\.Staging Env: environment names are/);
  t.regex(error('environments: [1, 2]'), /^\/etc\/cloudbridge\/config\.yaml: environments: is required: a mapping/);
  t.regex(error('environments:\n  a: {\n'), /^\/etc\/cloudbridge\/config\.yaml(:\d+:\d+)?: not valid YAML/);
  t.regex(error('environments:\n  a:\n    host: x\n   bad indent: 1\n'), /^\/etc\/cloudbridge\/config\.yaml:4:\d+: not valid YAML/, 'line and column');
  // YAML 1.2's core schema, as before the parser changed (config/load.ts): a key twice, two documents, nothing at all
  t.regex(error(`${minimal}    nat: true\n    nat: false\n`), /config\.yaml:\d+:\d+: not valid YAML: duplicated mapping key/);
  t.regex(error(`${minimal}---\n${minimal}`), /config\.yaml: not valid YAML: one document only, found 2/);
  t.is(error(''), error('# nothing here\n'));
  t.regex(error(`${minimal}    nat: yes\n`), /nat: must be true or false/, '"yes" is a string in YAML 1.2');
});

test("dns: domain names and IPv4 servers (default: the remote host's), remote container names", (t) => {
  const env = findEnvironment(
    parseConfigText(`${minimal}    dns: { domains: [vpc.internal, svc.cluster.local], servers: [10.0.0.2] }\n`, ctx.source, ctx.home),
    'staging',
  );
  t.deepEqual(env.dns, { domains: ['vpc.internal', 'svc.cluster.local'], servers: ['10.0.0.2'], containers: false, all: false });
  const own = findEnvironment(parseConfigText(`${minimal}    dns: { domains: [vpc.internal], containers: true }\n`, ctx.source, ctx.home), 'staging');
  t.deepEqual(own.dns, { domains: ['vpc.internal'], servers: [], containers: true, all: false });
  t.regex(error(`${minimal}    docker: { mode: off }\n    dns: { containers: true }\n`), /dns\.containers: needs docker mode socket or tcp/);
  t.regex(error(`${minimal}    dns: { domains: ['a b'], servers: [10.0.0.2] }\n`), /dns\.domains\.0: "a b" is not a domain name/);
  t.regex(error(`${minimal}    dns: { domains: ['x/../../etc'], servers: [10.0.0.2] }\n`), /dns\.domains\.0: .* is not a domain name/);
  t.regex(error(`${minimal}    dns: { domains: [a.b], servers: [resolver] }\n`), /dns\.servers\.0: "resolver" is not an IPv4 or IPv6 address/);
});

test('unknown environment lists the configured ones', (t) => {
  const config = parseConfigText(minimal, ctx.source, ctx.home);
  t.throws(() => findEnvironment(config, 'prod'), {
    instanceOf: UserError,
    message: 'unknown environment "prod" in /etc/cloudbridge/config.yaml (configured: staging)',
  });
});

test('config lookup order: --config, $CLOUDBRIDGE_CONFIG, invoking user, system', (t) => {
  const user = { name: 'dev', uid: 1000, gid: 1000, home: '/home/dev' };
  t.deepEqual(configCandidates('/tmp/x.yaml', user, { CLOUDBRIDGE_CONFIG: '/tmp/y.yaml' }), ['/tmp/x.yaml']);
  t.deepEqual(configCandidates(undefined, user, { CLOUDBRIDGE_CONFIG: '/tmp/y.yaml' }), ['/tmp/y.yaml']);
  t.deepEqual(configCandidates(undefined, user, {}), ['/home/dev/.config/cloudbridge/config.yaml', '/etc/cloudbridge/config.yaml']);
});

test('socks and tunnel: false', (t) => {
  const on = findEnvironment(parseConfigText(`${minimal}    socks: true\n`, ctx.source, ctx.home), 'staging');
  t.deepEqual(on.socks, { listen: [{ host: '127.0.0.1', port: 1080 }], auth: undefined });
  const full = findEnvironment(
    parseConfigText(`${minimal}    socks: { listen: [1081, "docker0:1080"], username: u, password: p }\n`, ctx.source, ctx.home),
    'staging',
  );
  t.deepEqual(full.socks, {
    listen: [
      { host: '127.0.0.1', port: 1081 },
      { host: 'docker0', port: 1080 },
    ],
    auth: { username: 'u', password: 'p' },
  });
  t.regex(error(`${minimal}    socks: { username: u }\n`), /environments\.staging\.socks: username and password go together/);
  t.regex(error(`${minimal}    socks: { listen: [/tmp/s.sock] }\n`), /socks\.listen\.0: is ADDRESS:PORT, INTERFACE:PORT or PORT/);
  const ssh = findEnvironment(
    parseConfigText(
      `
environments:
  bastion:
    host: b.example.test
    tunnel: false
    socks: true
`,
      ctx.source,
      ctx.home,
    ),
    'bastion',
  );
  t.is(ssh.tunnel, undefined);
  const noTun = (extra: string): string =>
    error(`
environments:
  bastion:
    host: b.example.test
    tunnel: false
${extra}`);
  t.regex(noTun('    routes: [10.0.0.0/8]\n'), /environments\.bastion\.routes: needs the L3 tunnel \(tunnel is false\)/);
  t.regex(noTun('    docker: { mode: tcp }\n'), /docker\.mode: tcp needs the L3 tunnel/);
  t.regex(noTun('    forwards: [{ listen: 53, to: "10.0.0.2:53", protocol: udp }]\n'), /forwards: UDP forwards need the L3 tunnel/);
  t.regex(error(`${minimal.replace(/tunnel: .*/, 'tunnel: yes')}`), /tunnel: is required: a mapping .* \(or false: no L3 tunnel/);
});

test('ciphers: AES-GCM first with AES instructions, ChaCha20 first without; configurable and checked', async (t) => {
  const { defaultCiphers } = await import('../../src/config/ciphers.js');
  t.is(defaultCiphers('flags\t\t: fpu vme sse2 aes avx2\n')[0], 'aes128-gcm@openssh.com');
  t.is(defaultCiphers('Features\t: fp asimd aes pmull sha1\n')[0], 'aes128-gcm@openssh.com');
  t.is(defaultCiphers('flags\t\t: fpu vme sse2\n')[0], 'chacha20-poly1305@openssh.com');
  const env = findEnvironment(
    parseConfigText(`${minimal}    ciphers: [chacha20-poly1305@openssh.com, aes256-gcm@openssh.com]\n`, ctx.source, ctx.home),
    'staging',
  );
  t.deepEqual(env.ciphers, ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com']);
  t.deepEqual(findEnvironment(parseConfigText(minimal, ctx.source, ctx.home), 'staging').ciphers, []);
  t.regex(error(`${minimal}    ciphers: [3des-cbc]\n`), /environments\.staging\.ciphers\.0: "3des-cbc" is not one of aes128-gcm@openssh\.com/);
});

test("the config file's owner and mode, as OpenSSH checks its own", (t) => {
  const user = { name: 'dev', uid: 1000, gid: 1000, home: '/home/dev' };
  t.is(badOwnerOrMode({ uid: 1000, gid: 1000, mode: 0o100600 }, user), undefined);
  t.is(badOwnerOrMode({ uid: 0, gid: 0, mode: 0o100664 }, user), undefined, "root's group is root already");
  t.is(badOwnerOrMode({ uid: 1000, gid: 1000, mode: 0o100664 }, user), 'mode 0664, writable by its group');
  t.is(badOwnerOrMode({ uid: 1000, gid: 1000, mode: 0o100606 }, user), 'mode 0606, writable by others');
  t.is(badOwnerOrMode({ uid: 1001, gid: 1000, mode: 0o100600 }, user), 'owned by uid 1001');
});

test('long environment names: up to 32 characters, the interface name derived to fit 15 bytes', (t) => {
  const env = findEnvironment(parseConfigText(minimal.replace('staging:', 'staging-eu-west-1:'), ctx.source, ctx.home), 'staging-eu-west-1');
  t.is(env.tunnel?.device, 'cb-staging-cf81');
  t.is(deviceFor('prod'), 'cb-prod');
  t.is(deviceFor('twelve-chars'), 'cb-twelve-chars');
  t.is(deviceFor('thirteen-char'), 'cb-thirtee-3adc');
  t.is(deviceFor('a_______b-long-name'), `cb-a-${deviceFor('a_______b-long-name').slice(-4)}`, 'no run of dashes before the hash');
  for (const n of ['staging-eu-west-1', 'x'.repeat(32), 'a-b-c-d-e-f-g-h-i']) t.true(deviceFor(n).length <= 15, n);
  t.not(deviceFor('staging-eu-west-1'), deviceFor('staging-eu-west-2'));
  t.regex(error(minimal.replace('staging:', `${'x'.repeat(33)}:`)), /environment names are 1-32 characters/);
  t.regex(error(minimal.replace('staging:', 'default:')), /"default" is the name of docker's own context/);
});
