import net from 'node:net';
import type { Client, Connection, ServerChannel } from 'ssh2';
import { ssh2 } from '../../src/ssh2/load.js';
import { hostKeyAlgorithms } from '../../src/ssh2/certs.js';
import { ChannelEnds } from '../../src/ssh2/channel.js';
import { SshLink } from '../../src/datapath/ssh/link.js';
import { ReadRing } from '../../src/datapath/ssh/readRing.js';
import * as ssh2Connection from '../../src/ssh2/connection.js';
import { ed25519Key } from './sshKey.js';

// ssh2's own Server on loopback and a client connected as cloudbridge connects (a read ring
// on the socket), in this process: the harness of the adapter's contract tests and the
// data path's unit tests. Rekeys use ssh2's calls (the client's has no public one).

const hostKey = ed25519Key();

export interface Pair {
  readonly link: SshLink;
  readonly client: Client;
  /** The server's side of the connection. */
  readonly peer: Connection;
  /** ssh2's debug lines on the client, as -vv shows them. */
  readonly debugLines: string[];
  close(): void;
}

/** An ssh2 Server on loopback and a client of ours: through a read ring (as a direct connection) or a plain socket. */
/** `early`: the ring's connection stands, and the server's banner waits, before ssh2 is given it (src/ssh/transport.ts). */
export async function connect(cipher: string, opts: { ring: boolean; early?: boolean } = { ring: true }): Promise<Pair> {
  let peer: Connection | undefined;
  const server = new ssh2.Server({ hostKeys: [hostKey] }, (c) => {
    peer = c;
    c.on('authentication', (ctx) => ctx.accept());
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const ring = opts.ring ? new ReadRing({ host: '127.0.0.1', port }) : undefined;
  const sock = ring?.socket ?? net.connect(port, '127.0.0.1');
  if (opts.early) {
    await new Promise((r) => sock.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
  }
  const client = new ssh2.Client();
  const debugLines: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
  client.connect({
    sock,
    username: 'u',
    hostVerifier: () => true,
    // the certificate algorithms first, as when a CA could vouch for the host: the patched key exchange negotiates past them
    algorithms: { cipher: [cipher as never], serverHostKey: hostKeyAlgorithms(true) },
    debug: (line) => void debugLines.push(line),
  });
  ring?.attach(client, ssh2Connection);
  await ready;
  ring?.ready();
  client.on('error', () => undefined);
  return {
    link: new SshLink(client, ring, { socket: sock }),
    client,
    peer: peer!,
    debugLines,
    close: () => {
      client.end();
      server.close();
    },
  };
}

/** Opens a direct-tcpip channel from the client; the server's side of it comes back too. */
export function channel(p: Pair): Promise<{ ends: ChannelEnds; stream: NodeJS.EventEmitter; far: ServerChannel }> {
  const far = new Promise<ServerChannel>((resolve) => p.peer.once('tcpip', (accept) => resolve(accept())));
  return new Promise((resolve, reject) => {
    p.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, stream) => {
      if (err) return reject(err);
      void far.then((f) => resolve({ ends: ChannelEnds.ofStream(stream, p.client), stream, far: f }));
    });
  });
}

/**
 * A key exchange, started by the server (Connection.rekey) or the client (ssh2's Client has
 * no call for it: its protocol object's), resolved once the client has the new keys.
 */
export function rekey(who: Client | Connection): Promise<void> {
  if (who instanceof ssh2.Client) {
    const done = new Promise<void>((resolve) => who.once('handshake', () => resolve()));
    (who as unknown as { _protocol: { rekey(): void } })._protocol.rekey();
    return done;
  }
  return new Promise((resolve) => who.rekey(() => resolve()));
}
