import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Endpoint, ForwardConfig } from '../config/forwards.js';
import type { InvokingUser } from '../util/user.js';
import type { Dialer } from './dial.js';
import { asBinder, clearUnixPath, ownUnix, removeUnix, unixPlan, type UnixPlan } from './unixPath.js';

/** What moves over SSH streams, for on-demand idle timeouts: open connections and chunks moved. */
export interface StreamTraffic {
  active: number;
  chunks: number;
}

export interface ListenerStats {
  /** Open connections (tcp) or client addresses (udp). */
  active: number;
  total: number;
  /** Turned away: over maxConnections, not allowed, or the target refused. */
  refused: number;
}

export interface Listener {
  readonly stats: ListenerStats;
  /** Where it listens (port 0 in the config becomes the port the kernel gave). */
  readonly bound: Endpoint;
  /** Stops listening and cuts what is open. */
  close(): Promise<void>;
}

export interface StreamDeps {
  readonly dial: Dialer;
  /** The allow-list's word on the target; counted there. */
  readonly admits: (to: Endpoint) => boolean;
  /** Unix socket listeners belong to the invoking user, mode 0600, at a path they chose (unixPath.ts). */
  readonly owner: InvokingUser;
  readonly tls: tls.SecureContextOptions | undefined;
  /** Open connections and chunks moved, for on-demand idle timeouts. */
  readonly traffic: StreamTraffic;
}

function boundOf(listen: Endpoint, addr: string | { port: number } | null): Endpoint {
  return listen.kind === 'inet' && addr !== null && typeof addr === 'object' ? { ...listen, port: addr.port } : listen;
}

/** Why a listener could not start, in words (every listener's error says it the same way). */
export function listenProblem(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return 'the address is in use';
  if (err.code === 'EADDRNOTAVAIL') return 'no such local address';
  return err.message;
}

/** Listens; `bind` runs the (synchronous) bind of a unix socket, as whoever must make it. */
function listenOn(server: net.Server, at: Endpoint, bind: (listen: () => void) => void = (listen) => listen()): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ok = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (at.kind === 'unix') bind(() => server.listen(at.path, ok));
    else server.listen(at.port, at.host, ok);
  });
}

/**
 * Starts `server` at `at` and keeps track of its connections, so that
 * close() cuts them too. A unix socket belongs to `owner`, mode 0600. Its
 * path is either cloudbridge's own, in the root-owned runtime directory, or,
 * with `chosenBy`, a path that user chose: then unixPath.ts's rules apply.
 */
export async function serve(
  server: net.Server,
  at: Endpoint,
  owner: { readonly uid: number; readonly gid: number },
  chosenBy?: InvokingUser,
): Promise<{ bound: Endpoint; close(): Promise<void> }> {
  const open = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  let remove = (): void => {};
  if (at.kind === 'unix') {
    // our runtime directory is root's: root makes the socket and hands it over
    const user = chosenBy ?? { name: '', home: '', ...owner };
    const plan: UnixPlan = chosenBy ? unixPlan(at.path, chosenBy) : { binder: 'root', path: at.path };
    if (chosenBy) await clearUnixPath(at.path, plan, chosenBy);
    else fs.rmSync(at.path, { force: true });
    const oldMask = process.umask(0o177);
    try {
      await listenOn(server, { kind: 'unix', path: plan.path }, (listen) => asBinder(plan.binder, user, listen));
    } finally {
      process.umask(oldMask);
    }
    ownUnix(plan, user);
    remove = () => removeUnix(plan, user);
  } else {
    await listenOn(server, at);
  }
  return {
    bound: boundOf(at, server.address()),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
        remove();
      }),
  };
}

/** Counts an accepted connection while it lasts, in the listener's stats and as traffic (on-demand idle timeouts). */
export function track(conn: net.Socket, stats: ListenerStats, traffic: StreamTraffic): void {
  stats.active++;
  stats.total++;
  traffic.active++;
  conn.once('close', () => {
    stats.active--;
    traffic.active--;
  });
  conn.on('data', () => traffic.chunks++);
}

/** Joins a local connection and a remote stream both ways; either end closing closes the other. */
export function splice(local: Duplex, remote: Duplex): void {
  local.pipe(remote).pipe(local);
  remote.on('error', () => local.destroy());
  remote.on('close', () => local.destroy());
  local.on('close', () => remote.destroy());
  local.resume();
}

/**
 * Joins a paused local connection to its remote stream once that is open,
 * sending first what was read off the connection already. A remote that
 * failed to open, or closed in the meantime, turns the connection away.
 */
export function spliceWhenOpen(local: Duplex, remote: Promise<Duplex>, stats: ListenerStats, first?: Buffer): void {
  remote.then(
    (stream) => {
      if (local.destroyed || stream.destroyed || stream.readableEnded) {
        stream.destroy();
        local.destroy();
        return;
      }
      if (first?.length) stream.write(first);
      splice(local, stream);
    },
    () => {
      stats.refused++;
      local.destroy();
    },
  );
}

/** A TCP or unix socket listener (TLS optional) whose connections are carried to the target over SSH. */
export async function listenStream(fwd: ForwardConfig, deps: StreamDeps): Promise<Listener> {
  const stats: ListenerStats = { active: 0, total: 0, refused: 0 };
  const onConnection = (local: net.Socket): void => {
    local.on('error', () => {});
    if (stats.active >= fwd.maxConnections || !deps.admits(fwd.to)) {
      stats.refused++;
      local.destroy();
      return;
    }
    local.pause();
    track(local, stats, deps.traffic);
    spliceWhenOpen(local, deps.dial(fwd.to), stats);
  };
  // half-open: a client that is done sending (shutdown, as docker's attach
  // and `nc -N` do) still gets everything the target sends after
  const server = deps.tls ? tls.createServer({ ...deps.tls, allowHalfOpen: true }, onConnection) : net.createServer({ allowHalfOpen: true }, onConnection);
  if (deps.tls) server.on('tlsClientError', () => {});
  return { stats, ...(await serve(server, fwd.listen, deps.owner, deps.owner)) };
}

/** How long a UDP client address keeps its association without traffic (conntrack's default for UDP streams). */
const UDP_IDLE_MS = 120_000;

/**
 * A UDP listener relaying each client's datagrams to the target and the
 * answers back, one outgoing socket per client address (socat's
 * UDP-LISTEN,fork). The datagrams take the L3 tunnel: SSH carries streams
 * only, so the target must be routed through it (and the allow-list, if
 * any, sees every datagram in the data path).
 */
export async function listenUdp(fwd: ForwardConfig, traffic: StreamTraffic): Promise<Listener> {
  if (fwd.listen.kind !== 'inet' || fwd.to.kind !== 'inet') throw new Error('UDP forwards are HOST:PORT to ADDRESS:PORT');
  const to = fwd.to;
  // the answer's sender as Node writes it (IPv6 compressed, lower case), to compare with
  const toAddress = net.isIPv6(to.host) ? new net.SocketAddress({ address: to.host, family: 'ipv6' }).address : to.host;
  const stats: ListenerStats = { active: 0, total: 0, refused: 0 };
  const clients = new Map<string, { up: dgram.Socket; timer: NodeJS.Timeout }>();
  const server = dgram.createSocket(net.isIPv6(fwd.listen.host) ? 'udp6' : 'udp4');
  const forget = (key: string): void => {
    const c = clients.get(key);
    if (!c) return;
    clients.delete(key);
    clearTimeout(c.timer);
    c.up.close();
    stats.active--;
  };
  server.on('message', (msg, rinfo) => {
    traffic.chunks++;
    const key = `${rinfo.address}:${rinfo.port}`;
    let c = clients.get(key);
    if (!c) {
      if (clients.size >= fwd.maxConnections) {
        stats.refused++;
        return;
      }
      const up = dgram.createSocket(net.isIPv6(to.host) ? 'udp6' : 'udp4');
      up.on('error', () => forget(key));
      up.on('message', (answer, from) => {
        if (from.address !== toAddress || from.port !== to.port) return;
        traffic.chunks++;
        server.send(answer, rinfo.port, rinfo.address);
      });
      c = { up, timer: setTimeout(() => forget(key), UDP_IDLE_MS) };
      clients.set(key, c);
      stats.active++;
      stats.total++;
    }
    c.timer.refresh();
    c.up.send(msg, to.port, to.host);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.bind(fwd.listen.kind === 'inet' ? fwd.listen.port : 0, fwd.listen.kind === 'inet' ? fwd.listen.host : undefined, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => {});
  return {
    stats,
    bound: boundOf(fwd.listen, server.address()),
    close: async () => {
      for (const key of [...clients.keys()]) forget(key);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
