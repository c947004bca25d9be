import { spawn } from 'node:child_process';
import test from 'ava';
import { processAlive } from '../../src/util/processAlive.js';

test('a zombie is not alive: exited, waiting only for its parent to reap it', async (t) => {
  // sh forks a short sleep, then becomes a long one that never waits for it
  const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => void parent.kill());
  const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  t.true(processAlive(pid), 'running');
  await new Promise((r) => setTimeout(r, 400));
  t.notThrows(() => process.kill(pid, 0), 'the zombie is still there for signal 0');
  t.false(processAlive(pid), 'but it has exited');
  t.true(processAlive(process.pid));
  t.true(processAlive(1), "someone else's (EPERM or not): there");
});
