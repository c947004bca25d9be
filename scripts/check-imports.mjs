#!/usr/bin/env node
// Layering of src/: a folder imports only from itself and from the folders
// below it in LAYERS, and no two files import each other, however
// indirectly. `import type` counts: a type cycle is still a knot to read.
// Prints what breaks the rules and exits 1; otherwise one summary line.
import fs from 'node:fs';
import path from 'node:path';

/** Bottom first. Each entry is a folder of src/ (a sub-folder names its own rank). */
const LAYERS = [
  'util', // errors, runtime paths, shell quoting: leaves
  'config', // the config file, validated; ciphers; IPv4 arithmetic
  'native', // the addon's bindings
  'ssh2', // the ssh2 adapter: loader, pinned patches, named hooks on its private fields
  'tun', // the tun device
  'datapath', // packets: pump, parsing, allow-list, flow log; datapath/ssh: the tun channel through ssh2
  'ssh', // ssh_config, keys, known hosts, sessions, remote commands
  'plan', // host changes as Steps, journal
  'platform', // Steps applied on Linux (netlink) and macOS (ifconfig/route)
  'helper', // the privileged helper: its closed vocabulary and policy (see HELPER_MAY below)
  'dns', // split-DNS forwarder
  'forward', // forwards and listeners
  'socks', // SOCKS5h server
  'docker', // docker socket, contexts, labels, names
  'service', // systemd/launchd unit files
  'daemon', // the controller and what it runs
  'cli', // commands
];

const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'src');
const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
})(root);

/**
 * The privileged helper parses nothing a user or a remote peer controls
 * beyond its own requests: all the code it runs (value imports, however
 * indirect; types are erased) is in
 * these files or folders of src/, and the only packages are Node's own and
 * these. No ssh2, ssh_config, YAML, docker, DNS or SOCKS code reaches root.
 */
const HELPER_MAY = [
  'helper/',
  'util/',
  'native/',
  'tun/',
  'platform/',
  'config/ipv4.ts',
  'config/ipv6.ts',
  'config/cidr.ts',
  'config/names.ts',
  'plan/steps.ts',
  'plan/apply.ts',
  'plan/contextCommand.ts', // formats docker context argv for dry runs: no input parsed
  'plan/reused.ts', // compares a journal's addresses with the kernel's: no input parsed
];
const HELPER_PACKAGES = ['netlink', 'execa'];
const bareImports = new Map();
/** Value imports only (what runs): `import type` and `export type` are erased. */
const runtimeDeps = new Map();
const TYPE_ONLY = /^\s*(?:import|export)\s+type\b/;

const folderOf = (file) => path.relative(root, file).split(path.sep)[0];
const rank = (folder) => LAYERS.indexOf(folder);
const problems = [];
const graph = new Map();
let edges = 0;
for (const file of files) {
  const text = fs.readFileSync(file, 'utf8');
  const deps = [];
  const runtime = [];
  for (const m of text.matchAll(
    /(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*'(\.{1,2}\/[^']+)'|\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)|(?:^|\n)\s*import\s*'(\.{1,2}\/[^']+)'/g,
  )) {
    const spec = m[1] ?? m[2] ?? m[3];
    const target = path.join(path.dirname(file), spec).replace(/\.js$/, '.ts');
    deps.push(target);
    if (!TYPE_ONLY.test(m[0].replace(/^\n/, ''))) runtime.push(target);
    edges++;
    const [from, to] = [folderOf(file), folderOf(target)];
    if (rank(from) < 0) problems.push(`${path.relative(root, file)}: folder ${from} is not in LAYERS (scripts/check-imports.mjs)`);
    else if (from !== to && rank(to) > rank(from)) {
      problems.push(`upward import: ${path.relative(root, file)} (${from}) -> ${path.relative(root, target)} (${to})`);
    }
  }
  graph.set(file, deps);
  runtimeDeps.set(file, runtime);
  bareImports.set(
    file,
    [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*'([^.'][^']*)'|\bimport\(\s*'([^.'][^']*)'\s*\)/g)]
      .filter((m) => !TYPE_ONLY.test(m[0].replace(/^\n/, '')))
      .map((m) => m[1] ?? m[2]),
  );
}

// the helper's closure
const reached = new Set();
const queue = files.filter((f) => path.relative(root, f).startsWith('helper/'));
while (queue.length) {
  const f = queue.pop();
  if (reached.has(f)) continue;
  reached.add(f);
  for (const d of runtimeDeps.get(f) ?? []) queue.push(d);
}
for (const f of reached) {
  const rel = path.relative(root, f);
  if (!HELPER_MAY.some((p) => rel === p || (p.endsWith('/') && rel.startsWith(p))))
    problems.push(`the helper reaches ${rel} (scripts/check-imports.mjs HELPER_MAY)`);
  for (const pkg of bareImports.get(f) ?? []) {
    if (!pkg.startsWith('node:') && !HELPER_PACKAGES.includes(pkg.split('/')[0])) problems.push(`the helper reaches package ${pkg} through ${rel}`);
  }
}

// Tarjan's strongly connected components: any component of more than one file is a cycle.
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const on = new Set();
const cycles = [];
function visit(v) {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  on.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue;
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const scc = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      scc.push(path.relative(root, w));
    } while (w !== v);
    if (scc.length > 1) cycles.push(scc.sort());
  }
}
for (const f of graph.keys()) if (!idx.has(f)) visit(f);
for (const c of cycles) problems.push(`import cycle: ${c.join(' <-> ')}`);

if (problems.length) {
  for (const p of problems) console.error(`check-imports: ${p}`);
  process.exit(1);
}
console.log(`check-imports: ${files.length} files, ${edges} relative imports, no upward imports, no cycles; the helper reaches ${reached.size} files`);
