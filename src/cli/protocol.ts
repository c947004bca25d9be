import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { Socket } from 'node:net';
import type { Status } from '../daemon/status.js';

/**
 * Between `connect` and the background controller it starts
 * (background.ts, running what `connect ENV --foreground` runs), both ends:
 * - the controller writes one JSON message per line on its stdout while it
 *   comes up, and closes stdout once ready (or exits on failure);
 * - secrets (key passphrases) go down fd 3, never argv or the environment;
 * - its stderr is the controller log from the start.
 */
export type ControllerMessage =
  | { readonly progress: string }
  /** The config is read and the environment is there: from here on its log is worth keeping, whatever happens. */
  | { readonly began: true }
  | { readonly ready: true; readonly status: Status }
  | { readonly error: string };

/** Controller side: one message to the waiting `connect`. */
export function notify(msg: ControllerMessage): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

/**
 * Controller side: ready was sent; once all of it is written (a pipe takes
 * 64 KiB at a time, and a status with a long allow-list is more), stdout is
 * closed: the waiting `connect` reads until EOF.
 */
export function notifyDone(): Promise<void> {
  return new Promise((resolve) =>
    process.stdout.write('', () => {
      fs.closeSync(1);
      resolve();
    }),
  );
}

/**
 * Controller side: the go-ahead on fd 3, with the passphrases (none when
 * it says nothing readable); 'abort' when `connect` found a reason not to
 * go on (the environment is up already, its leftovers could not be undone:
 * it says so itself); undefined when it closed without a word (it died,
 * e.g. Ctrl-C at its passphrase prompt). Nothing of the host is touched
 * before this answers.
 */
export async function receiveGo(): Promise<Map<string, string> | 'abort' | undefined> {
  try {
    // asynchronously: the controller loads its code meanwhile
    const text = await new Promise<string>((resolve, reject) => fs.readFile(3, 'utf8', (err, t) => (err ? reject(err) : resolve(t))));
    if (!text) return undefined;
    const said = JSON.parse(text) as { abort?: true; passphrases?: Record<string, string> };
    return said.abort ? 'abort' : new Map(Object.entries(said.passphrases ?? {}));
  } catch {
    return new Map();
  }
}

export interface Started {
  /** The controller's status once ready; undefined when it failed. */
  readonly status: Status | undefined;
  /** What it said went wrong, if it said anything. */
  readonly error: string | undefined;
  /** It read its config and found the environment (a controller that never did leaves its log to no one). */
  readonly began: boolean;
  readonly exitCode: number | null;
  readonly pid: number | undefined;
  /** Lets go of a controller that is up, so this process can exit. */
  readonly release: () => void;
}

/** Parent side: starts the controller (`cli` with `args`) detached and waits until it is ready or gone. */
export async function startController(
  cli: string,
  args: readonly string[],
  /** Where the controller's stderr goes, the log's file or a journal stream: closed here once handed over. */
  log: number | Socket,
  /** The go-ahead, sent down fd 3 once known; when this fails, the controller is told to stop before it starts. */
  passphrases: Promise<ReadonlyMap<string, string>>,
  onProgress: (line: string) => void,
): Promise<Started> {
  const child = spawn(process.execPath, [cli, ...args], { detached: true, stdio: ['ignore', 'pipe', log, 'pipe'] });
  const stdout = child.stdout!;
  if (typeof log === 'number') fs.closeSync(log);
  else log.destroy();
  const secrets = child.stdio[3] as Writable;
  secrets.on('error', () => undefined); // a controller that died early: its exit says why
  passphrases.then(
    (p) => secrets.end(JSON.stringify({ passphrases: Object.fromEntries(p) })),
    () => secrets.end(JSON.stringify({ abort: true })),
  );
  let status: Status | undefined;
  let error: string | undefined;
  let began = false;
  let buf = '';
  stdout.setEncoding('utf8');
  stdout.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let msg: Partial<{ progress: string; began: true; ready: true; status: Status; error: string }>;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        continue;
      }
      if (msg.progress) onProgress(msg.progress);
      if (msg.began) began = true;
      if (msg.ready) status = msg.status;
      if (msg.error) error = msg.error;
    }
  });
  const exitCode = await new Promise<number | null>((resolve) => {
    stdout.on('end', () => resolve(null));
    child.on('exit', (code) => resolve(code ?? 1));
  });
  // Its pipes too: a pipe handle left open keeps this process waiting for nothing.
  const release = (): void => {
    for (const s of child.stdio) s?.destroy();
    child.unref();
  };
  return { status, error, began, exitCode, pid: child.pid, release };
}
