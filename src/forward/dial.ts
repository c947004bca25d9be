import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';
import { formatEndpoint, type Endpoint } from '../config/forwards.js';

/** Opens a stream to a target as the remote host sees it: a TCP port or a unix socket. */
export type Dialer = (to: Endpoint) => Promise<Duplex>;

/** direct-tcpip for host:port (names resolved by sshd, on the remote side), direct-streamlocal for sockets. */
export function dialOver(client: Client, to: Endpoint): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, stream: Duplex): void => {
      if (err) reject(new Error(`${formatEndpoint(to)}: ${err.message}`));
      else resolve(stream);
    };
    if (to.kind === 'unix') client.openssh_forwardOutStreamLocal(to.path, done);
    else client.forwardOut('127.0.0.1', 0, to.host, to.port, done);
  });
}
