import fs from 'node:fs';
import path from 'node:path';
import { checkEnvName } from './envName.js';
import { appendOwn, openOwn } from './ownFile.js';
import { movedFolder } from './user.js';
import { plain } from './plain.js';

/**
 * The controller's log: it outlives the controller (a tunnel that dropped
 * overnight leaves its story), one file per environment under
 * /var/log/cloudbridge, capped at LOG_CAP and rotated as logrotate would
 * (ENV.log, ENV.log.1, ENV.log.2), as tailscaled and autossh keep theirs.
 * $CLOUDBRIDGE_LOG_DIR moves it, for a process without root (user.ts).
 */
export const LOG_CAP = 1024 * 1024;
const GENERATIONS = 2;

export function logDir(): string {
  return movedFolder('CLOUDBRIDGE_LOG_DIR') ?? '/var/log/cloudbridge';
}

/** journald's socket for native-protocol entries (native/journal.ts writes them). */
export const JOURNAL_SOCKET = '/run/systemd/journal/socket';
/** The journal's SYSLOG_IDENTIFIER for our entries. */
export const IDENTIFIER = 'cloudbridge';

/** Whether the controller logs to the journal: Linux with journald running, the log not moved by $CLOUDBRIDGE_LOG_DIR. */
export const journalAvailable = (): boolean => process.platform === 'linux' && !logDirMoved() && fs.existsSync(JOURNAL_SOCKET);

export const journalWhere = (env: string): string => `the journal (journalctl -t ${IDENTIFIER} CLOUDBRIDGE_ENV=${env})`;

/** Whether $CLOUDBRIDGE_LOG_DIR moves the log (and so keeps it in a file, journal or not). */
export const logDirMoved = (): boolean => movedFolder('CLOUDBRIDGE_LOG_DIR') !== undefined;

export const logFile = (env: string): string => path.join(logDir(), `${checkEnvName(env)}.log`);

/** The files of an environment's log, oldest first. */
export function logFiles(env: string): string[] {
  const f = logFile(env);
  return [...Array.from({ length: GENERATIONS }, (_, i) => `${f}.${GENERATIONS - i}`), f].filter((p) => fs.existsSync(p));
}

/** What a log holds from `offset` on, and its size then (throws when there is no file). */
export function readFrom(file: string, offset: number): { text: string; size: number } {
  const fd = openOwn(file, fs.constants.O_RDONLY);
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    fs.readSync(fd, buf, 0, buf.length, offset);
    return { text: buf.toString('utf8'), size };
  } finally {
    fs.closeSync(fd);
  }
}

/** Shifts ENV.log to ENV.log.1 (and so on) when it has reached the cap. */
export function rotateIfFull(file: string, cap = LOG_CAP): void {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return;
  }
  if (size < cap) return;
  for (let i = GENERATIONS; i >= 1; i--) {
    const from = i === 1 ? file : `${file}.${i - 1}`;
    if (fs.existsSync(from)) fs.renameSync(from, `${file}.${i}`);
  }
}

export type Level = 'info' | 'warn' | 'error' | 'debug';

export interface LogEntry {
  readonly time: string;
  readonly env: string;
  readonly level: Level;
  readonly message: string;
}

/** One line: ISO time, environment, level, message (what a peer said in it escaped: plain.ts). */
export const formatLogLine = (e: LogEntry): string => `${e.time} ${e.env} ${e.level.padEnd(5)} ${plain(e.message)}`;

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\S+) (info|warn|error|debug) +(.*)$/;

export function parseLogLine(line: string): LogEntry | undefined {
  const m = LINE.exec(line);
  return m ? { time: m[1]!, env: m[2]!, level: m[3] as Level, message: m[4]! } : undefined;
}

/** The level a controller's message reads as. */
export const levelOf = (message: string): Level => (/^(warning|could not|error)\b|; reconnecting$|: session failed: /i.test(message) ? 'warn' : 'info');

/** Where a controller's lines go: its file (LogWriter) or the journal (native/journal.ts). */
export interface LogSink {
  write(message: string, level?: Level): void;
  /** Where to find them, for messages. */
  readonly where: string;
}

/**
 * Writes an environment's log lines to its file, rotating past the cap.
 * Writes are synchronous and rare (steps, reconnects, flows with -v), so a
 * line is on disk before whatever comes next, a crash included.
 */
export class LogWriter implements LogSink {
  private fd: number;
  private size: number;
  readonly where: string;

  constructor(
    private readonly env: string,
    private readonly file = logFile(env),
    private readonly cap = LOG_CAP,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
    rotateIfFull(file, cap);
    this.fd = appendOwn(file);
    this.size = fs.fstatSync(this.fd).size;
    this.where = file;
  }

  /** Lines that could not be written (a full disk), and why: said in the log once it takes lines again. */
  private lost: { count: number; why: string } | undefined;

  /**
   * Writes one line. A log that cannot be written (ENOSPC, EIO) never stops
   * the controller: the line is counted, the tunnel goes on, and the count
   * is the first thing written once the disk takes lines again.
   */
  write(message: string, level: Level = levelOf(message)): void {
    try {
      if (this.lost) {
        this.append(`${this.lost.count} log line${this.lost.count === 1 ? '' : 's'} could not be written (${this.lost.why})`, 'warn');
        this.lost = undefined;
      }
      this.append(message, level);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.lost = { count: (this.lost?.count ?? 0) + 1, why };
    }
  }

  private append(message: string, level: Level): void {
    const text = `${formatLogLine({ time: new Date().toISOString(), env: this.env, level, message })}\n`;
    if (this.size + text.length > this.cap) this.rotate();
    fs.writeSync(this.fd, text);
    this.size += Buffer.byteLength(text);
  }

  /**
   * The file shifted to ENV.log.1 and a new one begun. A --privsep
   * controller opened its log as root and runs as its user since, in a
   * folder only root writes: there the renames are refused, and the open
   * file (writable by its descriptor, whoever holds it now) starts over
   * instead, its first line saying so, rather than every later line lost.
   */
  private rotate(): void {
    try {
      rotateIfFull(this.file, 0); // a rename leaves our descriptor on the old file, now ENV.log.1
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM') throw err;
      fs.ftruncateSync(this.fd, 0);
      this.size = 0;
      this.append(`log: ${this.file} started over at ${this.cap} bytes (its folder is root's: no ${path.basename(this.file)}.1 from this process)`, 'warn');
      return;
    }
    fs.closeSync(this.fd);
    this.fd = appendOwn(this.file);
    this.size = 0;
  }
}
