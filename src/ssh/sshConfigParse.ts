import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import { globMatch } from './patterns.js';

/**
 * ssh_config(5) files as blocks, read the way ssh reads them (readconf.c):
 * `Key value` and `Key=value` lines, double quotes, `Host` and `Match`
 * blocks, and `Include` followed where it stands (relative to ~/.ssh for
 * the user's files, /etc/ssh for the system's; globs; nested; an included
 * file's blocks guarded by the block that held the Include). What applies
 * to a host is sshConfig.ts's business.
 */

export interface Line {
  readonly key: string;
  readonly args: readonly string[];
  /** The value as written (ProxyCommand runs it through a shell, quotes and all). */
  readonly rest: string;
  /** Where it was read, as ssh names it in an error: `FILE line N` ('' when parsed from a string). */
  readonly where?: string;
}

/** One file's text, and its name for errors. */
export interface ConfigText {
  readonly file: string;
  readonly text: string;
}

/** One condition of a Match line: `host a,b*`, `!user root`, `final`. */
export interface Criterion {
  readonly name: string;
  readonly negate: boolean;
  readonly patterns: readonly string[];
}

/** What decides whether a block applies: Host patterns, or a Match line's criteria. */
export interface Condition {
  readonly patterns?: readonly string[];
  readonly match?: readonly Criterion[];
}

export interface Block {
  /** Host patterns; undefined for the lines before any Host (they apply to all) and for Match blocks. */
  readonly patterns: readonly string[] | undefined;
  /** A Match block's conditions, all of which must hold. */
  readonly match?: readonly Criterion[];
  /**
   * The Host or Match blocks an Include sat in, outermost first: each must
   * apply too (readconf.c reads an included file in the includer's state,
   * and nothing in it matches when the includer's block does not).
   */
  readonly guards?: readonly Condition[];
  readonly lines: Line[];
}

/** readconf.c's READCONF_MAX_DEPTH: Include within Include this deep at most. */
const MAX_INCLUDE_DEPTH = 16;

/** Criteria without an argument; the others take one comma-separated list. */
const BARE_CRITERIA = new Set(['all', 'canonical', 'final']);

function parseMatch(args: readonly string[]): Criterion[] {
  const criteria: Criterion[] = [];
  for (let i = 0; i < args.length; i++) {
    // `host=a,b` is `host a,b` (readconf.c's match_cfg_line splits a criterion at "=")
    const eq = args[i]!.indexOf('=');
    const word = (eq > 0 ? args[i]!.slice(0, eq) : args[i]!).toLowerCase();
    const negate = word.startsWith('!');
    const name = negate ? word.slice(1) : word;
    // exec takes one command, commas and all
    const arg = BARE_CRITERIA.has(name) ? '' : eq > 0 ? args[i]!.slice(eq + 1) : (args[++i] ?? '');
    const patterns = name === 'exec' ? [arg] : arg.split(',').filter(Boolean);
    criteria.push({ name, negate, patterns });
  }
  return criteria;
}

/** Splits one line into keyword and arguments: `Key value`, `Key=value`, double quotes. */
function tokenize(raw: string): Line | undefined {
  const line = raw.trim();
  if (!line || line.startsWith('#')) return undefined;
  const m = /^([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+)(.*)$/.exec(line);
  if (!m) return undefined;
  const args: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let t: RegExpExecArray | null;
  while ((t = re.exec(m[2]!)) !== null) {
    // a word that starts with # ends the line (misc.c's argv_split, as readconf.c calls it)
    if (t[2]?.startsWith('#')) break;
    args.push(t[1] ?? t[2]!);
  }
  return { key: m[1]!.toLowerCase(), args, rest: m[2]!.trim() };
}

/**
 * Parses one file into blocks. `include` reads what an Include names (each
 * file's text); an included file's blocks carry the including block as a
 * guard, and the including block goes on after them, as ssh reads them.
 */
export function parseSshConfig(
  text: string,
  include: (pattern: string) => ConfigText[] = () => [],
  guards: readonly Condition[] = [],
  depth = 0,
  file = '',
): Block[] {
  const g = guards.length ? { guards } : {};
  const blocks: Block[] = [{ patterns: undefined, ...g, lines: [] }];
  let current: Condition | undefined;
  let n = 0;
  for (const raw of text.split('\n')) {
    n++;
    const t = tokenize(raw);
    if (!t) continue;
    const l = file ? { ...t, where: `${file} line ${n}` } : t;
    if (l.key === 'host') {
      current = { patterns: l.args };
      blocks.push({ patterns: l.args, ...g, lines: [] });
    } else if (l.key === 'match') {
      current = { match: parseMatch(l.args) };
      blocks.push({ patterns: undefined, match: current.match!, ...g, lines: [] });
    } else if (l.key === 'include') {
      // ssh's words (readconf.c): the whole config is refused, never a file quietly left out
      if (depth >= MAX_INCLUDE_DEPTH) throw new UserError(`ssh_config: ${l.where ?? 'Include'}: Too many recursive configuration includes (a loop?)`);
      const inner = current ? [...guards, current] : guards;
      for (const pattern of l.args) {
        for (const f of include(pattern)) blocks.push(...parseSshConfig(f.text, include, inner, depth + 1, f.file));
      }
      // the including block goes on after the included files
      blocks.push({ patterns: current?.patterns, ...(current?.match ? { match: current.match } : {}), ...g, lines: [] });
    } else {
      blocks[blocks.length - 1]!.lines.push(l);
    }
  }
  return blocks;
}

/** `~` and `~/…` under `home`, as ssh's tilde_expand_filename; anything else as it is. */
export const tildePath = (value: string, home: string): string => (value.startsWith('~/') || value === '~' ? path.join(home, value.slice(1)) : value);

/** ssh's system-wide file: what it Includes by a relative path is under /etc/ssh; the user's files' under ~/.ssh. */
const SYSTEM_CONFIG = '/etc/ssh/ssh_config';

/**
 * Reads the ssh_config files, following Include. What cannot be opened is
 * skipped, as ssh skips it; what is read is parsed whole or refused whole.
 * The user's own ~/.ssh/config is refused, as ssh refuses it, when someone
 * else owns it or others may write it.
 */
export function readSshConfigFiles(files: readonly string[], home: string): Block[][] {
  const includer =
    (relativeTo: string) =>
    (pattern: string): ConfigText[] => {
      const p = pattern.startsWith('~/') ? tildePath(pattern, home) : path.isAbsolute(pattern) ? pattern : path.join(relativeTo, pattern);
      const dir = path.dirname(p);
      const base = path.basename(p);
      let names: string[];
      try {
        names =
          base.includes('*') || base.includes('?')
            ? fs
                .readdirSync(dir)
                // glob(3) without GLOB_PERIOD: a leading dot is matched only by a pattern's own (config.d/.old-x stays out)
                .filter((n) => globMatch(base, n, true) && (!n.startsWith('.') || base.startsWith('.')))
                .sort()
            : [base];
      } catch {
        return [];
      }
      return names.flatMap((n) => {
        const file = path.join(dir, n);
        const text = readOrSkip(file);
        return text === undefined ? [] : [{ file, text }];
      });
    };
  const userConfig = path.join(home, '.ssh', 'config');
  return files.flatMap((f) => {
    const text = readOrSkip(f, f === userConfig);
    return text === undefined ? [] : [parseSshConfig(text, includer(f === SYSTEM_CONFIG ? '/etc/ssh' : path.join(home, '.ssh')), [], 0, f)];
  });
}

/** A file's text, or undefined when it cannot be opened (ssh's fopen failing: skipped); with `checkPerm`, ssh's check of the user's config. */
function readOrSkip(file: string, checkPerm = false): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    if (checkPerm) {
      const st = fs.fstatSync(fd);
      const me = process.geteuid?.() ?? 0;
      if ((st.uid !== 0 && st.uid !== me) || (st.mode & 0o022) !== 0) throw new UserError(`ssh_config: Bad owner or permissions on ${file}`);
    }
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
