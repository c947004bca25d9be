import net from 'node:net';
import test from 'ava';
import type { Endpoint } from '../../src/config/forwards.js';
import { handleSocks, parseRequest, REP, replyFor, type SocksDeps, compressIPv6 } from '../../src/socks/server.js';

test('CONNECT requests: IPv4, names and IPv6; incomplete ones wait', (t) => {
  t.like(parseRequest(Buffer.from([5, 1, 0, 1, 10, 0, 0, 2, 0x1f, 0x90])), { host: '10.0.0.2', port: 8080, cmd: 1, atyp: 1, length: 10 });
  const name = Buffer.concat([Buffer.from([5, 1, 0, 3, 12]), Buffer.from('db.internal.'), Buffer.from([0, 80])]);
  t.like(parseRequest(name), { host: 'db.internal.', port: 80, atyp: 3 });
  t.is(parseRequest(name.subarray(0, 10)), undefined);
  t.like(parseRequest(Buffer.concat([Buffer.from([5, 1, 0, 4]), Buffer.alloc(15), Buffer.from([1, 0, 22])])), { host: '::1', port: 22, atyp: 4 });
  t.is(parseRequest(Buffer.from([4, 1, 0, 1, 0])), 'bad');
  t.is(parseRequest(Buffer.from([5, 1, 0, 9, 0])), 'bad');
});

test("sshd's channel-open failures become SOCKS replies", (t) => {
  t.is(replyFor(new Error('(SSH) Channel open failure: Connection refused')), REP.refused);
  t.is(replyFor(new Error('(SSH) Channel open failure: No route to host')), REP.hostUnreachable);
  t.is(replyFor(new Error('(SSH) Channel open failure: administratively prohibited: open failed')), REP.notAllowed);
  t.is(replyFor(new Error('(SSH) Channel open failure: Name or service not known')), REP.hostUnreachable);
});

/** A SOCKS server on loopback whose "remote side" is a local echo server. */
async function socks(deps: Partial<SocksDeps>): Promise<{ port: number; dialed: Endpoint[]; close(): void }> {
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const dialed: Endpoint[] = [];
  const stats = { active: 0, total: 0, refused: 0 };
  const srv = net.createServer((s) =>
    handleSocks(
      s,
      {
        dial: (to) => {
          dialed.push(to);
          return Promise.resolve(net.connect((echo.address() as net.AddressInfo).port, '127.0.0.1'));
        },
        admits: () => true,
        auth: undefined,
        traffic: { active: 0, chunks: 0 },
        ...deps,
      },
      stats,
    ),
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, dialed, close: () => (srv.close(), echo.close()) };
}

/** Sends `steps` one after the other, each after the previous answer, and returns every byte received. */
function converse(port: number, steps: Buffer[], wantBytes: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let i = 0;
    s.on('connect', () => s.write(steps[i++]!));
    s.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length >= wantBytes) return s.end();
      if (i < steps.length) s.write(steps[i++]!);
    });
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
}

const connectTo = (name: string, port: number): Buffer =>
  Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), Buffer.from(name), Buffer.from([port >> 8, port & 0xff])]);

test('no auth: greeting, CONNECT by name (resolved remotely), then bytes both ways', async (t) => {
  const s = await socks({});
  try {
    const got = await converse(s.port, [Buffer.from([5, 1, 0]), connectTo('api.vpc.internal', 443), Buffer.from('ping')], 2 + 10 + 4);
    t.deepEqual([...got.subarray(0, 2)], [5, 0]);
    t.is(got[3], REP.ok);
    t.is(got.subarray(12).toString(), 'ping');
    t.deepEqual(s.dialed, [{ kind: 'inet', host: 'api.vpc.internal', port: 443 }]);
  } finally {
    s.close();
  }
});

test('username/password: the right pair passes, a wrong one and a client without it are refused', async (t) => {
  const s = await socks({ auth: { username: 'dev', password: 'pw' } });
  const login = (u: string, p: string): Buffer => Buffer.concat([Buffer.from([1, u.length]), Buffer.from(u), Buffer.from([p.length]), Buffer.from(p)]);
  try {
    const ok = await converse(s.port, [Buffer.from([5, 1, 2]), login('dev', 'pw'), connectTo('h', 80)], 2 + 2 + 10);
    t.deepEqual([...ok.subarray(0, 4)], [5, 2, 1, 0]);
    t.is(ok[5], REP.ok);
    const wrong = await converse(s.port, [Buffer.from([5, 1, 2]), login('dev', 'nope')], 99);
    t.deepEqual([...wrong], [5, 2, 1, 1]);
    const none = await converse(s.port, [Buffer.from([5, 1, 0])], 99);
    t.deepEqual([...none], [5, 0xff]);
  } finally {
    s.close();
  }
});

test("refusals: the allow-list says no (2), BIND (7), a failed remote open maps sshd's reason", async (t) => {
  const denied = await socks({ admits: () => false });
  const failing = await socks({ dial: () => Promise.reject(new Error('(SSH) Channel open failure: Connection refused')) });
  try {
    t.is((await converse(denied.port, [Buffer.from([5, 1, 0]), connectTo('h', 22)], 99))[3], REP.notAllowed);
    t.is((await converse(denied.port, [Buffer.from([5, 1, 0]), Buffer.from([5, 2, 0, 1, 1, 2, 3, 4, 0, 80])], 99))[3], REP.commandNotSupported);
    t.is((await converse(failing.port, [Buffer.from([5, 1, 0]), connectTo('h', 81)], 99))[3], REP.refused);
  } finally {
    denied.close();
    failing.close();
  }
});

test('IPv6 literals as RFC 5952 writes them', (t) => {
  const g = (s: string): string[] => s.split(':');
  t.is(compressIPv6(g('0:0:0:0:0:0:0:1')), '::1');
  t.is(compressIPv6(g('fd00:0:0:0:0:0:0:0')), 'fd00::');
  t.is(compressIPv6(g('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1', 'the first of two equal runs');
  t.is(compressIPv6(g('2001:db8:0:1:1:1:1:1')), '2001:db8:0:1:1:1:1:1', 'one zero group stays');
  t.is(compressIPv6(g('0:0:0:0:0:0:0:0')), '::');
});
