import fs from 'node:fs';
import net from 'node:net';
import type { Client } from 'ssh2';
import { splice } from '../forward/listeners.js';

/**
 * A local unix socket whose connections are carried to a remote unix socket
 * over the SSH connection (direct-streamlocal@openssh.com, as `ssh -L
 * local.sock:remote.sock` does). Owned by the invoking user, mode 0600.
 * `session` yields the connection to use, making one first if need be.
 */
/** What goes through the socket, for idle timeouts: open connections and chunks moved. */
export interface SocketTraffic {
  active: number;
  chunks: number;
}

export async function forwardUnixSocket(
  session: () => Promise<Client>,
  localPath: string,
  remotePath: string,
  owner: { uid: number; gid: number },
  traffic: SocketTraffic = { active: 0, chunks: 0 },
): Promise<net.Server> {
  fs.rmSync(localPath, { force: true });
  const server = net.createServer((local) => {
    local.pause();
    local.on('error', () => {});
    traffic.active++;
    local.once('close', () => traffic.active--);
    local.on('data', () => traffic.chunks++);
    session().then(
      (client) => carry(client, local, remotePath),
      () => local.destroy(),
    );
  });
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(localPath, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(localPath, 0o600);
  fs.chownSync(localPath, owner.uid, owner.gid);
  return server;
}

function carry(client: Client, local: net.Socket, remotePath: string): void {
  client.openssh_forwardOutStreamLocal(remotePath, (err, remote) => {
    if (err) local.destroy();
    else splice(local, remote);
  });
}
