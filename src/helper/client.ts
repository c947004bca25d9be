import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { loadAddon } from '../native/addon.js';
import type { Step } from '../plan/steps.js';
import type { Request, StepRequest } from './requests.js';
import type { Reply } from './session.js';
import { entryBeside } from '../util/packageRoot.js';
import { socketHandle } from '../util/socketHandle.js';

/**
 * The controller's end of the privileged helper (docs/privsep.md): root
 * starts the helper with two socket pairs, then drops to the user; every
 * local change after that is a request on the first, and fds (the tun
 * device, port 53 sockets) come back on the second. The helper undoes
 * everything when this end closes, whatever closed it.
 */

/** The helper's entry beside this module's: dist/src/helper/main.js, or the bundle's helper.js from a chunk or an entry. */
export const helperEntry = (): string => entryBeside(import.meta.url, ['main.js', '../helper.js', 'helper.js'], 'helper (helper.js)');

/** Root's PATH for the helper, and nothing else of the caller's environment (no moved folders, no NODE_OPTIONS). */
const HELPER_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin' };

export class HelperClient {
  private buffered = '';
  private readonly waiting: ((reply: Reply) => void)[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Resolves with the helper's exit code once it has gone (everything undone, or not: then its journal stays for cleanup). */
  readonly exited: Promise<number | null>;

  private constructor(
    private readonly sock: net.Socket,
    /** Where passed fds arrive (a raw fd the addon reads with recvmsg). */
    private readonly fds: number,
    exited: Promise<number | null>,
    /** Closes the fd channel. */
    private readonly release: () => void,
  ) {
    this.exited = exited;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting.shift()?.(parseReply(line));
      }
    });
    const gone = (): void => {
      for (const w of this.waiting.splice(0)) w({ ok: false, error: 'the helper has gone' });
    };
    sock.on('close', gone);
    sock.on('error', gone);
  }

  /**
   * Starts the helper as root (the caller still is) in a process group of
   * its own: Ctrl-C reaches the controller, which takes things down, and
   * not the helper under it. It waits for `greet`; a controller that goes
   * first closes its end, and the helper exits having done nothing.
   */
  static spawn(): HelperClient {
    const addon = loadAddon();
    const [ctlHelper, ctlHere] = addon.socketPair();
    const [fdsHelper, fdsHere] = addon.socketPair();
    try {
      const child = spawn(process.execPath, [helperEntry()], {
        // stdout is a background controller's word to the connect that waits on it (protocol.ts): not the helper's to hold open
        stdio: ['ignore', 'ignore', 'inherit', ctlHelper, fdsHelper],
        detached: true,
        env: HELPER_ENV,
      });
      child.unref();
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return new HelperClient(new net.Socket({ fd: ctlHere, readable: true, writable: true }), fdsHere, exited, () => fs.closeSync(fdsHere));
    } finally {
      fs.closeSync(ctlHelper);
      fs.closeSync(fdsHelper);
    }
  }

  /**
   * The installed helper (daemon.ts) at `socketPath`: the fd channel first
   * (its first line says so; then only fds come on it, read by the addon),
   * then the connection for requests. EACCES: the caller is not in its group.
   */
  static async connect(socketPath: string, env: string): Promise<HelperClient> {
    const open = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const s = net.createConnection(socketPath);
        s.once('error', reject);
        s.once('connect', () => {
          s.off('error', reject);
          s.on('error', () => undefined);
          resolve(s);
        });
      });
    const channel = await open();
    await new Promise<void>((resolve, reject) => {
      let said = '';
      channel.on('data', (d: Buffer) => {
        said += d.toString('latin1');
        if (!said.includes('\n')) return;
        // from here on the addon's recvmsg reads it, not Node: Node's pause() keeps libuv reading (into the
        // stream's buffer), and a plain read() would drop a passed fd, so libuv stops reading it here
        channel.removeAllListeners('data');
        channel.pause();
        socketHandle(channel)?.readStop();
        if (said === '{"ok":true}\n') resolve();
        else reject(new Error('the helper did not take the fd channel'));
      });
      channel.once('close', () => reject(new Error('the helper closed the fd channel')));
      channel.write('{"op":"fds"}\n');
    });
    const fd = socketHandle(channel)?.fd ?? -1;
    const sock = await open();
    const exited = new Promise<number | null>((resolve) => sock.once('close', () => resolve(null)));
    return new HelperClient(sock, fd, exited, () => channel.destroy()).greet(env);
  }

  /** Says hello with the environment at once: from then on the helper tidies its folders for it, whatever happens next. */
  greet(env: string): this {
    this.hello = this.ask({ op: 'hello', env }).then(() => undefined);
    this.hello.catch(() => undefined);
    return this;
  }

  /** One request, answered in order; a refusal or a failure is an Error with the helper's one line. */
  private ask(req: Request): Promise<Reply & { ok: true }> {
    const sent = this.queue.then(
      () =>
        new Promise<Reply>((resolve) => {
          if (this.closed || this.sock.destroyed) return resolve({ ok: false, error: 'the helper has gone' });
          this.waiting.push(resolve);
          this.sock.write(`${JSON.stringify(req)}\n`);
        }),
    );
    this.queue = sent;
    return sent.then((reply) => {
      if (!reply.ok) throw new Error(reply.error);
      return reply;
    });
  }

  /** The helper's answer to hello (sent at start): a refused environment fails the first request after it too. */
  hello: Promise<void> = Promise.resolve();

  /** The environment's tun device, opened by root: its fd (ours now) and the kernel's name. */
  async openTun(name: string): Promise<{ fd: number; name: string }> {
    const reply = await this.ask({ op: 'open-tun', name });
    return { fd: this.takeFd(), name: reply.name ?? name };
  }

  async step(step: Step): Promise<void> {
    await this.ask({ op: 'step', step: step as StepRequest });
  }

  async undo(titles: readonly string[]): Promise<void> {
    await this.ask({ op: 'undo', titles });
  }

  /** The environment's run folder made again, ours (it was removed under the controller). */
  async claim(): Promise<void> {
    await this.ask({ op: 'claim' });
  }

  /** A socket bound to port 53 of `addr` (not listening yet): its fd, ours now. */
  async bind(addr: string, proto: 'udp' | 'tcp'): Promise<number> {
    await this.ask({ op: 'bind', addr, proto });
    return this.takeFd();
  }

  /** The fd the helper sent just before its reply (session.ts passes it first). */
  private takeFd(): number {
    const fd = loadAddon().fdRecv(this.fds);
    if (fd < 0) throw new Error(`the helper's fd did not arrive (errno ${-fd})`);
    return fd;
  }

  /**
   * Ends the connection: the helper undoes whatever is left of what it did
   * and exits. Waits for it (at most `ms`), so a following connect finds a
   * clean slate.
   */
  async close(ms = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    this.release();
    // a timer that holds the event loop: the child is unref'd, and a loop with nothing else to do would end mid-teardown
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}

function parseReply(line: string): Reply {
  try {
    const r = JSON.parse(line) as Reply;
    return typeof r === 'object' && r !== null && typeof r.ok === 'boolean' ? r : { ok: false, error: 'the helper said something else' };
  } catch {
    return { ok: false, error: 'the helper said something else' };
  }
}
