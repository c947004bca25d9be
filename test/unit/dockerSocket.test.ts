import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { DockerSocket } from '../../src/docker/socket.js';

// The docker socket's own logic on loopback: a small HTTP server on a unix
// socket stands where the remote daemon would be, and the dialer connects to
// it directly instead of over SSH (the e2e tests take SSH and a real dockerd).

async function daemon(pingStatus: number): Promise<{ path: string; requests: string[]; close(): void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-dsock-'));
  const at = path.join(dir, 'daemon.sock');
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.url === '/_ping') {
      res.writeHead(pingStatus, { 'Api-Version': '1.41', 'Content-Length': req.method === 'HEAD' || pingStatus !== 200 ? 0 : 2 });
      res.end(req.method === 'GET' && pingStatus === 200 ? 'OK' : undefined);
    } else {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('[]');
    }
  });
  await new Promise<void>((r) => server.listen(at, r));
  return { path: at, requests, close: () => (server.close(), fs.rmSync(dir, { recursive: true, force: true })) };
}

async function served(to: string, warm = true) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-dsock-'));
  const at = path.join(dir, 'docker.sock');
  let dials = 0;
  const dial = () =>
    new Promise<net.Socket>((resolve, reject) => {
      dials++;
      const s = net.connect(to, () => resolve(s));
      s.once('error', reject);
    });
  const s = await DockerSocket.serve(
    { kind: 'unix', path: at },
    {
      dial,
      dialIfUp: dial,
      owner: { uid: process.getuid!(), gid: process.getgid!() },
      traffic: { active: 0, chunks: 0 },
      warm,
    },
  );
  return { ...s, at, dials: () => dials, close: async () => (await s.close(), fs.rmSync(dir, { recursive: true, force: true })) };
}

/** What the docker CLI does for a command: HEAD /_ping, then its request, on one kept-alive connection. */
async function command(socketPath: string): Promise<{ ping: number; list: string }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (method: string, p: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .request({ socketPath, method, path: p, agent }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        })
        .on('error', reject)
        .end();
    });
  const ping = await get('HEAD', '/_ping');
  const list = await get('GET', '/v1.41/containers/json');
  agent.destroy();
  return { ping: ping.status, list: list.body };
}

const until = async (ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
};

test('a command finds a channel open and its version check answered; the daemon sees only the request', async (t) => {
  const d = await daemon(200);
  const s = await served(d.path);
  s.socket.sessionUp();
  await until(() => s.socket.status().spare);
  t.deepEqual(d.requests, ['HEAD /_ping', 'GET /_ping'], 'asked once, ahead of time');
  for (let i = 0; i < 3; i++) {
    t.deepEqual(await command(s.at), { ping: 200, list: '[]' });
    await until(() => s.socket.status().spare);
  }
  t.deepEqual(d.requests.slice(2), ['GET /v1.41/containers/json', 'GET /v1.41/containers/json', 'GET /v1.41/containers/json']);
  t.like(s.socket.status(), { total: 3, spareUsed: 3, pingsAnswered: 3, refused: 0 });
  await s.close();
  d.close();
});

test('a daemon whose /_ping cannot be replayed (a filtering proxy) is asked everything, and no spare is tried again', async (t) => {
  const d = await daemon(403);
  const s = await served(d.path);
  s.socket.sessionUp();
  await until(() => d.requests.length > 0);
  await new Promise((r) => setTimeout(r, 50));
  const dialsAfterTry = s.dials();
  t.false(s.socket.status().spare);
  for (let i = 0; i < 3; i++) t.deepEqual(await command(s.at), { ping: 403, list: '[]' });
  t.is(s.dials(), dialsAfterTry + 3, 'one channel a command, no more tries at a spare');
  t.like(s.socket.status(), { total: 3, spareUsed: 0, pingsAnswered: 0 });
  await s.close();
  d.close();
});

test('docker.warm: false: every command dials and asks the daemon itself', async (t) => {
  const d = await daemon(200);
  const s = await served(d.path, false);
  s.socket.sessionUp();
  t.deepEqual(await command(s.at), { ping: 200, list: '[]' });
  t.deepEqual(d.requests, ['HEAD /_ping', 'GET /v1.41/containers/json']);
  t.like(s.socket.status(), { total: 1, spareUsed: 0, pingsAnswered: 0, spare: false });
  await s.close();
  d.close();
});
