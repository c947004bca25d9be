#!/usr/bin/env node
/**
 * The background controller's entry point: `connect` (connect.ts) starts it
 * as `background.cjs ENV OPTIONS-JSON` (tsc's background.js in a checkout) and it runs the controller as
 * `connect --foreground` does, reporting to the waiting `connect` (protocol.ts). Its own entry skips the CLI's argument
 * parser, ~50 ms of every start here; service units run the CLI's
 * `connect ENV --foreground`, which users can read and type.
 */
import { errorMessage, UserError } from '../util/errors.js';
import type { BackgroundArgs } from './quick.js';
import type { HelperClient } from '../helper/client.js';
import { notify } from './protocol.js';
import { plain } from '../util/plain.js';
import { privsepWanted } from './common.js';

const [envName = '', json = '{}'] = process.argv.slice(2);

// no top-level await: the bundle runs this entry as CommonJS (scripts/bundle.mjs says why)
async function main(): Promise<void> {
  let spawnedHelper: HelperClient | undefined;
  try {
    const opts = JSON.parse(json) as BackgroundArgs;
    // --privsep: the helper (a Node start and its code, ~100 ms here) boots while this process loads the
    // controller's; it waits for hello, which comes once `connect` has cleared the way
    spawnedHelper = process.geteuid?.() === 0 && privsepWanted(opts.privsep) ? (await import('../helper/client.js')).HelperClient.spawn() : undefined;
    const { runController } = await import('./lifecycle.js');
    const code = await runController(envName, { ...opts, background: true, spawnedHelper });
    process.exitCode = code;
    // Sockets of a finished controller may linger briefly; do not wait on them.
    setTimeout(() => process.exit(code), 100).unref();
  } catch (err) {
    // a refused start (a config the user may not read): the helper has undone its part before `connect` says so
    await spawnedHelper?.close(2000);
    notify({ error: errorMessage(err) });
    process.stderr.write(`cloudbridge: ${plain(errorMessage(err))}\n`);
    if (!(err instanceof UserError) && process.env['CLOUDBRIDGE_DEBUG']) console.error(err);
    process.exit(err instanceof UserError ? err.exitCode : 1);
  }
}
void main();
