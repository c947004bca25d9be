// Bundles the CLI and the controller (tsc's output in dist/src) into
// dist/bundle/, which the package ships and its `bin` runs: one file for the
// CLI's common path plus chunks that load when a command needs them (code
// splitting keeps `--version` and `status` from loading SSH or the
// controller). Loading yargs, execa and js-yaml from node_modules as separate
// ESM files cost ~90 ms per start here; bundled they are read and compiled
// once. Packages with native code (ssh2, netlink, node-gyp-build and what
// they load) stay outside: they are installed dependencies.
import { build } from 'esbuild';
import fs from 'node:fs';

const outdir = 'dist/bundle';
fs.rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: {
    cloudbridge: 'dist/src/cli/main.js',
    background: 'dist/src/cli/background.js',
    hop: 'dist/src/cli/hop.js',
    helper: 'dist/src/helper/main.js',
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['ssh2', 'ssh2/*', 'netlink', 'netlink/*', 'node-gyp-build', 'cpu-features'],
  // CommonJS packages inside the bundle call require(): give them one
  banner: { js: "import { createRequire as __cloudbridgeRequire } from 'node:module'; const require = __cloudbridgeRequire(import.meta.url);" },
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
  metafile: true,
});
// for test/cli/cli.test.ts: what the CLI's entry loads before any command runs
fs.writeFileSync('dist/bundle-meta.json', JSON.stringify(result.metafile));
fs.chmodSync(`${outdir}/cloudbridge.js`, 0o755);
