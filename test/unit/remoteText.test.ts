import test from 'ava';
import { formatStatus } from '../../src/cli/format.js';
import { formatLogLine } from '../../src/util/log.js';
import { clip, plain } from '../../src/util/plain.js';
import type { Status } from '../../src/daemon/status.js';

// What a peer says (a server's DISCONNECT, remote stderr, a container's name, a jump
// host's line) is printed with control characters escaped: it cannot move the cursor,
// retitle the terminal, or end a line and forge the next. And what is kept is bounded.

test('plain: control characters, DEL, C1 and bidi overrides come out escaped', (t) => {
  t.is(plain('ok\r\ncloudbridge: all good\u001b[2J\u0007'), 'ok\\r\\ncloudbridge: all good\\u001b[2J\\u0007');
  t.is(plain('a\u009bb\u007fc\u202eevil'), 'a\\u009bb\\u007fc\\u202eevil');
  t.is(plain('naïve café — 日本'), 'naïve café — 日本', 'printable text stays as it is');
  t.is(clip('x'.repeat(600)).length, 501);
  t.is(clip('short'), 'short');
});

test("the log and status print a peer's words escaped", (t) => {
  t.is(
    formatLogLine({ time: 'T', env: 'stg', level: 'info', message: 'remote: \u001b]0;pwned\u0007\nT stg info forged' }),
    'T stg info  remote: \\u001b]0;pwned\\u0007\\nT stg info forged',
  );
  const s = {
    env: 'stg',
    state: 'connecting',
    uptimeSeconds: 5,
    pid: 1,
    host: 'h',
    onDemand: false,
    local: '',
    local6: '',
    socks: [],
    forwards: [],
    exposeProblems: { abc: 'name \u001b[31mred' },
    docker: null,
    dockerHost: null,
    dockerSocket: null,
    reconnects: 1,
    lastError: 'Disconnected by server: bye\r\nstg: up 1d',
  } as unknown as Status;
  const out = formatStatus([s]);
  t.regex(out, /last error: Disconnected by server: bye\\r\\nstg: up 1d$/m);
  t.regex(out, /expose {2}abc: name \\u001b\[31mred$/m);
  t.false(out.includes('\r'));
  t.false(out.includes('\u001b'));
});
