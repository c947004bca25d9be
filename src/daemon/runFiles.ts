import fs from 'node:fs';
import path from 'node:path';

/** How often the runtime folder is looked at: one stat per socket. */
const CHECK_MS = 2000;

/**
 * A controller's runtime files, kept while it runs. /run is a tmpfs that
 * systemd-tmpfiles (or a user's rm) may empty under a live controller;
 * before this, `status` and `disconnect` then answered "not connected"
 * while the tunnel stood and passed traffic. Every few seconds each socket
 * it serves is looked for; once one is gone the folder is made again, the
 * journal written again from memory and every socket listened on anew.
 */
export class RunFiles {
  private readonly served = new Map<string, { listen: () => Promise<() => Promise<void>>; close: () => Promise<void> }>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  /**
   * `remake`: the folder made again by someone who may (a --privsep
   * controller runs as its user, and the folder sits in root's: the helper
   * claims it again for them); by default, here.
   */
  constructor(
    private readonly journal: { rewrite(): void },
    private readonly log: (line: string) => void,
    private readonly remake?: () => Promise<void>,
  ) {}

  /** Listens on `socketPath` now, and again whenever it goes. */
  async serve(socketPath: string, listen: () => Promise<() => Promise<void>>): Promise<void> {
    this.served.set(socketPath, { listen, close: await listen() });
  }

  watch(): void {
    this.timer = setInterval(() => {
      this.checking ??= this.check()
        .catch((err: Error) => this.log(`runtime files: could not put them back: ${err.message}`))
        .finally(() => (this.checking = undefined));
    }, CHECK_MS);
    this.timer.unref();
  }

  /** Puts back what is missing; what is there stays as it is. */
  async check(): Promise<void> {
    const gone = [...this.served.keys()].filter((p) => !fs.existsSync(p));
    if (gone.length === 0) return;
    this.log(`runtime files removed under the controller (${gone.join(', ')}): put back`);
    if (this.remake) await this.remake();
    else for (const p of gone) fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o755 });
    this.journal.rewrite();
    for (const p of gone) {
      const s = this.served.get(p)!;
      await s.close();
      s.close = await s.listen();
    }
  }

  /** Stops watching and closes every socket, newest first. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.checking;
    for (const s of [...this.served.values()].reverse()) await s.close();
    this.served.clear();
  }
}
