import test from 'ava';
import { containerFacts, exposeForwards } from '../../src/docker/labels.js';
import { envOf, refusalOf } from './configs.js';

test('labels: ports, local addresses and TLS', (t) => {
  // where the config lets labels listen anywhere (the default policy is the test below)
  const open = { addresses: ['0.0.0.0'], lowPorts: true };
  const one = exposeForwards({ 'cloudbridge.expose': '80' }, '172.18.0.2', open);
  t.deepEqual(one, [
    {
      name: '127.0.0.1:80',
      protocol: 'tcp',
      listen: { kind: 'inet', host: '127.0.0.1', port: 80 },
      to: { kind: 'inet', host: '172.18.0.2', port: 80 },
      maxConnections: 256,
      tls: undefined,
      health: undefined,
    },
  ]);
  const two = exposeForwards(
    { 'cloudbridge.expose': '80, 443', 'cloudbridge.expose.local': '8080,0.0.0.0:8443', 'cloudbridge.expose.tls': 'true' },
    '10.0.0.5',
    open,
  );
  t.true(Array.isArray(two));
  t.deepEqual(
    (two as { name: string; tls: unknown }[]).map((f) => [f.name, f.tls]),
    [
      ['127.0.0.1:8080', 'self-signed'],
      ['0.0.0.0:8443', 'self-signed'],
    ],
  );
  t.deepEqual(exposeForwards({ other: 'x' }, '10.0.0.5'), []);
});

test('labels: what is wrong is said, not guessed', (t) => {
  t.regex(exposeForwards({ 'cloudbridge.expose': '80,http' }, 'a') as string, /"http" is not a port/);
  t.regex(exposeForwards({ 'cloudbridge.expose': '80,81', 'cloudbridge.expose.local': '8080' }, 'a') as string, /one address per port/);
  t.regex(exposeForwards({ 'cloudbridge.expose': '80', 'cloudbridge.expose.tls': 'yes' }, 'a') as string, /true or false/);
  t.regex(exposeForwards({ 'cloudbridge.expose': '80', 'cloudbridge.expose.local': '/tmp/x.sock' }, 'a') as string, /ADDR:PORT or PORT/);
});

test('container facts from the list and the inspect answers alike', (t) => {
  const listed = containerFacts({
    Id: 'abcabcabcabc',
    Names: ['/web'],
    Labels: { a: '1' },
    NetworkSettings: { Networks: { n: { IPAddress: '' }, m: { IPAddress: '10.1.0.2' } } },
  });
  t.deepEqual(listed, { id: 'abcabcabcabc', name: 'web', labels: { a: '1' }, address: '10.1.0.2' });
  const inspected = containerFacts({
    Id: 'defdefdefdef',
    Name: '/db',
    Config: { Labels: { b: '2' } },
    HostConfig: { NetworkMode: 'host' },
    NetworkSettings: { Networks: { host: {} } },
  });
  t.deepEqual(inspected, { id: 'defdefdefdef', name: 'db', labels: { b: '2' }, address: '127.0.0.1' });
  t.is(containerFacts({ Id: '0123456789abcdef', NetworkSettings: { Networks: { none: { IPAddress: '' } } } })?.address, undefined);
});

test('container facts from a daemon that sends junk: refused or cleaned, never thrown', (t) => {
  for (const junk of [null, 7, 'x', [], {}, { Id: 7 }, { Id: 'not-hex' }, { Id: '../../etc' }, { Id: 'abcabcabcabc'.repeat(6) }]) {
    t.is(containerFacts(junk), undefined, JSON.stringify(junk));
  }
  t.deepEqual(
    containerFacts({
      Id: 'abcabcabcabc',
      Names: [5],
      Name: { x: 1 },
      Labels: { ok: 'y', bad: 3, worse: { a: 1 } },
      NetworkSettings: { Networks: { n: 'x', m: { IPAddress: 9 } } },
      HostConfig: 1,
    }),
    { id: 'abcabcabcabc', name: 'abcabcabcabc', labels: { ok: 'y' }, address: undefined },
  );
});

test('labels choose only loopback addresses and ports from 1024, unless the config allows more', (t) => {
  const labels = (local: string) => ({ 'cloudbridge.expose': '80', 'cloudbridge.expose.local': local });
  t.regex(exposeForwards(labels('0.0.0.0:8443'), '10.0.0.2') as string, /0\.0\.0\.0:8443: labels may listen on loopback addresses only/);
  t.regex(exposeForwards(labels('127.0.0.1:443'), '10.0.0.2') as string, /127\.0\.0\.1:443: labels may listen on ports from 1024 only/);
  t.regex(
    exposeForwards({ 'cloudbridge.expose': '80' }, '10.0.0.2') as string,
    /127\.0\.0\.1:80: labels may listen on ports from 1024 only/,
    'the default local port is the container port',
  );
  t.true(Array.isArray(exposeForwards(labels('127.0.0.5:8080'), '10.0.0.2')));
  t.true(Array.isArray(exposeForwards(labels('0.0.0.0:8443'), '10.0.0.2', { addresses: ['0.0.0.0'], lowPorts: false })));
  t.true(Array.isArray(exposeForwards(labels('127.0.0.1:443'), '10.0.0.2', { addresses: [], lowPorts: true })));
  // IPv6: ::1 is loopback; others as docker.exposeAddresses lists them, compared in one written form
  t.true(Array.isArray(exposeForwards(labels('[::1]:8080'), '10.0.0.2')));
  t.regex(exposeForwards(labels('[::]:8443'), '10.0.0.2') as string, /\[::\]:8443: labels may listen on loopback addresses only/);
  const env = envOf('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n    docker: { exposeAddresses: [0.0.0.0, "FD00:0::5"] }\n');
  t.deepEqual(env.docker.exposeAddresses, ['0.0.0.0', 'fd00::5']);
  t.true(Array.isArray(exposeForwards(labels('[fd00:0:0::5]:8443'), '10.0.0.2', { addresses: env.docker.exposeAddresses, lowPorts: false })));
  t.regex(
    refusalOf('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n    docker: { exposeAddresses: [lo] }\n'),
    /docker\.exposeAddresses\.0: "lo" is not an IPv4 or IPv6 address/,
  );
});
