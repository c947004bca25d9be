import { execFile } from 'node:child_process';

export interface FileRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program (no shell) to completion. For the few commands on
 * `connect`'s own path (iptables, its probe): node:child_process here rather
 * than execa, because loading execa costs ~45 ms of a ~500 ms connect on the
 * bench machine (its bundle chunk alone, measured with a bare import), and
 * these need nothing of it but an exit code and stderr. `check` makes a
 * non-zero exit an Error whose message has the command and its stderr.
 */
export function runFile(file: string, args: readonly string[], check = true): Promise<FileRun> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      const r = { exitCode: code, stdout, stderr: stderr || (err?.message ?? '') };
      if (err && check) reject(new Error(`${[file, ...args].join(' ')} failed (exit ${err.code ?? err.signal}): ${stderr.trim() || err.message}`));
      else resolve(r);
    });
  });
}
