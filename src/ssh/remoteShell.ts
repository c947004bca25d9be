import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { shellJoin } from '../util/quote.js';

/** What a remote command returned: its exit code (null when killed) and its output. */
export interface RemoteResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The most a remote command's stdout and stderr may hold together (ours print a few kB). */
export const MAX_OUTPUT = 1 << 20;

/** A remote command line: sbin on PATH (ip, iptables and sysctl live there), and sudo -n for a user who is not root. */
export const remoteLine = (sudo: boolean, line: string): string => `PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" exec ${sudo ? 'sudo -n ' : ''}${line}`;

/**
 * One shell on the remote host that runs a session's commands one after
 * another, so that each costs a round trip instead of an exec: sshd's
 * session set-up, the user's login shell (with PAM and rc files on a real
 * host) and sudo, each time. On the lab (no PAM) an exec cost 22-27 ms
 * against a sub-millisecond link, and connect ran four of them.
 *
 * Each command is written to the shell's stdin as `(ARGV) </dev/null`, in a
 * subshell so that nothing it does (cd, exit, a variable) reaches the next
 * one, with stdin closed so that it cannot eat the commands after it. Then
 * the shell prints a marker line on stdout with the exit code, and one on
 * stderr; a command's result is what each stream held before its marker.
 * The marker is random per shell: a command's output cannot end another's.
 *
 * One command at a time: the caller (exec.ts) takes the shell only when it
 * is free, and runs a command that comes while it is busy in an exec of its
 * own, as before, so a slow one (a DNS lookup) holds nothing else up.
 */
export class RemoteShell {
  private readonly marker = `@@cb-${randomBytes(8).toString('hex')}`;
  private pending: { resolve: (r: RemoteResult) => void; reject: (err: Error) => void } | undefined;
  private out = '';
  private err = '';
  private code: number | null | undefined;
  private errDone = false;
  private dead: Error | undefined;

  private stream: ClientChannel | undefined;

  /** `opening`: the exec of the shell, under way; the shell is busy until it stands. */
  constructor(private readonly opening: Promise<ClientChannel>) {}

  private attach(stream: ClientChannel): void {
    this.stream = stream;
    stream.setEncoding('utf8');
    stream.stderr.setEncoding('utf8');
    stream.on('data', (d: string) => this.take('out', d));
    stream.stderr.on('data', (d: string) => this.take('err', d));
    stream.on('close', () => this.fail(new Error('the remote shell ended')));
    stream.on('error', (e: Error) => this.fail(e));
  }

  /** Free for a command: alive and not running one. */
  get free(): boolean {
    return !this.pending && !this.dead;
  }

  async run(argv: readonly string[]): Promise<RemoteResult> {
    if (!this.free) throw this.dead ?? new Error('the remote shell is busy');
    this.out = '';
    this.err = '';
    this.code = undefined;
    this.errDone = false;
    const m = this.marker;
    const done = new Promise<RemoteResult>((resolve, reject) => (this.pending = { resolve, reject }));
    if (!this.stream) {
      try {
        this.attach(await this.opening);
      } catch (err) {
        this.fail(err as Error);
      }
    }
    // the newline before each marker ends a last line that had none; take() takes it off again
    if (!this.dead) this.stream!.write(`(${shellJoin(argv)}) </dev/null\nprintf '\\n${m} %d\\n' $?\nprintf '\\n${m}\\n' >&2\n`);
    return done;
  }

  /** Ends the shell: its stdin closes and it exits. */
  close(): void {
    this.fail(new Error('the remote shell was closed'));
    this.stream?.end();
  }

  private take(which: 'out' | 'err', d: string): void {
    if (!this.pending) return; // nothing asked: a shell's stray words go nowhere
    if (which === 'out') this.out += d;
    else this.err += d;
    if (this.out.length + this.err.length > MAX_OUTPUT + 2 * this.marker.length + 16) {
      this.fail(new Error(`more than ${MAX_OUTPUT} bytes of output`));
      this.stream?.close();
      return;
    }
    const m = this.marker;
    if (this.code === undefined) {
      const at = this.out.indexOf(`\n${m} `);
      const eol = at >= 0 ? this.out.indexOf('\n', at + 1) : -1;
      if (eol >= 0) {
        const n = Number(this.out.slice(at + m.length + 2, eol));
        this.code = Number.isInteger(n) ? n : null;
        this.out = this.out.slice(0, at);
      }
    }
    if (!this.errDone) {
      const at = this.err.indexOf(`\n${m}\n`);
      if (at >= 0) {
        this.errDone = true;
        this.err = this.err.slice(0, at);
      }
    }
    if (this.code !== undefined && this.errDone) {
      const p = this.pending;
      this.pending = undefined;
      p.resolve({ code: this.code, stdout: this.out, stderr: this.err });
    }
  }

  private fail(e: Error): void {
    this.dead ??= e;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
  }
}
