import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** Repository root (tests run from dist/test/e2e). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

export interface Ran {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit. */
export async function run(file: string, args: readonly string[], env: Record<string, string> = {}, input?: string): Promise<Ran> {
  // the tests run under sudo or as root: what sudo set must not leak into the commands they start
  const base = { ...process.env };
  for (const k of ['SUDO_USER', 'SUDO_UID', 'SUDO_GID', 'SUDO_COMMAND']) delete base[k];
  const r = await execa(file, args, { reject: false, timeout: 90_000, env: { ...base, ...env }, extendEnv: false, ...(input === undefined ? {} : { input }) });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}
