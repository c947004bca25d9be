// Bundles the CLI and the controller (tsc's output in dist/src) into
// dist/bundle/, which the package ships and its `bin` runs. Packages with
// native code (ssh2, netlink, node-gyp-build and what they load) stay
// outside: they are installed dependencies.
//
// - The CLI (and the helper): ESM, one file for the common path plus chunks
//   that load when a command needs them (code splitting keeps `--version`
//   and `status` from loading SSH or the controller). Loading yargs, execa
//   and js-yaml from node_modules as separate ESM files cost ~90 ms per start
//   here; bundled they are read and compiled once.
// - The background controller and the jump process, on every connect's
//   critical path: one CommonJS file each. Node's ESM loader costs per file
//   (resolve, read, format lookup, link) and ~8 ms to start; the controller
//   loaded ~40 chunks. As one CommonJS file its code is in ~30 ms sooner
//   (connect 407 -> 338 ms, median of 14 pairs; docs/benchmarks.md). Modules
//   reached through import() stay lazy (esbuild wraps them), and so do the
//   node: modules they require; execa (270 KB, rarely run on that path: V8
//   pre-parses every byte of a file it loads) is a file of its own.
import { build } from 'esbuild';
import fs from 'node:fs';

const outdir = 'dist/bundle';
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: ['ssh2', 'ssh2/*', 'netlink', 'netlink/*', 'node-gyp-build', 'cpu-features'],
  logLevel: 'warning',
};
// CommonJS packages inside an ESM bundle call require(): give them one
const esmRequire = { js: "import { createRequire as __cloudbridgeRequire } from 'node:module'; const require = __cloudbridgeRequire(import.meta.url);" };
/** `import('execa')` loads the one bundled execa, chunks/execa.mjs, from where the importing file is. */
const execaAt = (path) => ({ name: 'execa-file', setup: (b) => b.onResolve({ filter: /^execa$/ }, () => ({ path, external: true })) });

fs.rmSync(outdir, { recursive: true, force: true });
const result = await build({
  ...common,
  entryPoints: { cloudbridge: 'dist/src/cli/main.js', helper: 'dist/src/helper/main.js' },
  outdir,
  splitting: true,
  format: 'esm',
  banner: esmRequire,
  chunkNames: 'chunks/[name]-[hash]',
  plugins: [execaAt('./execa.mjs')],
  metafile: true,
});
// the module that imports execa sits in a chunk, beside chunks/execa.mjs
const lazyExeca = Object.entries(result.metafile.outputs).find(([, o]) => 'dist/src/util/lazyExeca.js' in o.inputs)?.[0];
if (!lazyExeca?.startsWith(`${outdir}/chunks/`)) throw new Error(`bundle: lazyExeca landed in ${lazyExeca}, not in a chunk`);
await build({
  ...common,
  stdin: { contents: "export { execa } from 'execa';", resolveDir: '.' },
  outfile: `${outdir}/chunks/execa.mjs`,
  format: 'esm',
  banner: esmRequire,
});
await build({
  ...common,
  entryPoints: { background: 'dist/src/cli/background.js', hop: 'dist/src/cli/hop.js' },
  outdir,
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  // the modules' import.meta.url, as ESM gave it: this file's
  define: { 'import.meta.url': '__cloudbridgeUrl' },
  banner: { js: "const __cloudbridgeUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [execaAt('./chunks/execa.mjs')],
});
// for test/cli/cli.test.ts: what the CLI's entry loads before any command runs
fs.writeFileSync('dist/bundle-meta.json', JSON.stringify(result.metafile));
fs.chmodSync(`${outdir}/cloudbridge.js`, 0o755);
