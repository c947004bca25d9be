import test from 'ava';
import { containerFacts, exposeForwards } from '../../src/docker/labels.js';

test('labels: ports, local addresses and TLS', (t) => {
  const one = exposeForwards({ 'cloudbridge.expose': '80' }, '172.18.0.2');
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
    Id: 'abc',
    Names: ['/web'],
    Labels: { a: '1' },
    NetworkSettings: { Networks: { n: { IPAddress: '' }, m: { IPAddress: '10.1.0.2' } } },
  });
  t.deepEqual(listed, { id: 'abc', name: 'web', labels: { a: '1' }, address: '10.1.0.2' });
  const inspected = containerFacts({
    Id: 'def',
    Name: '/db',
    Config: { Labels: { b: '2' } },
    HostConfig: { NetworkMode: 'host' },
    NetworkSettings: { Networks: { host: {} } },
  });
  t.deepEqual(inspected, { id: 'def', name: 'db', labels: { b: '2' }, address: '127.0.0.1' });
  t.is(containerFacts({ Id: '0123456789abcdef', NetworkSettings: { Networks: { none: { IPAddress: '' } } } }).address, undefined);
});
