import path from 'node:path';
import { UserError } from '../util/errors.js';
import { envFolderNames } from '../util/paths.js';

/**
 * Shell completion, the way cobra (kubectl, gh) does it: the bash, zsh and
 * fish scripts are thin and ask `cloudbridge __complete WORDS…` for the
 * candidates, so the three shells complete the same things from one table
 * and environment names come from the config the command would read. It
 * answers before yargs loads (quick path in main.ts); a tab press costs
 * about one `status`.
 */

/** An option, and what its value completes to: a file, a fixed list, or nothing to offer. */
type Value = 'file' | readonly string[] | 'none';
interface Command {
  /** The first positional is an environment name. */
  readonly env: boolean;
  /** Choices for the first positional when it is not an environment. */
  readonly choices?: readonly string[];
  /** Options (long form) and, for those that take one, their value. */
  readonly options: Readonly<Record<string, Value | null>>;
}

const CONFIG = { '--config': 'file' } as const;
const PLATFORM = ['linux', 'darwin'];
/** Kept equal to the yargs definitions in main.ts by test/unit/completion.test.ts. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  connect: {
    env: true,
    options: {
      ...CONFIG,
      '--foreground': null,
      '--force': null,
      '--agent': 'file',
      '--control-user': null,
      '--privsep': null,
      '--json': null,
      '--verbose': null,
      '--dry-run': null,
      '--platform': PLATFORM,
    },
  },
  disconnect: { env: true, options: CONFIG },
  cleanup: { env: true, options: { ...CONFIG, '--agent': 'file' } },
  status: { env: true, options: { '--json': null } },
  env: { env: true, options: { ...CONFIG, '--shell': ['bash', 'zsh', 'fish', 'powershell'], '--proxy': null, '--unset': null } },
  exec: { env: true, options: { ...CONFIG, '--proxy': null } },
  run: { env: true, options: { ...CONFIG, '--print': null } },
  use: { env: true, options: CONFIG },
  list: { env: false, options: { ...CONFIG, '--json': null } },
  doctor: { env: true, options: { ...CONFIG, '--agent': 'file', '--json': null } },
  init: { env: false, options: { ...CONFIG, '--host': 'none' } },
  config: { env: false, choices: ['check', 'schema'], options: { ...CONFIG, '--json': null } },
  logs: { env: true, options: { '--follow': null, '--since': 'none', '--json': null } },
  completion: { env: false, choices: ['bash', 'zsh', 'fish'], options: {} },
  'install-service': { env: true, options: { ...CONFIG, '--print': null, '--platform': PLATFORM } },
  'uninstall-service': { env: true, options: { '--platform': PLATFORM } },
  'install-helper': { env: false, options: { '--group': null, '--print': null, '--platform': PLATFORM } },
  'uninstall-helper': { env: false, options: { '--platform': PLATFORM } },
};
const GLOBAL = ['--help', '--version'];

/** The first line when the shell should complete file names instead. */
export const FILES = ':files';

/** Configured environments (of --config, or the usual places) and those up now; errors give none. */
async function envNames(config: string | undefined): Promise<string[]> {
  const names = new Set<string>();
  try {
    const { loadConfig } = await import('../config/load.js');
    for (const n of loadConfig(config).environments.keys()) names.add(n);
  } catch {
    // a broken or missing config completes nothing from it; connect says why
  }
  for (const n of envFolderNames()) names.add(n);
  return [...names].sort();
}

/**
 * Candidates for the last of `words` (the words after `cloudbridge`, the
 * last one being completed, possibly empty), one per line; FILES first when
 * file names are what fits.
 */
export async function candidates(words: readonly string[]): Promise<string[]> {
  const cur = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const starts = (list: Iterable<string>): string[] => [...list].filter((c) => c.startsWith(cur));
  const cmdAt = before.findIndex((w) => !w.startsWith('-'));
  if (cmdAt < 0) return starts(cur.startsWith('-') ? GLOBAL : Object.keys(COMMANDS));
  const cmd = COMMANDS[before[cmdAt]!];
  if (!cmd) return [];
  const prev = before.at(-1);
  const value = prev !== undefined && prev.startsWith('--') ? cmd.options[prev] : undefined;
  if (value === 'file') return [FILES];
  if (value === 'none') return [];
  if (Array.isArray(value)) return starts(value);
  if (cur.startsWith('-')) return starts([...Object.keys(cmd.options), '--help']);
  // the positionals so far: words after the command that are neither options nor their values
  let positionals = 0;
  for (let i = cmdAt + 1; i < before.length; i++) {
    const w = before[i]!;
    if (w === '--') return [];
    if (w.startsWith('-')) i += cmd.options[w] ? 1 : 0;
    else positionals++;
  }
  if (positionals > 0) return [];
  if (cmd.choices) return starts(cmd.choices);
  if (!cmd.env) return [];
  const i = before.indexOf('--config');
  return starts(await envNames(i >= 0 ? before[i + 1] : undefined));
}

/** `__complete WORDS…`: the candidates, a line each. */
export async function complete(words: readonly string[]): Promise<number> {
  const out = await candidates(words.length ? words : ['']);
  if (out.length) process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

const SCRIPTS: Record<'bash' | 'zsh' | 'fish', string> = {
  bash: `# cloudbridge completion for bash: source <(cloudbridge completion bash)
_cloudbridge() {
  local IFS=$'\\n' out
  out=($(cloudbridge __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
  if [[ \${out[0]} == ${FILES} ]]; then
    COMPREPLY=($(compgen -f -- "\${COMP_WORDS[COMP_CWORD]}"))
    compopt -o filenames 2>/dev/null
  else
    COMPREPLY=("\${out[@]}")
  fi
}
complete -F _cloudbridge cloudbridge
`,
  zsh: `#compdef cloudbridge
# cloudbridge completion for zsh: cloudbridge completion zsh > "\${fpath[1]}/_cloudbridge"
# (or: source <(cloudbridge completion zsh) after compinit)
_cloudbridge_candidates() {
  cloudbridge __complete "$@" 2>/dev/null
}
_cloudbridge() {
  local -a out
  out=("\${(@f)$(_cloudbridge_candidates "\${(@)words[2,CURRENT]}")}")
  if [[ \${out[1]} == ${FILES} ]]; then
    _files
  elif (( \${#out[@]} )) && [[ -n \${out[1]} ]]; then
    compadd -a out
  fi
}
if (( $+functions[compdef] )); then compdef _cloudbridge cloudbridge; fi
`,
  fish: `# cloudbridge completion for fish: cloudbridge completion fish > ~/.config/fish/completions/cloudbridge.fish
function __cloudbridge_complete
    set -l words (commandline -opc)[2..-1] (commandline -ct)
    set -l out (cloudbridge __complete $words 2>/dev/null)
    if test "$out[1]" = "${FILES}"
        __fish_complete_path (commandline -ct)
    else
        printf '%s\\n' $out
    end
end
complete -c cloudbridge -f -a '(__cloudbridge_complete)'
`,
};

/** `completion [SHELL]`: the script for SHELL (default: $SHELL's name). */
export function completionScript(shell: string | undefined): string {
  const name = shell ?? path.basename(process.env['SHELL'] ?? 'bash');
  if (name !== 'bash' && name !== 'zsh' && name !== 'fish') throw new UserError(`no completion for ${name}: bash, zsh or fish`, 2);
  return SCRIPTS[name];
}
