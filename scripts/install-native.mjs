#!/usr/bin/env node
// npm's install step for the addon (package.json "install"), and `npm run
// build`'s first half with --from-source. A prebuild that fits this platform
// and loads in a throw-away process is used as it is; otherwise the addon is
// built from native/ with node-gyp (which npm puts on PATH for install
// scripts). With --ignore-scripts this never runs: the loader then picks the
// prebuild at run time (src/native/locate.ts).
// Plain JavaScript with no imports from the package: it runs before anything
// is built.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const native = path.join(root, 'native');
const require = createRequire(import.meta.url);
const fromSource = process.argv.includes('--from-source') || process.env.npm_config_build_from_source === 'true';

function prebuildThatLoads() {
  let file;
  try {
    file = require('node-gyp-build').path(native);
  } catch {
    return undefined;
  }
  const r = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', file], { encoding: 'utf8' });
  if (r.status === 0) return file;
  console.error(`cloudbridge: the prebuilt addon ${path.relative(root, file)} does not load here; building from source`);
  return undefined;
}

if (!fromSource && !fs.existsSync(path.join(root, '.git'))) {
  const file = prebuildThatLoads();
  if (file) {
    console.log(`cloudbridge: using ${path.relative(root, file)}`);
    process.exit(0);
  }
}

// Node's own headers when they sit beside it: no download (CI and the lab have no route to nodejs.org).
const prefix = path.dirname(path.dirname(process.execPath));
const args = ['rebuild', `--directory=${native}`];
if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const npmGyp = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = spawnSync('node-gyp', ['--version']).status === 0 ? ['node-gyp'] : [process.execPath, npmGyp];
const log = path.join(native, 'build.log');
const r = spawnSync(gyp[0], [...gyp.slice(1), ...args], { encoding: 'utf8' });
fs.writeFileSync(log, `${r.stdout ?? ''}${r.stderr ?? ''}`);
if (r.status !== 0 || !fs.existsSync(path.join(native, 'build', 'Release', 'cloudbridge_tun.node'))) {
  process.stderr.write(`${r.stderr ?? r.error ?? ''}\n`);
  const tools =
    process.platform === 'darwin'
      ? "Xcode's command line tools (xcode-select --install)"
      : 'python3, make and a C compiler (Debian/Ubuntu: apt-get install python3 make gcc)';
  console.error(
    `cloudbridge: no prebuilt addon fits ${process.platform}-${process.arch} and building it failed (log: ${log}); install ${tools} and install cloudbridge again`,
  );
  process.exit(1);
}
console.log('cloudbridge: built native/build/Release/cloudbridge_tun.node');
