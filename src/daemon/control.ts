import fs from 'node:fs';
import net from 'node:net';

/** Control protocol: one JSON request line, one JSON response line, over a root-only unix socket. */
export interface ControlRequest {
  readonly cmd: 'status' | 'down';
}

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

/** Root-only unless `owner` is given (connect --control-user): then that user's, still 0600. */
export async function serveControl(socketPath: string, handler: ControlHandler, owner?: { uid: number; gid: number }): Promise<net.Server> {
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 4096) conn.destroy();
        return;
      }
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
    });
    conn.on('error', () => {});
  });
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(socketPath, 0o600);
  if (owner) fs.chownSync(socketPath, owner.uid, owner.gid);
  return server;
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
