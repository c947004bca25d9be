import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { ROOT } from './helpers.js';

export function makeBlob(file: string, megabytes: number): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < megabytes; i++) {
    const chunk = randomBytes(1024 * 1024);
    hash.update(chunk);
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  return hash.digest('hex');
}

/** Starts a fixture (dist/test/e2e/fixtures/NAME.js) in a namespace; resolves once it prints its first line. */
export async function startFixture(ns: string, name: string, args: readonly string[]): Promise<{ kill(): void }> {
  const server = execa('ip', ['netns', 'exec', ns, process.execPath, path.join(ROOT, `dist/test/e2e/fixtures/${name}.js`), ...args], { reject: false });
  await new Promise<void>((resolve, reject) => {
    server.stdout!.once('data', () => resolve());
    server.once('exit', () => reject(new Error(`${name} exited`)));
  });
  // not `return server`: a returned execa promise would be awaited to the server's exit
  return { kill: () => void server.kill() };
}

/** Starts the blob server in a namespace; resolves once it listens. */
export function startBlobServer(ns: string, port: number, file: string): Promise<{ kill(): void }> {
  return startFixture(ns, 'blobServer', [String(port), file]);
}

/** Sends `file` to the server; resolves with the server's SHA-256 of what arrived. */
export function upload(host: string, port: number, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host, port, allowHalfOpen: true });
    let answer = '';
    sock.on('connect', () => {
      sock.write('U');
      fs.createReadStream(file).pipe(sock);
    });
    sock.on('data', (d: Buffer) => (answer += d.toString()));
    sock.on('end', () => resolve(answer));
    sock.on('error', reject);
  });
}

/** Fetches the server's file; resolves with its SHA-256 and size. Aborting rejects it. */
export function download(host: string, port: number, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host, port });
    // a reset, not a FIN: a stalled transfer's FIN is never acknowledged, and its socket stayed in FIN-WAIT-1,
    // retransmitting for minutes into whatever tunnel routes its address next (it woke an on-demand session)
    signal?.addEventListener('abort', () => {
      sock.resetAndDestroy();
      reject(new Error('aborted'));
    });
    const hash = createHash('sha256');
    let bytes = 0;
    sock.on('connect', () => sock.write('D'));
    sock.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    sock.on('end', () => resolve({ sha256: hash.digest('hex'), bytes }));
    sock.on('error', reject);
  });
}

/** A long-lived connection to the blob server's echo mode. */
export class EchoClient {
  private readonly sock: net.Socket;
  private buf = '';
  private waiter: (() => void) | undefined;
  /** How the connection ended, when it did (a reset, a close): a round trip then fails at once instead of timing out. */
  private ended: string | undefined;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.waiter?.();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      this.ended ??= err.code ?? err.message;
      this.waiter?.();
    });
    sock.on('close', () => {
      this.ended ??= 'closed';
      this.waiter?.();
    });
  }

  static open(host: string, port: number): Promise<EchoClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ host, port }, () => {
        sock.write('E');
        resolve(new EchoClient(sock));
      });
      sock.once('error', reject);
    });
  }

  /** Sends a line and resolves when it comes back; rejects after `timeoutMs`, or at once with "ended: HOW" when the connection ends. */
  roundTrip(line: string, timeoutMs: number): Promise<void> {
    if (!this.ended) this.sock.write(`${line}\n`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no echo of "${line}" within ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        if (this.buf.includes(`${line}\n`) || this.ended) {
          clearTimeout(timer);
          this.waiter = undefined;
          if (this.buf.includes(`${line}\n`)) resolve();
          else reject(new Error(`ended: ${this.ended}`));
        }
      };
      this.waiter = check;
      check();
    });
  }

  close(): void {
    this.sock.destroy();
  }
}
