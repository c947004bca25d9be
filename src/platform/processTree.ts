/**
 * A process and every process below it, from (pid, parent pid) pairs: a
 * ProxyCommand's sh, its ssh or nc. Bounded, since the pairs are another
 * program's word (ps on macOS, /proc on Linux).
 */
export function processTree(pairs: Iterable<readonly [number, number]>, root: number): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of pairs) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(pid);
  }
  const tree = [root];
  for (let i = 0; i < tree.length && tree.length < 256; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}
