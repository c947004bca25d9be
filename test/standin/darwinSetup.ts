import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findEnvironment, parseConfigText } from '../../src/config/load.js';
import type { EnvironmentConfig } from '../../src/config/types.js';
import { moveFolderHere } from '../../src/util/user.js';

/**
 * A stand-in macOS for this test process (test/standin/darwin, written from
 * Apple's sources): ifconfig, route, netstat and networksetup as small
 * programs first on PATH, keeping their state in a temporary folder, and
 * run files there too. `done` removes it all.
 */
export function darwinStandIn(): {
  readonly tmp: string;
  readonly sh: (file: string, ...args: string[]) => string;
  readonly utun: (what: 'open' | 'close', unit: number) => string;
  readonly done: () => void;
} {
  const standIn = new URL('../../../test/standin/darwin/darwin.mjs', import.meta.url).pathname;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-darwin-'));
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  for (const tool of ['ifconfig', 'route', 'netstat', 'networksetup']) {
    fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\nexec "${process.execPath}" "${standIn}" ${tool} "$@"\n`, { mode: 0o755 });
  }
  process.env['PATH'] = `${bin}:${process.env['PATH']}`;
  process.env['STANDIN_DARWIN_STATE'] = path.join(tmp, 'state');
  moveFolderHere('CLOUDBRIDGE_RUN_DIR', path.join(tmp, 'run'));
  moveFolderHere('CLOUDBRIDGE_STATE_DIR', path.join(tmp, 'db'));
  const sh = (file: string, ...args: string[]): string => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    tmp,
    sh,
    utun: (what, unit) => sh(process.execPath, standIn, 'utun', what, String(unit)),
    done: () => fs.rmSync(tmp, { recursive: true, force: true }),
  };
}

/** Environment `name` with `body`'s fields (host `host`), as a Mac user's config gives it. */
export function darwinEnv(name: string, body: string, host = 'h.example.test'): EnvironmentConfig {
  return findEnvironment(parseConfigText(`environments:\n  ${name}:\n    host: ${host}\n${body}`, '/c.yaml', '/Users/dev'), name);
}
