import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { restoreLeftByBoot } from '../../src/daemon/cleanup.js';
import { stepExecutor } from '../../src/daemon/executor.js';
import { StepJournal } from '../../src/plan/apply.js';
import { planServiceDns } from '../../src/plan/dns.js';
import { planHalves } from '../../src/plan/fullTunnel.js';
import { planLocal } from '../../src/plan/plan.js';
import { DarwinNet } from '../../src/platform/darwin/net.js';
import { bootRecordFile, journalFile } from '../../src/util/paths.js';
import { invokingUser } from '../../src/util/user.js';
import { darwinEnv, darwinStandIn } from './darwinSetup.js';

// A Mac rebooted in the middle of a full tunnel, on the stand-in: the utun,
// its routes and /var/run go with the boot; the DNS servers networksetup set
// on each network service (configd's preferences) do not, and would point at
// the tunnel forever. The steps that outlive a boot have a record of their
// own where a reboot keeps it (/var/db/cloudbridge/boot), put back at the
// next run: connect, cleanup, or the helper's hello.

const { sh, utun, done } = darwinStandIn();
const net = new DarwinNet();
const exec = stepExecutor({ net }, undefined, false);

test.after.always(done);

test.serial('bug: a reboot during a full tunnel: the next run puts the DNS servers back from the boot record', async (t) => {
  const env = darwinEnv('mac', '    tunnel: { local: 10.96.0.1, remote: 10.96.0.2 }\n    routes: [default]\n', '203.0.113.9');
  const before = await net.dnsServices();
  utun('open', 6);
  fs.mkdirSync(path.dirname(journalFile('mac')), { recursive: true });
  const journal = new StepJournal(journalFile('mac'), 'mac', undefined, bootRecordFile('mac'));
  await journal.apply([...planLocal(env, 'utun6', 'darwin'), ...planHalves('utun6'), ...planServiceDns(before, ['10.96.0.2'])], exec);
  t.is(sh('networksetup', '-getdnsservers', 'Wi-Fi'), '10.96.0.2\n');
  t.true(fs.existsSync(bootRecordFile('mac')));
  // the reboot: the device and its routes go, /var/run is empty; configd's settings stay
  utun('close', 6);
  fs.rmSync(path.dirname(journalFile('mac')), { recursive: true });
  t.is(sh('networksetup', '-getdnsservers', 'Wi-Fi'), '10.96.0.2\n', 'still pointed at the tunnel after the boot');
  const said: string[] = [];
  t.deepEqual(await restoreLeftByBoot(env, { user: invokingUser(), progress: (l) => void said.push(l), platform: 'darwin' }), []);
  t.deepEqual(said, [
    'cleanup: mac: a run cut short by a reboot left settings here and on the server; undoing them',
    `cleanup: undid what controller ${process.pid} left (3 steps)`,
  ]);
  t.deepEqual(await net.dnsServices(), before);
  t.false(fs.existsSync(bootRecordFile('mac')), 'the record goes once all is back');
  t.deepEqual(await restoreLeftByBoot(env, { user: invokingUser(), progress: (l) => void said.push(l), platform: 'darwin' }), [], 'a second run finds nothing');
  t.is(said.length, 2, 'and says nothing');
});
