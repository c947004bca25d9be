import type { Client } from 'ssh2';
import { shellJoin } from './quote.js';

export interface RemoteResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class RemoteCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RemoteResult,
  ) {
    const why = result.stderr.trim().split('\n')[0] || result.stdout.trim().split('\n')[0] || `exit ${result.code}`;
    super(`remote command "${shellJoin(argv)}" failed: ${why}`);
    this.name = 'RemoteCommandError';
  }
}

/** Runs a command on the remote host. Words are quoted; sbin is on PATH; non-root users go through `sudo -n`. */
export function execRemote(client: Client, argv: readonly string[], opts: { sudo: boolean }): Promise<RemoteResult> {
  const command = `PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" exec ${opts.sudo ? 'sudo -n ' : ''}${shellJoin(argv)}`;
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let code: number | null = null;
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => errOut.push(d));
      stream.on('exit', (c: number | null) => {
        code = c;
      });
      stream.on('close', () => {
        resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errOut).toString('utf8') });
      });
    });
  });
}

export async function runRemote(client: Client, argv: readonly string[], opts: { sudo: boolean }): Promise<string> {
  const result = await execRemote(client, argv, opts);
  if (result.code !== 0) throw new RemoteCommandError(argv, result);
  return result.stdout;
}
