import fs from 'node:fs';
import { UserError } from '../util/errors.js';
import { readOwn } from '../util/ownFile.js';
import { formatLogLine, journalAvailable, logFile, logFiles, parseLogLine, readFrom, type LogEntry } from '../util/log.js';
import { readJournal } from './journalLogs.js';

/** `--since`: a duration back from now (90s, 10m, 1h, 2d) or an ISO time. */
export function sinceTime(text: string, now = Date.now()): number {
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (m) return now - Number(m[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UserError(`--since ${text}: give a duration (90s, 10m, 1h, 2d) or a time (2026-11-30T08:00)`, 2);
  return t;
}

/** A line as printed: as written, or one JSON object (a line that is not a log line, a crash's, keeps its text as message). */
function render(line: string, env: string, json: boolean): string {
  if (!json) return line;
  const e: LogEntry = parseLogLine(line) ?? { time: '', env, level: 'error', message: line };
  return JSON.stringify(e);
}

const keep = (line: string, since: number | undefined): boolean => {
  if (since === undefined) return true;
  const e = parseLogLine(line);
  return e !== undefined && Date.parse(e.time) >= since;
};

/**
 * `cloudbridge logs ENV [-f] [--since T] [--json]`: the controller's log,
 * kept across disconnects: the journal's entries where it logs there, else
 * its file's lines, across rotations.
 */
export async function logs(env: string, args: { follow: boolean; since: string | undefined; json: boolean }): Promise<number> {
  const since = args.since === undefined ? undefined : sinceTime(args.since);
  if (journalAvailable()) {
    const print = (e: LogEntry): void => void process.stdout.write(`${args.json ? JSON.stringify(e) : formatLogLine(e)}\n`);
    const n = await readJournal(env, { since, follow: args.follow }, print);
    if (n === 0 && since === undefined) throw new UserError(`${env} has no log in the journal: it has not been connected here`);
    return 0;
  }
  const files = logFiles(env);
  if (files.length === 0 && !args.follow) throw new UserError(`${env} has no log (${logFile(env)}): it has not been connected here`);
  for (const f of files) {
    for (const line of (readOwn(f) ?? '').split('\n')) if (line && keep(line, since)) process.stdout.write(`${render(line, env, args.json)}\n`);
  }
  if (!args.follow) return 0;
  // -f: what comes next, across a rotation (the file shrinks, or is new)
  const file = logFile(env);
  let pos = fs.existsSync(file) ? fs.statSync(file).size : 0;
  let rest = '';
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    let got: { text: string; size: number };
    try {
      got = readFrom(file, pos);
      if (got.size < pos) got = readFrom(file, (pos = 0));
    } catch {
      continue;
    }
    if (got.size === pos) continue;
    pos = got.size;
    const text = rest + got.text;
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line) process.stdout.write(`${render(line, env, args.json)}\n`);
  }
}
