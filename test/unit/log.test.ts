import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';

// A --privsep controller opens its log as root, then runs as its user: its
// file sits in a folder only root writes. Past the cap, rotation's renames
// are refused there; the log starts over in the file it holds instead of
// losing every later line. Run in a child that opens as root and drops to
// nobody, as cli/privsep.ts does.

const logModule = new URL('../../src/util/log.js', import.meta.url).href;

test('past the cap after root was given up: the open log starts over, saying so, and keeps taking lines', (t) => {
  if (process.getuid?.() !== 0) return t.pass('needs root to give it up');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-log-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'stg.log');
  const script = `
    const { LogWriter } = await import(${JSON.stringify(logModule)});
    const w = new LogWriter('stg', ${JSON.stringify(file)}, 400);
    process.setgid(65534);
    process.setuid(65534);
    for (let i = 0; i < 12; i++) w.write('line ' + i + ' ' + 'x'.repeat(40));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const text = fs.readFileSync(file, 'utf8');
  t.regex(text, /warn {2}log: .*stg\.log started over at 400 bytes \(its folder is root's: no stg\.log\.1 from this process\)/);
  t.regex(text, /line 11 x+\n$/, 'the last line is there');
  t.false(fs.existsSync(`${file}.1`));
  t.true(fs.statSync(file).size <= 400 + 200);
});

test('past the cap as root: ENV.log.1 and a new file, as before', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-log-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'stg.log');
  const script = `
    const { LogWriter } = await import(${JSON.stringify(logModule)});
    const w = new LogWriter('stg', ${JSON.stringify(file)}, 400);
    for (let i = 0; i < 12; i++) w.write('line ' + i + ' ' + 'x'.repeat(40));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.true(fs.existsSync(`${file}.1`));
  t.regex(fs.readFileSync(file, 'utf8'), /line 11 x+\n$/);
  t.notRegex(fs.readFileSync(file, 'utf8'), /started over/);
});
