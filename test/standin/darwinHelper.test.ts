import path from 'node:path';
import test from 'ava';
import { hostDeps } from '../../src/helper/host.js';
import { HelperSession, type HelperDeps } from '../../src/helper/session.js';
import { planServiceDns } from '../../src/plan/dns.js';
import { excludeStep, pinStep, planHalves } from '../../src/plan/fullTunnel.js';
import { planLocal } from '../../src/plan/plan.js';
import type { Step } from '../../src/plan/steps.js';
import { DarwinNet } from '../../src/platform/darwin/net.js';
import { darwinEnv, darwinStandIn } from './darwinSetup.js';

// --privsep on macOS: the helper's own session, with the host it runs on being the stand-in
// (route, ifconfig, netstat, networksetup as Apple's behave): what a darwin controller asks
// is judged by the darwin policy and done, what it must not ask is refused, and the end of
// the session (the controller gone) leaves the stand-in as it was.

const { sh, utun, tmp, done } = darwinStandIn();
test.after.always(done);

const full = darwinEnv('all', '    tunnel: { local: 10.96.0.1, remote: 10.96.0.2 }\n    routes: [default]\n');

/** The helper's real darwin deps, but for what only a Mac has: the utun control socket and its interfaces. */
async function session(unit: number): Promise<{ s: HelperSession; close: () => void }> {
  const real = await hostDeps('darwin', () => undefined);
  const deps: HelperDeps = {
    ...real,
    kernel: {
      ...real.kernel,
      hasDevice: async (name) => new RegExp(`^${name}:`, 'm').test(sh('ifconfig')),
      localAddresses: async () => ['127.0.0.1', '192.168.1.40'],
    },
    openTun: () => {
      utun('open', unit);
      return { fd: -1, name: `utun${unit}` };
    },
    journalFile: (env) => path.join(tmp, `${env}.helper.json`),
  };
  return { s: new HelperSession(deps), close: () => real.close() };
}

const ask = (s: HelperSession, req: object): Promise<{ ok: boolean; error?: string; name?: string }> => s.handle(JSON.stringify(req));
const stepReq = (st: Step): object => ({ op: 'step', step: st });

test.serial('a full tunnel through the helper on the stand-in: plan, pin, halves and DNS taken; the rest refused; all undone at the end', async (t) => {
  const routesBefore = sh('netstat', '-rn', '-f', 'inet');
  const net = new DarwinNet();
  const dnsBefore = await net.dnsServices();
  const { s, close } = await session(5);
  t.deepEqual(await ask(s, { op: 'hello', env: 'all' }), { ok: true });
  const opened = await ask(s, { op: 'open-tun', name: 'utun' });
  t.is(opened.name, 'utun5');
  for (const st of planLocal(full, 'utun5', 'darwin')) t.deepEqual(await ask(s, stepReq(st)), { ok: true }, st.title);
  const server = await net.outsidePath('203.0.113.9', 'utun5');
  t.deepEqual(server, { via: '192.168.1.1', dev: 'en0' });
  const asked = [
    pinStep('203.0.113.9', 'SSH server', server as { via: string; dev: string }),
    ...planHalves('utun5'),
    ...planServiceDns(dnsBefore, ['10.96.0.2']),
  ];
  for (const st of asked) t.deepEqual(await ask(s, stepReq(st)), { ok: true }, st.title);
  t.regex(sh('route', '-n', 'get', '-inet', '8.8.8.8'), /interface: utun5/);
  t.true((await net.dnsServices()).every((d) => d.servers.join() === '10.96.0.2'));

  // what a darwin controller must not get: a pin through another gateway, a network on en0's link where
  // the host sends it through its gateway, a device not its own, DNS undone to servers it never had
  const refused: [Step, RegExp][] = [
    [pinStep('198.51.100.7', 'SSH server', { via: '192.168.1.99', dev: 'en0' }), /^route: 198\.51\.100\.7\/32 goes via 192\.168\.1\.99 dev en0 only through/],
    [excludeStep('10.1.0.0/16', { via: undefined, dev: 'en0' }), /^route: 10\.1\.0\.0\/16 goes dev en0 only through/],
    [planHalves('utun9')[0]!, /^route: 0\.0\.0\.0\/1 goes dev utun9 only through/],
    [
      { ...planServiceDns(dnsBefore, ['10.96.0.2'])[0]!, undo: { side: 'local', op: 'service-dns', service: 'Wi-Fi', servers: ['6.6.6.6'] } },
      /^the undo of service-dns must be its exact inverse/,
    ],
  ];
  for (const [st, why] of refused) {
    const r = await ask(s, stepReq(st));
    t.false(r.ok, st.title);
    t.regex(r.error ?? '', why);
  }
  t.deepEqual(await s.end(), []);
  close();
  utun('close', 5);
  t.is(sh('netstat', '-rn', '-f', 'inet'), routesBefore, 'routes as they were');
  t.deepEqual(await net.dnsServices(), dnsBefore, 'every service has its own DNS back');
});
