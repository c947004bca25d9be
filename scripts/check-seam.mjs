#!/usr/bin/env node
// The ssh2 seam: ssh2's private fields are named in src/ssh2/ (the adapter)
// and nowhere else in src/, test/ or scripts/. What counts as private:
// underscore fields of its client, protocol, ciphers and channels, the
// sequence numbers, the channel records' sides, and its lib/ modules.
// Comments count too: a comment that names one explains code that should
// be in the adapter. Prints each offending line and exits 1; otherwise one line.
import fs from 'node:fs';
import path from 'node:path';

const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const ADAPTER = path.join('src', 'ssh2') + path.sep;
/** The contract tests and their harness drive ssh2's own Server and rekey its Client: they may name its privates. */
const ALLOWED = new Set([path.join('test', 'unit', 'ssh2Seam.test.ts'), path.join('test', 'unit', 'sshPair.ts')]);
const PRIVATE =
  /\._(?:protocol|chanMgr|sock|cipher|decipher|kexinit|packetRW|onPayload|onWrite|waitWindow|chunk|chunkcb|handlers|instance|packet|lenBytes|debug)\b|\b(?:in|out)Seqno\b|\.(?:incoming|outgoing)\.(?:window|id|state|packetSize)\b|['"]ssh2\/lib\//;

const problems = [];
let scanned = 0;
function walk(dir) {
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) walk(rel);
    else if (/\.(ts|mjs|js)$/.test(e.name) && !rel.startsWith(ADAPTER) && !ALLOWED.has(rel)) {
      scanned++;
      fs.readFileSync(path.join(root, rel), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (PRIVATE.test(line)) problems.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
    }
  }
}
for (const dir of ['src', 'test', 'scripts']) walk(dir);
if (problems.length) {
  console.error(`ssh2's private fields outside src/ssh2/ (use or add a named hook there):\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`check-seam: ${scanned} files, ssh2's private fields only in src/ssh2/`);
