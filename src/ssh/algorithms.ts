import { UserError } from '../util/errors.js';
import { globMatch } from './patterns.js';

/** ssh_config's algorithm lines for a hop, as written (first value wins). */
export interface AlgorithmLines {
  readonly Ciphers?: string;
  readonly KexAlgorithms?: string;
  readonly HostKeyAlgorithms?: string;
  readonly MACs?: string;
}

/**
 * One algorithm line as ssh assembles it (kex.c's kex_assemble_names):
 * `+list` after the defaults, `-list` taken out of them, `^list` before
 * them, else the list itself; wildcards match what is spoken. Names ssh2
 * does not speak are left out and returned in `left`, for the caller to
 * say; none left at all is an error naming the line, as ssh stops on a
 * list it cannot use.
 */
export function assemble(
  what: keyof AlgorithmLines,
  value: string,
  defaults: readonly string[],
  supported: readonly string[],
): { list: string[]; left: string[] } {
  const op = /^[+\-^]/.test(value) ? value[0] : '';
  const names = value
    .slice(op ? 1 : 0)
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const expand = (pats: readonly string[]): string[] => pats.flatMap((p) => (/[*?]/.test(p) ? supported.filter((s) => globMatch(p, s, true)) : [p]));
  const wanted =
    op === '+'
      ? [...defaults, ...expand(names)]
      : op === '-'
        ? defaults.filter((d) => !names.some((p) => globMatch(p, d, true)))
        : op === '^'
          ? [...expand(names), ...defaults]
          : expand(names);
  const list = [...new Set(wanted.filter((n) => supported.includes(n)))];
  const left = [...new Set(wanted.filter((n) => !supported.includes(n)))];
  if (list.length === 0) {
    throw new UserError(`ssh_config: ${what} ${value}: cloudbridge speaks none of these (it speaks ${supported.join(', ')})`);
  }
  return { list, left };
}
