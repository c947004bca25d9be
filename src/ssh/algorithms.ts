import { UserError } from '../util/errors.js';
import { globMatch } from './patterns.js';

/** ssh_config's algorithm lines for a hop, as written (first value wins). */
export interface AlgorithmLines {
  readonly Ciphers?: string;
  readonly KexAlgorithms?: string;
  readonly HostKeyAlgorithms?: string;
  readonly MACs?: string;
  /** Which key types (signature algorithms) are offered: pubkeyFilter. */
  readonly PubkeyAcceptedAlgorithms?: string;
}

/** The lines, in the order ssh -G prints them. */
export const ALGORITHM_LINES = [
  'Ciphers',
  'KexAlgorithms',
  'HostKeyAlgorithms',
  'MACs',
  'PubkeyAcceptedAlgorithms',
] as const satisfies readonly (keyof AlgorithmLines)[];

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

const CERT = '-cert-v01@openssh.com';

/** OpenSSH 9.2's default PubkeyAcceptedAlgorithms (myproposal.h), less the security-key (sk-) ones cloudbridge does not do. */
export const PUBKEY_DEFAULTS = [
  ...['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'].map((a) => `${a}${CERT}`),
  ...['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'],
];
/** What cloudbridge signs with: those, and SHA-1 RSA (ssh-rsa), which ssh2 uses with a server that names no signature algorithms. */
const PUBKEY_SPOKEN = [...PUBKEY_DEFAULTS, 'ssh-rsa', `ssh-rsa${CERT}`];

/** The signature algorithms a key (or certificate) type can make. */
function signaturesOf(type: string): string[] {
  const cert = type.endsWith(CERT);
  const base = cert ? type.slice(0, -CERT.length) : type;
  const algs = base === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [base];
  return cert ? algs.map((a) => `${a}${CERT}`) : algs;
}

/**
 * PubkeyAcceptedAlgorithms as ssh applies it to what it offers: a key (in
 * a file or the agent) or certificate goes out only when one of the
 * signatures its type can make is on the assembled list. Undefined: no
 * line, everything is offered.
 */
export function pubkeyFilter(line: string | undefined): ((type: string) => boolean) | undefined {
  if (line === undefined) return undefined;
  const { list } = assemble('PubkeyAcceptedAlgorithms', line, PUBKEY_DEFAULTS, PUBKEY_SPOKEN);
  return (type) => signaturesOf(type).some((a) => list.includes(a));
}
