import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadAddon } from '../native/addon.js';
import { ROOT_RUN_DIR } from '../util/paths.js';
import { socketHandle } from '../util/socketHandle.js';
import { claimRunFolder } from './host.js';
import { passFd, serve, type HelperDeps } from './session.js';

/**
 * The installed helper (`cloudbridge install-helper`, docs/privsep.md): one
 * root process for the host, listening on a unix socket that only root and
 * a group may open (Tailscale's operator). Each controller connects twice:
 * once for requests and replies (a session as main.ts serves one), once for
 * fds (SCM_RIGHTS). The kernel says who is calling (SO_PEERCRED): the fd
 * connection is paired with the request connection of the same process,
 * and an environment is its caller's (its run folder theirs) or refused.
 */

/** What a connection's first line is, when it is the fd channel rather than a session. */
const FD_CHANNEL = '{"op":"fds"}';

interface Caller {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** The socket's raw fd, which the addon reads credentials from and passes fds over (Node has no API for either). */
const rawFd = (sock: net.Socket): number => socketHandle(sock)?.fd ?? -1;

function callerOf(sock: net.Socket): Caller | undefined {
  const cred = loadAddon().peerCred(rawFd(sock));
  return Array.isArray(cred) ? { pid: cred[0], uid: cred[1], gid: cred[2] } : undefined;
}

/**
 * Listens on `socketPath` for the members of group `gid` (the socket is
 * root:gid 0660: the kernel keeps everyone else out) and serves each
 * controller's session until its connection ends, then undoes what is left
 * of it, as the helper a controller starts does. Returns the server.
 */
export async function listen(socketPath: string, gid: number, base: HelperDeps, log: (line: string) => void): Promise<net.Server> {
  /** Fd channels by the pid that opened them (the kernel's word, not the caller's). */
  const channels = new Map<number, net.Socket>();
  const server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    const caller = callerOf(sock);
    if (!caller) return void sock.destroy();
    let first = '';
    const onFirst = (chunk: Buffer): void => {
      first += chunk.toString('latin1');
      const nl = first.indexOf('\n');
      if (nl < 0) {
        if (first.length > 4096) sock.destroy();
        return;
      }
      sock.off('data', onFirst);
      sock.pause();
      if (first.slice(0, nl) === FD_CHANNEL && first.length === nl + 1) {
        // an fd channel: nothing more is read from it, fds are sent on it
        channels.get(caller.pid)?.destroy();
        channels.set(caller.pid, sock);
        sock.once('close', () => channels.get(caller.pid) === sock && channels.delete(caller.pid));
        sock.write('{"ok":true}\n');
        return;
      }
      sock.unshift(Buffer.from(first, 'latin1'));
      session(sock, caller);
    };
    sock.on('data', onFirst);
  });

  const session = (sock: net.Socket, caller: Caller): void => {
    const deps: HelperDeps = {
      ...base,
      claim: (env) => {
        claimRunFolder(ROOT_RUN_DIR, env, caller);
        return caller.uid;
      },
    };
    log(`helper: session for uid ${caller.uid} (pid ${caller.pid})`);
    void serve(sock, deps, (reply, fd) => {
      const channel = channels.get(caller.pid);
      const out = passFd(reply, fd, channel && rawFd(channel));
      if (!sock.destroyed) sock.write(`${JSON.stringify(out)}\n`);
    }).then((errors) => {
      channels.get(caller.pid)?.destroy();
      log(`helper: session for uid ${caller.uid} (pid ${caller.pid}) ended${errors.length ? `; could not undo: ${errors.join('; ')}` : ''}`);
    });
    sock.resume(); // paused while the first line was read: serve's listener takes it from here
  };

  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  fs.rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  fs.chownSync(socketPath, 0, gid);
  fs.chmodSync(socketPath, 0o660);
  return server;
}
