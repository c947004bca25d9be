import type { execa as Execa } from 'execa';

let loaded: Promise<typeof Execa> | undefined;

/**
 * execa, loaded on first use: it costs ~0.17 s of start-up, which every
 * `cloudbridge` command and the controller would otherwise pay before doing
 * anything, most of them never running a program.
 */
export function lazyExeca(): Promise<typeof Execa> {
  loaded ??= import('execa').then((m) => m.execa);
  return loaded;
}
