import test from 'ava';
import { stepExecutor } from '../../src/daemon/executor.js';
import { Pins } from '../../src/daemon/pins.js';
import { followRoams } from '../../src/daemon/roam.js';
import { StepJournal } from '../../src/plan/apply.js';
import { planHalves } from '../../src/plan/fullTunnel.js';
import { planLocal } from '../../src/plan/plan.js';
import { DarwinNet } from '../../src/platform/darwin/net.js';
import { darwinEnv, darwinStandIn } from './darwinSetup.js';

// A Mac that moves, on the stand-in (test/standin/darwin): a full tunnel
// with its SSH server pinned through en0's gateway, then another network on
// en0 (configd's new address and default route; the static pin stays, as
// XNU keeps it). The controller's own watch (`route -n monitor`, the
// stand-in's printing route.c's messages) sees it, the pin is asked past
// itself and moved, and the session is asked for a round trip. The Linux
// flow through rtnetlink is test/e2e/fullTunnel.test.ts's roam test.

const { sh, utun, done } = darwinStandIn();
const net = new DarwinNet();
const exec = stepExecutor({ net }, undefined, false);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test.after.always(done);

test.serial('a roam on the stand-in: route -n monitor sees it, the pin moves to the new gateway, the old one goes', async (t) => {
  const env = darwinEnv('mac', '    tunnel: { local: 10.96.0.1, remote: 10.96.0.2 }\n    routes: [default]\n', '203.0.113.9');
  utun('open', 7);
  const journal = new StepJournal(undefined, 'mac');
  await journal.apply(planLocal(env, 'utun7', 'darwin'), exec);
  const logs: string[] = [];
  const pins = new Pins(env, {
    net: () => net,
    dev: () => 'utun7',
    applyLocal: (steps) => journal.apply(steps, exec),
    undoLocal: (which) => journal.undo(exec, which),
    log: (l) => void logs.push(l),
  });
  await pins.pin(['203.0.113.9'], 'SSH server');
  await journal.apply(planHalves('utun7'), exec);
  t.regex(sh('route', '-n', 'get', '-inet', '203.0.113.9'), /gateway: 192\.168\.1\.1\n\s+interface: en0/);
  const checks: string[] = [];
  const stop = followRoams(net, { env, dev: () => 'utun7', pins, keeper: { check: (what) => void checks.push(what) }, log: (l) => void logs.push(l) });
  try {
    await sleep(300); // route -n monitor running
    sh(process.execPath, new URL('../../../test/standin/darwin/darwin.mjs', import.meta.url).pathname, 'roam', 'en0', '10.20.30.40/24', '10.20.30.1');
    for (let i = 0; i < 100 && checks.length === 0; i++) await sleep(50);
    t.deepEqual(checks, ["this host's network changed"]);
    t.deepEqual(logs, ['mac: the network changed: SSH server 203.0.113.9: pinned via 10.20.30.1 dev en0 (was via 192.168.1.1 dev en0)']);
    t.regex(sh('route', '-n', 'get', '-inet', '203.0.113.9'), /gateway: 10\.20\.30\.1\n\s+interface: en0/, 'the server through the new gateway');
    t.is(sh('netstat', '-rn', '-f', 'inet').match(/^203\.0\.113\.9 /gm)?.length, 1, 'one pin, the old one gone');
    t.regex(sh('route', '-n', 'get', '-inet', '8.8.8.8'), /interface: utun7/, 'the rest still through the tunnel');
  } finally {
    stop();
  }
  t.deepEqual(await journal.undo(exec), []);
  utun('close', 7);
  t.notRegex(sh('netstat', '-rn', '-f', 'inet'), /203\.0\.113\.9|utun7/);
});
