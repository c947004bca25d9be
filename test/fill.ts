import fs from 'node:fs';

/**
 * Writes `file` until its filesystem is full, to the last block (1 KiB
 * writes); returns the code that stopped it (ENOSPC when it filled up).
 * The full-disk tests (unit and e2e) share it.
 */
export function fillUp(file: string): string | undefined {
  const fd = fs.openSync(file, 'w');
  try {
    for (;;) fs.writeSync(fd, Buffer.alloc(1024));
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  } finally {
    fs.closeSync(fd);
  }
}
