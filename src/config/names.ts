/** An environment's name: it names a directory, a tun device and a docker context, so it stays short and plain. */
export const ENV_NAME = /^[a-z0-9][a-z0-9_-]{0,11}$/;

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
