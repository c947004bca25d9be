#!/usr/bin/env node
/**
 * The jump process's entry (ssh/jumpProcess.ts starts it): reads its job
 * from fd 3, connects the jump hosts, opens the direct-tcpip channel to the
 * target through the last, and relays that channel to its stdin/stdout (one
 * socket, the other end of which is the target's session in the
 * controller). It lives as long as both: when either side ends, it exits,
 * and the controller hears a lost session.
 */
import fs from 'node:fs';
import type { Cipher } from '../config/ciphers.js';
import { DEBUG, FAILED, READY, type JumpJob } from '../ssh/jumpProcess.js';
import { directRing } from '../ssh/transport.js';
import { errorMessage } from '../util/errors.js';
import { plain } from '../util/plain.js';
import { capYoungGeneration } from '../util/nodeFlags.js';

const say = (line: string): void => void process.stderr.write(`${plain(line)}\n`);

// no top-level await: the bundle runs this entry as CommonJS (scripts/bundle.mjs says why)
async function main(): Promise<void> {
  try {
    const job = JSON.parse(fs.readFileSync(3, 'utf8')) as JumpJob;
    // the first jump host's connection before ssh2 loads, as the controller opens its own (ssh/transport.ts):
    // that sshd's fork and re-exec go on meanwhile
    const first = job.jumps[0];
    const early = first && directRing(first);
    const [{ connectJumpsHere }, { relay }] = await Promise.all([import('../ssh/session.js'), import('../datapath/ssh/relay.js')]);
    const { links, stream } = await connectJumpsHere(
      job.jumps,
      job.target,
      { ...job.limits, ciphers: job.limits.ciphers as Cipher[] },
      {
        user: job.user,
        agent: job.agent,
        passphrases: new Map(Object.entries(job.passphrases)),
        log: say,
        debug: job.debug ? (line) => say(`${DEBUG}${line}`) : undefined,
      },
      early,
    );
    // stdin and stdout are the same socket: read one, write the other
    const relayed = relay(links.at(-1)!, stream, 0, 1);
    say(READY);
    capYoungGeneration();
    const done = (): never => process.exit(0);
    void relayed.then(done);
    for (const { client: c } of links) {
      c.on('error', (err: Error) => {
        say(`jump host connection failed: ${err.message}`);
        done();
      });
      c.on('close', done);
    }
  } catch (err) {
    say(`${FAILED}${errorMessage(err)}`);
    process.exit(1);
  }
}
void main();
