import { createHash } from 'node:crypto';

export { ENV_NAME, ENV_NAME_PATTERN, ENV_NAME_RULE } from '../util/envName.js';

/** Linux interface names are at most 15 bytes (IFNAMSIZ 16 with its NUL). */
const IFNAME_MAX = 15;

/**
 * The default local interface of an environment: cb-NAME when that fits in
 * 15 bytes, else cb-, the name's first 7 characters, - and 4 hex digits of
 * its SHA-256 (staging-eu-west-1 -> cb-staging-cf81): stable across runs,
 * still readable, and two long names sharing a prefix rarely meet (config
 * check and connect name the clash when they do).
 */
export function deviceFor(name: string): string {
  const plain = `cb-${name}`;
  if (plain.length <= IFNAME_MAX) return plain;
  const tag = createHash('sha256').update(name).digest('hex').slice(0, 4);
  return `cb-${name.slice(0, 7).replace(/[-_]+$/, '')}-${tag}`;
}

/** Edit distance (insertions, deletions, substitutions), case aside. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let row = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const next = [i];
    for (let j = 1; j <= y.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    row = next;
  }
  return row[y.length]!;
}

/** The candidate a mistyped word most likely meant (a third of its letters wrong at most), for "did you mean". */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d <= Math.max(1, Math.floor(c.length / 3)) && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

/** docker's own context is called default: an environment of that name would clash with it. */
export const RESERVED_NAMES = ['default'];
