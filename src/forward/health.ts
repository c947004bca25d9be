import type { Duplex } from 'node:stream';
import type { HealthCheck } from '../config/forwards.js';

/**
 * One health check over a fresh stream to the target: tcp = the remote side
 * connected; http = GET path answers 2xx or 3xx; smtp = a 220 greeting and
 * a 250 to NOOP. Resolves with what it saw, rejects with why not.
 */
export function checkStream(stream: Duplex, check: HealthCheck, hostHeader: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let sentNoop = false;
    const timer = setTimeout(() => finish(new Error(`no answer within ${check.timeout}s`)), check.timeout * 1000);
    const finish = (err?: Error, detail?: string): void => {
      clearTimeout(timer);
      stream.destroy();
      if (err) reject(err);
      else resolve(detail!);
    };
    stream.on('error', (err: Error) => finish(err));
    stream.on('close', () => finish(new Error(buf ? `closed after "${buf.split('\r\n')[0]!.slice(0, 60)}"` : 'closed without an answer')));
    if (check.kind === 'tcp') return finish(undefined, 'connected');
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      if (check.kind === 'http') {
        const line = buf.split('\r\n')[0]!;
        if (!buf.includes('\r\n')) return;
        const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(line);
        if (m && Number(m[1]) < 400) finish(undefined, line);
        else finish(new Error(`GET ${check.path}: ${line.slice(0, 80)}`));
        return;
      }
      // SMTP: the greeting, then our NOOP's answer; multi-line replies end with "NNN "
      const lines = buf.split('\r\n');
      const complete = lines.slice(0, -1).filter((l) => /^\d{3} /.test(l));
      if (!sentNoop && complete.length >= 1) {
        if (!complete[0]!.startsWith('220')) return finish(new Error(`greeting: ${complete[0]!.slice(0, 80)}`));
        sentNoop = true;
        stream.write('NOOP\r\n');
      } else if (sentNoop && complete.length >= 2) {
        if (complete[1]!.startsWith('250')) {
          stream.write('QUIT\r\n');
          finish(undefined, complete[0]!.slice(0, 80));
        } else finish(new Error(`NOOP: ${complete[1]!.slice(0, 80)}`));
      }
    });
    if (check.kind === 'http') {
      stream.write(`GET ${check.path} HTTP/1.0\r\nHost: ${hostHeader}\r\nUser-Agent: cloudbridge-health\r\nConnection: close\r\n\r\n`);
    }
  });
}
