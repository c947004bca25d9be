import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { Endpoint, ForwardConfig, HealthCheck } from '../../src/config/forwards.js';
import { checkStream } from '../../src/forward/health.js';
import { listenStream } from '../../src/forward/listeners.js';

// The forward machinery on loopback: a local TCP server stands where the
// remote target would be, and the dialer connects to it directly instead of
// over SSH (the e2e tests take the SSH path).

async function server(onConn: (s: net.Socket) => void, allowHalfOpen = false): Promise<{ port: number; close(): void }> {
  const srv = net.createServer({ allowHalfOpen }, onConn);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

const dialLocal = (to: Endpoint): Promise<net.Socket> =>
  new Promise((resolve, reject) => {
    if (to.kind !== 'inet') return reject(new Error('inet only here'));
    const s = net.connect(to.port, to.host, () => resolve(s));
    s.once('error', reject);
  });

function fwd(listen: Endpoint, to: Endpoint, maxConnections = 256): ForwardConfig {
  return { name: 'test', protocol: 'tcp', listen, to, maxConnections, tls: undefined, health: undefined };
}

function exchange(port: number | string, send: string): Promise<string> {
  return new Promise((resolve) => {
    const s = typeof port === 'number' ? net.connect(port, '127.0.0.1') : net.connect(port);
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.length >= send.length) s.end();
    });
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
    s.write(send);
  });
}

test('a stream forward carries both ways, refuses beyond maxConnections and what the allow-list refuses', async (t) => {
  const echo = await server((s) => s.pipe(s));
  const traffic = { active: 0, chunks: 0 };
  let allowed = true;
  const l = await listenStream(fwd({ kind: 'inet', host: '127.0.0.1', port: 0 }, { kind: 'inet', host: '127.0.0.1', port: echo.port }, 1), {
    dial: dialLocal,
    admits: () => allowed,
    owner: { name: os.userInfo().username, uid: process.getuid!(), gid: process.getgid!(), home: os.homedir() },
    tls: undefined,
    traffic,
  });
  try {
    const port = l.bound.kind === 'inet' ? l.bound.port : 0;
    t.is(await exchange(port, 'hello'), 'hello');
    // one held open: the next is turned away
    const held = net.connect(port, '127.0.0.1');
    await new Promise((r) => held.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
    t.is(await exchange(port, 'second'), '');
    held.destroy();
    await new Promise((r) => setTimeout(r, 50));
    allowed = false;
    t.is(await exchange(port, 'not allowed'), '');
    t.deepEqual(l.stats, { active: 0, total: 2, refused: 2 });
    t.true(traffic.chunks > 0);
  } finally {
    await l.close();
    echo.close();
  }
});

test('a client done sending (shutdown, as docker attach and nc -N do) still gets the answer that comes after', async (t) => {
  // answers only once its peer is done: how many bytes came
  const counter = await server((s) => {
    let n = 0;
    s.on('data', (c: Buffer) => (n += c.length));
    s.on('end', () => s.end(`got ${n}`));
  }, true);
  const l = await listenStream(fwd({ kind: 'inet', host: '127.0.0.1', port: 0 }, { kind: 'inet', host: '127.0.0.1', port: counter.port }), {
    dial: dialLocal,
    admits: () => true,
    owner: { name: os.userInfo().username, uid: process.getuid!(), gid: process.getgid!(), home: os.homedir() },
    tls: undefined,
    traffic: { active: 0, chunks: 0 },
  });
  try {
    const answer = await new Promise<string>((resolve) => {
      const c = net.connect({ port: l.bound.kind === 'inet' ? l.bound.port : 0, host: '127.0.0.1', allowHalfOpen: true });
      let got = '';
      c.on('data', (d: Buffer) => (got += d.toString()));
      c.on('close', () => resolve(got));
      c.on('error', () => resolve(got));
      c.end('twelve bytes');
    });
    t.is(answer, 'got 12');
    await new Promise((r) => setTimeout(r, 50));
    t.is(l.stats.active, 0, 'and the connection is gone after');
  } finally {
    await l.close();
    counter.close();
  }
});

test('a unix socket forward belongs to its owner, mode 0600, and is removed on close', async (t) => {
  const echo = await server((s) => s.pipe(s));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-fwd-'));
  const sock = path.join(dir, 'app.sock');
  const l = await listenStream(fwd({ kind: 'unix', path: sock }, { kind: 'inet', host: '127.0.0.1', port: echo.port }), {
    dial: dialLocal,
    admits: () => true,
    owner: { name: os.userInfo().username, uid: process.getuid!(), gid: process.getgid!(), home: os.homedir() },
    tls: undefined,
    traffic: { active: 0, chunks: 0 },
  });
  t.is(fs.statSync(sock).mode & 0o777, 0o600);
  t.is(await exchange(sock, 'over a socket'), 'over a socket');
  await l.close();
  t.false(fs.existsSync(sock));
  echo.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const check = (kind: HealthCheck['kind'], timeout = 1): HealthCheck => ({ kind, path: '/healthz', interval: 5, timeout });

async function healthAgainst(answer: (s: net.Socket) => void, c: HealthCheck): Promise<string> {
  const srv = await server(answer);
  try {
    return await checkStream(await dialLocal({ kind: 'inet', host: '127.0.0.1', port: srv.port }), c, 'svc.internal');
  } finally {
    srv.close();
  }
}

test('health: http status decides, the request names the path and host', async (t) => {
  let request = '';
  t.is(
    await healthAgainst(
      (s) =>
        s.once('data', (c: Buffer) => {
          request = c.toString();
          s.end('HTTP/1.1 204 No Content\r\n\r\n');
        }),
      check('http'),
    ),
    'HTTP/1.1 204 No Content',
  );
  t.regex(request, /^GET \/healthz HTTP\/1\.0\r\nHost: svc\.internal\r\n/);
  await t.throwsAsync(
    healthAgainst((s) => s.once('data', () => s.end('HTTP/1.1 503 Busy\r\n\r\n')), check('http')),
    { message: /GET \/healthz: HTTP\/1\.1 503 Busy/ },
  );
  await t.throwsAsync(
    healthAgainst((s) => s.end(), check('http')),
    { message: /closed without an answer/ },
  );
});

test('health: smtp wants a 220 greeting and a 250 to NOOP', async (t) => {
  const smtp =
    (noopAnswer: string) =>
    (s: net.Socket): void => {
      s.write('220-mail.internal ESMTP\r\n220 ready\r\n');
      s.on('data', (c: Buffer) => {
        if (c.toString().startsWith('NOOP')) s.write(noopAnswer);
        if (c.toString().startsWith('QUIT')) s.end('221 bye\r\n');
      });
    };
  t.is(await healthAgainst(smtp('250 OK\r\n'), check('smtp')), '220 ready');
  await t.throwsAsync(healthAgainst(smtp('421 go away\r\n'), check('smtp')), { message: /NOOP: 421 go away/ });
  await t.throwsAsync(
    healthAgainst((s) => s.write('554 no\r\n'), check('smtp')),
    { message: /greeting: 554 no/ },
  );
});

test('health: silence is a timeout, a connection alone is enough for tcp', async (t) => {
  await t.throwsAsync(
    healthAgainst(() => {}, check('http', 0.2)),
    { message: /no answer within 0.2s/ },
  );
  t.is(await healthAgainst(() => {}, check('tcp')), 'connected');
});

test('a UDP forward over IPv6: [::1] to an IPv6 target written in any form, answers back to the asker', async (t) => {
  const { default: dgram } = await import('node:dgram');
  const { listenUdp } = await import('../../src/forward/listeners.js');
  const echo = dgram.createSocket('udp6');
  echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('echo '), m]), r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '::1', () => r()));
  // the target as a person might write it: the answer's sender is compared in Node's form
  const target = { kind: 'inet', host: '0:0:0:0:0:0:0:1', port: echo.address().port } as const;
  const l = await listenUdp({ ...fwd({ kind: 'inet', host: '::1', port: 0 }, target), protocol: 'udp' }, { active: 0, chunks: 0 });
  const port = l.bound.kind === 'inet' ? l.bound.port : 0;
  const client = dgram.createSocket('udp6');
  const answer = await new Promise<string>((resolve) => {
    client.on('message', (m) => resolve(m.toString()));
    client.send('ping', port, '::1');
  });
  t.is(answer, 'echo ping');
  client.close();
  echo.close();
  await l.close();
});
