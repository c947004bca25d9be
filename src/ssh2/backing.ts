/**
 * Fields of ssh2's objects that the addon reads or moves on: the property
 * stays where ssh2 looks for it, its value lives where C sees it.
 */

/** `target[key]` reads and writes `array[index]` from now on (it starts with the current value). */
export function backedBy<K extends string>(target: Record<K, number>, key: K, array: Float64Array, index: number): void {
  array[index] = target[key];
  Object.defineProperty(target, key, {
    configurable: true,
    enumerable: true,
    get: () => array[index],
    set: (v: number) => {
      array[index] = v;
    },
  });
}

/**
 * `target[key]`, a sequence number ssh2 increments per packet, follows
 * `counter.count` instead (the addon's cipher, which counts every packet,
 * those it handled in C included); ssh2's own increments are ignored.
 * Does nothing if already done.
 */
export function countedBy<K extends string>(target: Record<K, number>, key: K, counter: { readonly count: number }): void {
  if (Object.getOwnPropertyDescriptor(target, key)?.get) return;
  const base = target[key] - counter.count;
  Object.defineProperty(target, key, {
    configurable: true,
    enumerable: true,
    get: () => (base + counter.count) >>> 0,
    set: () => {},
  });
}
