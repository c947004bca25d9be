import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../config/forwards.js';
import { serve, splice, track, type Listener, type ListenerStats, type StreamTraffic } from '../forward/listeners.js';

/** RFC 1928 reply codes. */
export const REP = {
  ok: 0,
  failure: 1,
  notAllowed: 2,
  networkUnreachable: 3,
  hostUnreachable: 4,
  refused: 5,
  commandNotSupported: 7,
  addressNotSupported: 8,
} as const;

export interface SocksDeps {
  /** Opens the connection on the remote side (names resolved there: socks5h). */
  readonly dial: (to: Endpoint) => Promise<Duplex>;
  /** The allow-list's word, counted there. */
  readonly admits: (host: string, port: number) => boolean;
  /** RFC 1929 username/password; undefined: no authentication. */
  readonly auth: { readonly username: string; readonly password: string } | undefined;
  readonly traffic: StreamTraffic;
}

/** What a client asked to connect to, from a CONNECT request; undefined while incomplete. */
export function parseRequest(b: Buffer): { host: string; port: number; cmd: number; atyp: number; length: number } | undefined | 'bad' {
  if (b.length < 5) return undefined;
  if (b[0] !== 5) return 'bad';
  const cmd = b[1]!;
  const atyp = b[3]!;
  let host: string;
  let at: number;
  if (atyp === 1) {
    if (b.length < 10) return undefined;
    host = `${b[4]}.${b[5]}.${b[6]}.${b[7]}`;
    at = 8;
  } else if (atyp === 3) {
    const len = b[4]!;
    if (b.length < 5 + len + 2) return undefined;
    host = b.subarray(5, 5 + len).toString('latin1');
    at = 5 + len;
  } else if (atyp === 4) {
    if (b.length < 22) return undefined;
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(b.readUInt16BE(4 + i * 2).toString(16));
    host = compressIPv6(words);
    at = 20;
  } else {
    return 'bad';
  }
  return { host, port: b.readUInt16BE(at), cmd, atyp, length: at + 2 };
}

function reply(code: number): Buffer {
  return Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}

/** Maps the SSH channel-open failure sshd reports to the SOCKS reply a client understands. */
export function replyFor(err: Error): number {
  const m = err.message.toLowerCase();
  if (m.includes('refused')) return REP.refused;
  if (m.includes('no route') || m.includes('unreachable')) return REP.hostUnreachable;
  if (m.includes('administratively prohibited') || m.includes('prohibited')) return REP.notAllowed;
  return REP.hostUnreachable;
}

/**
 * One SOCKS5 client connection: greeting, optional username/password, one
 * CONNECT, then bytes both ways over an SSH direct-tcpip channel. Only
 * CONNECT: BIND and UDP ASSOCIATE have no SSH counterpart.
 */
export function handleSocks(sock: net.Socket, deps: SocksDeps, stats: ListenerStats): void {
  let buf: Buffer = Buffer.alloc(0);
  let state: 'greeting' | 'auth' | 'request' | 'connecting' | 'spliced' = 'greeting';
  const fail = (code?: number): void => {
    if (code !== undefined) sock.end(reply(code));
    else sock.destroy();
    stats.refused++;
  };
  const onData = (chunk: Buffer): void => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (state === 'greeting') {
        if (buf.length < 2) return;
        if (buf[0] !== 5) return fail();
        const n = buf[1]!;
        if (buf.length < 2 + n) return;
        const methods = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        const want = deps.auth ? 2 : 0;
        if (!methods.includes(want)) {
          sock.end(Buffer.from([5, 0xff]));
          stats.refused++;
          return;
        }
        sock.write(Buffer.from([5, want]));
        state = deps.auth ? 'auth' : 'request';
      } else if (state === 'auth') {
        if (buf.length < 2) return;
        const ulen = buf[1]!;
        if (buf.length < 2 + ulen + 1) return;
        const plen = buf[2 + ulen]!;
        if (buf.length < 3 + ulen + plen) return;
        const user = buf.subarray(2, 2 + ulen).toString();
        const pass = buf.subarray(3 + ulen, 3 + ulen + plen).toString();
        buf = buf.subarray(3 + ulen + plen);
        const ok = user === deps.auth!.username && pass === deps.auth!.password;
        sock.write(Buffer.from([1, ok ? 0 : 1]));
        if (!ok) {
          sock.end();
          stats.refused++;
          return;
        }
        state = 'request';
      } else if (state === 'request') {
        const req = parseRequest(buf);
        if (req === undefined) return;
        if (req === 'bad') return fail(REP.addressNotSupported);
        if (req.cmd !== 1) return fail(REP.commandNotSupported);
        // IPv6 literals (ATYP 4) too: the remote host's sshd makes the connection, not the tunnel
        // (with an allow-list, which is IPv4 so far, they match no rule and are refused)
        buf = buf.subarray(req.length);
        state = 'connecting';
        sock.off('data', onData);
        sock.pause();
        connect(req.host, req.port);
        return;
      } else {
        return;
      }
    }
  };
  const connect = (host: string, port: number): void => {
    if (!deps.admits(host, port)) return fail(REP.notAllowed);
    deps.dial({ kind: 'inet', host, port }).then(
      (remote) => {
        if (sock.destroyed) return void remote.destroy();
        track(sock, stats, deps.traffic);
        state = 'spliced';
        sock.write(reply(REP.ok));
        if (buf.length) remote.write(buf); // sent early by an eager client
        splice(sock, remote);
      },
      (err: Error) => fail(replyFor(err)),
    );
  };
  sock.on('data', onData);
  sock.on('error', () => {});
  // done sending before the handshake was through: nothing more will come
  sock.once('end', () => state !== 'spliced' && sock.destroy());
}

/** A SOCKS5 listener at `at`. */
export async function listenSocks(at: Endpoint, deps: SocksDeps, owner: { readonly uid: number; readonly gid: number }): Promise<Listener> {
  const stats: ListenerStats = { active: 0, total: 0, refused: 0 };
  // half-open, as the forwards: a client done sending still reads the answer
  const server = net.createServer({ allowHalfOpen: true }, (sock) => handleSocks(sock, deps, stats));
  return { stats, ...(await serve(server, at, owner)) };
}

/** RFC 5952's text for eight 16-bit hex groups ("::" for the first longest run of zeros), as the WHATWG URL serializer writes it. */
export function compressIPv6(groups: readonly string[]): string {
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
