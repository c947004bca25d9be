import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);
const flags = new URL('../../src/util/nodeFlags.js', import.meta.url).href;

// In a process of its own each: V8's flags are the process's. Garbage as the data path makes it
// (short-lived views, a few kept a while), then the young generation's size.
const youngAfterGarbage = async (cap: boolean): Promise<number> => {
  const script = `
    import v8 from 'node:v8';
    ${cap ? `(await import(${JSON.stringify(flags)})).capYoungGeneration();` : ''}
    const keep = [];
    for (let i = 0; i < 1e6; i++) keep[i & 63] = new Uint8Array(64).subarray(1, 10);
    console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
  return Number(stdout);
};

test('the young generation stays at its first size once capped, and grows without the cap', async (t) => {
  const [capped, free] = await Promise.all([youngAfterGarbage(true), youngAfterGarbage(false)]);
  t.true(capped <= 2 * 2 ** 20, `capped: ${capped}`);
  t.true(free > capped, `uncapped ${free} vs capped ${capped}`);
});
