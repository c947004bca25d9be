import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { checkEnvName } from '../util/envName.js';
import { IDENTIFIER, JOURNAL_SOCKET, journalAvailable, journalWhere, levelOf, logFile, LogWriter, type Level, type LogSink } from '../util/log.js';
import { userStateDir } from '../util/paths.js';
import { invokingUser } from '../util/user.js';
import { loadAddon } from './addon.js';

/**
 * The controller's log in the systemd journal, where the system has one (as
 * tailscaled's and sshd's are): each line one entry sent over journald's
 * native protocol (systemd's "Native Journal Protocol" document;
 * sd_journal_sendv does the same) with SYSLOG_IDENTIFIER=cloudbridge and
 * CLOUDBRIDGE_ENV, so that `journalctl -t cloudbridge CLOUDBRIDGE_ENV=ENV`
 * and `cloudbridge logs ENV` find them. Elsewhere, and when
 * $CLOUDBRIDGE_LOG_DIR moves the log, the rotated file of util/log.ts.
 */

/** journald's stream socket: what systemd-cat connects a process's stdout or stderr to. */
export const JOURNAL_STREAM = '/run/systemd/journal/stdout';
/** syslog priorities (sd-daemon.h) for our levels. */
export const PRIORITY: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };
/** Longer messages are cut: a datagram this size always fits journald's socket buffer. */
const MAX_MESSAGE = 48 * 1024;

/**
 * A native-protocol entry: FIELD=value lines; a value with a newline goes as
 * FIELD, newline, its length as 64-bit little-endian, the bytes, newline.
 */
export function encodeEntry(fields: Readonly<Record<string, string>>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (!v.includes('\n')) {
      parts.push(Buffer.from(`${k}=${v}\n`));
      continue;
    }
    const value = Buffer.from(v);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(value.length));
    parts.push(Buffer.from(`${k}\n`), len, value, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** Lines to journald; if it goes away, on to the file (and says so there). Lines are rare (steps, reconnects), never per packet. */
export class JournalWriter implements LogSink {
  readonly where: string;
  private readonly addon = loadAddon();
  private readonly fd: number;
  private fallback: LogWriter | undefined;

  constructor(private readonly env: string) {
    this.where = journalWhere(env);
    this.fd = this.addon.dgramOpen();
    if (this.fd < 0) throw new Error(`cannot open a datagram socket for the journal (errno ${-this.fd})`);
  }

  write(message: string, level: Level = levelOf(message)): void {
    if (this.fallback) return this.fallback.write(message, level);
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
    const fields = { MESSAGE: text, PRIORITY: String(PRIORITY[level]), SYSLOG_IDENTIFIER: IDENTIFIER, CLOUDBRIDGE_ENV: this.env };
    const sent = this.addon.dgramSend(this.fd, JOURNAL_SOCKET, encodeEntry(fields));
    // EAGAIN: journald's queue is full; the line is dropped rather than the controller stalled
    if (sent >= 0 || sent === -os.constants.errno.EAGAIN) return;
    this.fallback = new LogWriter(this.env, fallbackFile(this.env));
    this.fallback.write(`journald stopped taking lines (errno ${-sent}); the log goes on here`, 'warn');
    this.fallback.write(message, level);
  }
}

/**
 * Where the log goes on when journald goes away: root's file, or for a
 * --privsep controller, which opened the journal as root and has dropped to
 * its user since (root's log folder is not theirs to write), the user's own
 * state folder, where a member of the installed helper's group logs anyway.
 */
function fallbackFile(env: string): string {
  if (process.geteuid?.() === 0) return logFile(env);
  return path.join(userStateDir(invokingUser()), `${checkEnvName(env)}.log`);
}

/** The log an environment's controller writes: the journal where there is one, else the file. */
export function openLog(env: string): LogSink {
  // where the journal is, and the log not moved to a folder of the caller's ($CLOUDBRIDGE_LOG_DIR)
  return journalAvailable() ? new JournalWriter(env) : new LogWriter(env);
}

/**
 * A stream into the journal for a process's stderr (what it cannot say as a
 * log line: a crash), as systemd-cat makes one: the stream protocol's header
 * (identifier, unit, priority, level prefix, then syslog, kmsg and console
 * forwarding off), then plain lines.
 */
export function journalStream(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(JOURNAL_STREAM);
    s.once('error', reject);
    s.once('connect', () => {
      s.removeListener('error', reject);
      s.write(`${IDENTIFIER}\n\n${PRIORITY.error}\n0\n0\n0\n0\n`, () => resolve(s));
    });
  });
}
