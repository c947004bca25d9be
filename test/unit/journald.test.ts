import test from 'ava';
import { entryOf } from '../../src/cli/journalLogs.js';
import { encodeEntry } from '../../src/native/journald.js';

test('native protocol: FIELD=value lines, and a value with a newline as its length (64-bit LE) and bytes', (t) => {
  t.is(encodeEntry({ MESSAGE: 'up', PRIORITY: '6' }).toString(), 'MESSAGE=up\nPRIORITY=6\n');
  const two = encodeEntry({ MESSAGE: 'a\nb', X: 'y' });
  t.deepEqual(two, Buffer.concat([Buffer.from('MESSAGE\n'), Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('a\nb\n'), Buffer.from('X=y\n')]));
});

test("journalctl's entries: ours by CLOUDBRIDGE_ENV, a controller's stderr by its pid, levels from priorities", (t) => {
  const pids = new Set<string>();
  const at = (o: Record<string, unknown>): string => JSON.stringify({ __REALTIME_TIMESTAMP: '1796010632700461', ...o });
  t.deepEqual(entryOf(at({ MESSAGE: 'up', PRIORITY: '6', CLOUDBRIDGE_ENV: 'stg', _PID: '42' }), 'stg', pids), {
    time: '2026-11-30T03:50:32.700Z',
    env: 'stg',
    level: 'info',
    message: 'up',
  });
  t.is(entryOf(at({ MESSAGE: 'other env', CLOUDBRIDGE_ENV: 'prod', _PID: '43' }), 'stg', pids), undefined);
  t.is(entryOf(at({ MESSAGE: 'crash', PRIORITY: '3', _PID: '42' }), 'stg', pids)?.level, 'error', "stderr of stg's controller");
  t.is(entryOf(at({ MESSAGE: 'crash', PRIORITY: '3', _PID: '43' }), 'stg', pids), undefined, "another's stderr");
  t.is(entryOf(at({ MESSAGE: [104, 105], PRIORITY: '4', CLOUDBRIDGE_ENV: 'stg', _PID: '42' }), 'stg', pids)?.message, 'hi', 'bytes as journalctl gives them');
  t.is(entryOf(at({ MESSAGE: 'x', PRIORITY: '7', CLOUDBRIDGE_ENV: 'stg', _PID: '42' }), 'stg', pids)?.level, 'debug');
  t.is(entryOf('not json', 'stg', pids), undefined);
});
