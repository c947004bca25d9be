import test from 'ava';
import { MAX_HEAD, parseRequestHead, pingMethod, pingRequest, responseLength, withDate } from '../../src/docker/httpHead.js';

// What the docker CLI 28 sends before every command, and what dockerd 20.10 answers (recorded).
const CLI_PING = 'HEAD /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/28.2.2 (linux)\r\n\r\n';
const HEAD_ANSWER =
  'HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nCache-Control: no-cache, no-store, must-revalidate\r\nContent-Length: 0\r\n' +
  'Content-Type: text/plain; charset=utf-8\r\nDocker-Experimental: false\r\nOstype: linux\r\nPragma: no-cache\r\n' +
  'Server: Docker/20.10.24+dfsg1 (linux)\r\nDate: Mon, 23 Nov 2026 20:02:54 GMT\r\n\r\n';
const GET_ANSWER = HEAD_ANSWER.replace('Content-Length: 0', 'Content-Length: 2') + 'OK';
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const head = (s: string) => {
  const h = parseRequestHead(b(s));
  if (!h) throw new Error(`not a head: ${JSON.stringify(s)}`);
  return h;
};

test("the CLI's version check is a whole head, with the next request after it", (t) => {
  const next = 'GET /v1.41/containers/json HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n';
  const h = parseRequestHead(b(CLI_PING + next));
  t.truthy(h);
  t.is(h!.method, 'HEAD');
  t.is(h!.path, '/_ping');
  t.is(h!.headers.get('user-agent'), 'Docker-Client/28.2.2 (linux)');
  t.is(h!.length, CLI_PING.length);
  t.is(pingMethod(h!), 'HEAD');
});

test('a head cut short is incomplete; one that is not HTTP or too long is refused', (t) => {
  t.is(parseRequestHead(b(CLI_PING.slice(0, 30))), undefined);
  t.is(parseRequestHead(b(CLI_PING.slice(0, -2))), undefined);
  t.is(parseRequestHead(b('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n')), null);
  t.is(parseRequestHead(b('HEAD /_ping\r\n\r\n')), null);
  t.is(parseRequestHead(b('HEAD /_ping HTTP/1.1\r\nno colon here\r\n\r\n')), null);
  t.is(parseRequestHead(b(`GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD)}`)), null);
  t.is(parseRequestHead(b(`GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD)}\r\n\r\n`)), null);
});

test('only a kept-alive HEAD or GET of /_ping without a body is a version check answered here', (t) => {
  t.is(pingMethod(head('GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n')), 'GET');
  t.is(pingMethod(head('HEAD /v1.41/_ping HTTP/1.1\r\nHost: docker\r\n\r\n')), 'HEAD');
  t.is(pingMethod(head('GET /_ping HTTP/1.1\r\nContent-Length: 0\r\n\r\n')), 'GET');
  for (const other of [
    'POST /_ping HTTP/1.1\r\n\r\n',
    'GET /_ping HTTP/1.0\r\n\r\n',
    'GET /_pingx HTTP/1.1\r\n\r\n',
    'GET /_ping?x=1 HTTP/1.1\r\n\r\n',
    'GET /v1.41/containers/json HTTP/1.1\r\n\r\n',
    'GET /x/_ping HTTP/1.1\r\n\r\n',
    'GET /_ping HTTP/1.1\r\nConnection: close\r\n\r\n',
    'GET /_ping HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
    'GET /_ping HTTP/1.1\r\nContent-Length: 3\r\n\r\n',
    'GET /_ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n',
  ])
    t.is(pingMethod(head(other)), undefined, other);
});

test("the daemon's answers are measured whole, and only a plain 200 is kept", (t) => {
  t.is(responseLength(b(HEAD_ANSWER), 'HEAD'), HEAD_ANSWER.length);
  t.is(responseLength(b(GET_ANSWER), 'GET'), GET_ANSWER.length);
  t.is(responseLength(b(GET_ANSWER + HEAD_ANSWER), 'GET'), GET_ANSWER.length, 'pipelined: the first answer only');
  t.is(responseLength(b(GET_ANSWER.slice(0, -1)), 'GET'), undefined, 'the body is not all there');
  t.is(responseLength(b(HEAD_ANSWER.slice(0, 40)), 'HEAD'), undefined);
  t.is(responseLength(b(HEAD_ANSWER.replace('200 OK', '500 Internal Server Error')), 'HEAD'), null);
  t.is(responseLength(b(GET_ANSWER.replace('Content-Length: 2', 'Transfer-Encoding: chunked')), 'GET'), null);
  t.is(responseLength(b(GET_ANSWER.replace('Content-Length: 2\r\n', '')), 'GET'), null);
  t.is(responseLength(b(HEAD_ANSWER.replace('Pragma', 'Connection: close\r\nPragma')), 'HEAD'), null);
});

test("a replayed answer carries the time it is given; the rest is the daemon's, byte for byte", (t) => {
  const now = new Date(Date.UTC(2026, 10, 24, 9, 5, 7));
  const out = withDate(b(GET_ANSWER), now).toString('latin1');
  t.is(out, GET_ANSWER.replace('Mon, 23 Nov 2026 20:02:54 GMT', 'Tue, 24 Nov 2026 09:05:07 GMT'));
  t.is(withDate(b(HEAD_ANSWER.replace(/Date: [^\r]*\r\n/, '')), now).toString('latin1'), HEAD_ANSWER.replace(/Date: [^\r]*\r\n/, ''));
});

test('the socket asks with requests of its own that are version checks too', (t) => {
  for (const m of ['HEAD', 'GET'] as const) t.is(pingMethod(head(pingRequest(m).toString('latin1'))), m);
});
