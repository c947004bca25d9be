import fs from 'node:fs';
import net from 'node:net';
import { serve } from '../forward/listeners.js';

/** Control protocol: one JSON request line, one JSON response line, over a root-only unix socket. */
export interface ControlRequest {
  readonly cmd: 'status' | 'down';
}

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

/** Root-only unless `owner` is given (connect --control-user): then that user's, still 0600. Returns what stops it. */
export async function serveControl(socketPath: string, handler: ControlHandler, owner?: { uid: number; gid: number }): Promise<() => Promise<void>> {
  const server = net.createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    const onData = (chunk: string): void => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 4096) conn.destroy();
        return;
      }
      // one request per connection: what follows the first line is not read, let alone kept
      conn.off('data', onData);
      conn.pause();
      let req: ControlRequest;
      try {
        req = JSON.parse(buf.slice(0, nl)) as ControlRequest;
      } catch {
        conn.end(`${JSON.stringify({ error: 'bad request' })}\n`);
        return;
      }
      handler(req).then(
        (res) => conn.end(`${JSON.stringify(res)}\n`),
        (err: Error) => conn.end(`${JSON.stringify({ error: err.message })}\n`),
      );
    };
    conn.on('data', onData);
    conn.on('error', () => {});
  });
  await serve(server, { kind: 'unix', path: socketPath }, owner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  // Stop listening but leave open connections be: a `down` request is answered on its own connection after this.
  return async () => {
    server.close();
    fs.rmSync(socketPath, { force: true });
  };
}

/** Sends one request; rejects with ENOENT/ECONNREFUSED when no controller listens. */
export function requestControl<T>(socketPath: string, req: ControlRequest, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socketPath);
    let buf = '';
    conn.setEncoding('utf8');
    conn.setTimeout(timeoutMs, () => conn.destroy(new Error(`controller did not answer within ${timeoutMs} ms`)));
    conn.on('connect', () => conn.write(`${JSON.stringify(req)}\n`));
    conn.on('data', (c: string) => (buf += c));
    conn.on('error', reject);
    conn.on('close', () => {
      const line = buf.split('\n')[0];
      if (!line) return reject(Object.assign(new Error('controller closed the connection'), { code: 'ECONNRESET' }));
      try {
        const res = JSON.parse(line) as T & { error?: string };
        if (res.error) reject(new Error(res.error));
        else resolve(res);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}
