#!/usr/bin/env node
/**
 * The privileged helper's entry (docs/privsep.md): serves one controller on
 * fd 3 (requests and replies, one JSON line each) and passes fds on fd 4
 * (SCM_RIGHTS), then exits once everything it did is undone: when the
 * controller says `down`, and when its end closes without one.
 */
import fs from 'node:fs';
import net from 'node:net';
import { loadAddon } from '../native/addon.js';
import { currentPlatform } from '../platform/index.js';
import { hostDeps } from './host.js';
import { serve } from './session.js';

const CONTROL_FD = 3;
const FD_CHANNEL = 4;

const log = (line: string): void => void process.stderr.write(`${line}\n`);
if (process.getuid?.() !== 0) {
  log('cloudbridge helper: runs as root only');
  process.exit(2);
}
const deps = await hostDeps(currentPlatform(), log);
const conn = new net.Socket({ fd: CONTROL_FD, readable: true, writable: true });
const errors = await serve(conn, deps, (reply, fd) => {
  if (fd !== undefined && reply.ok) {
    // the fd first: the controller reads it right after the reply that announces it
    const sent = loadAddon().fdSend(FD_CHANNEL, fd);
    fs.closeSync(fd); // the device lives as long as the controller's copy
    reply = sent < 0 ? { ok: false, error: `could not pass the fd (errno ${-sent})` } : { ...reply, fd: 1 };
  }
  conn.write(`${JSON.stringify(reply)}\n`);
});
deps.close();
process.exit(errors.length ? 1 : 0);
