import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { execa } from 'execa';
import { candidates, COMMANDS, FILES } from '../../src/cli/completion.js';
import { moveFolderHere } from '../../src/util/user.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-complete-'));
const config = path.join(dir, 'config.yaml');
const other = path.join(dir, 'other.yaml');
const runDir = path.join(dir, 'run');
fs.mkdirSync(runDir);
fs.mkdirSync(path.join(runDir, 'staging-old'));
const env = (name: string): string => `  ${name}:\n    host: h.example\n    tunnel: { local: 10.9.0.1, remote: 10.9.0.2 }\n`;
fs.writeFileSync(config, `environments:\n${env('staging')}${env('staging-eu-west-1')}${env('prod')}`);
fs.writeFileSync(other, `environments:\n${env('qa')}`);
// the shells find `cloudbridge` on PATH, as after npm install -g
const bin = path.join(dir, 'bin');
fs.mkdirSync(bin);
fs.writeFileSync(path.join(bin, 'cloudbridge'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
// The shells' cloudbridge runs as root here, which takes no $CLOUDBRIDGE_RUN_DIR (util/user.ts): running
// environments come from the in-process test of `candidates`, the shells show the config's names.
const shellEnv = { PATH: `${bin}:${process.env['PATH']}`, CLOUDBRIDGE_CONFIG: config, HOME: dir };

test.before(() => {
  process.env['CLOUDBRIDGE_CONFIG'] = config;
  moveFolderHere('CLOUDBRIDGE_RUN_DIR', runDir);
});
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

test('candidates: commands, options, option values, environment names from the config and the running ones', async (t) => {
  t.deepEqual(await candidates(['']), Object.keys(COMMANDS));
  t.deepEqual(await candidates(['co']), ['connect', 'config', 'completion']);
  t.deepEqual(await candidates(['--v']), ['--version']);
  t.deepEqual(await candidates(['connect', 'st']), ['staging', 'staging-eu-west-1', 'staging-old']);
  t.deepEqual(await candidates(['logs', '']), ['prod', 'staging', 'staging-eu-west-1', 'staging-old']);
  t.deepEqual(await candidates(['connect', '--config', other, '']), ['qa', 'staging-old'], '--config names the file to read');
  t.deepEqual(await candidates(['connect', '--config', '']), [FILES]);
  t.deepEqual(await candidates(['connect', 'prod', '--dr']), ['--dry-run']);
  t.deepEqual(await candidates(['connect', 'prod', '--platform', '']), ['linux', 'darwin']);
  t.deepEqual(await candidates(['connect', 'prod', '']), [], 'one environment only');
  t.deepEqual(await candidates(['env', '--shell', 'fish', 'pr']), ['prod'], 'an option value is not a positional');
  t.deepEqual(await candidates(['env', '--proxy', 'pr']), ['prod'], 'a flag takes no value');
  t.deepEqual(await candidates(['exec', 'prod', '--', 'docker', '']), []);
  t.deepEqual(await candidates(['config', '']), ['check', 'schema']);
  t.deepEqual(await candidates(['init', '']), []);
  t.deepEqual(await candidates(['nonsense', '']), []);
});

test('the table holds the same options as the argument parser', async (t) => {
  for (const [name, cmd] of Object.entries(COMMANDS)) {
    const help = await execa(process.execPath, [CLI, name, '--help'], { reject: false });
    const parsed = new Set([...String(help.stdout).matchAll(/^ +(?:-\w, )?(--[a-z][a-z-]*) /gm)].map((m) => m[1]!));
    parsed.delete('--help');
    parsed.delete('--version');
    t.deepEqual(Object.keys(cmd.options).sort(), [...parsed].sort(), name);
  }
});

test('bash: the script completes environment names, options and files', async (t) => {
  const script = `source <(cloudbridge completion bash)
complete -p cloudbridge
show() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _cloudbridge; printf '%s\\n' "\${COMPREPLY[@]}" "--"; }
show cloudbridge connect st
show cloudbridge disconnect staging --con
cd ${dir} && show cloudbridge connect --config oth`;
  const r = await execa('bash', ['-c', script], { env: shellEnv, reject: false });
  t.is(r.exitCode, 0, String(r.stderr));
  t.is(String(r.stdout), ['complete -F _cloudbridge cloudbridge', 'staging', 'staging-eu-west-1', '--', '--config', '--', 'other.yaml', '--'].join('\n'));
});

test('zsh: the script registers with compinit and asks for the same candidates', async (t) => {
  const script = `autoload -U compinit && compinit -u -d ${dir}/zcompdump
source <(cloudbridge completion zsh)
print -r -- $_comps[cloudbridge]
_cloudbridge_candidates status st
_cloudbridge_candidates env prod --sh`;
  const r = await execa('zsh', ['-f', '-c', script], { env: shellEnv, reject: false });
  t.is(r.exitCode, 0, String(r.stderr));
  t.is(String(r.stdout), ['_cloudbridge', 'staging', 'staging-eu-west-1', '--shell'].join('\n'));
});

test('fish: complete -C answers from the script', async (t) => {
  const script = `cloudbridge completion fish | source
complete -C'cloudbridge use staging-'
complete -C'cloudbridge logs prod --f'
complete -C'cloudbridge completion '`;
  const r = await execa('fish', ['--no-config', '-c', script], { env: shellEnv, reject: false });
  t.is(r.exitCode, 0, String(r.stderr));
  t.is(String(r.stdout), ['staging-eu-west-1', '--follow', 'bash', 'fish', 'zsh'].join('\n'));
});

test('completion without a shell it knows is a usage error', async (t) => {
  const r = await execa(process.execPath, [CLI, 'completion', 'tcsh'], { reject: false });
  t.is(r.exitCode, 2);
  const bySh = await execa(process.execPath, [CLI, 'completion'], { reject: false, env: { SHELL: '/usr/bin/fish' } });
  t.regex(String(bySh.stdout), /^# cloudbridge completion for fish/);
});
