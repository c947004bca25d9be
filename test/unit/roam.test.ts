import test from 'ava';
import { envOf, fullTunnelOn, localSteps } from './configs.js';
import { Pins } from '../../src/daemon/pins.js';
import { followRoams } from '../../src/daemon/roam.js';
import type { OutsidePath } from '../../src/plan/fullTunnel.js';
import type { Step } from '../../src/plan/steps.js';
import type { LocalNet } from '../../src/platform/types.js';
import type { SshRoute } from '../../src/ssh/route.js';

// A laptop that moves, on fakes: the host's paths are a variable the test
// sets (a roam), the journal is a set of steps, the keeper a counter. The
// real thing (rtnetlink, a namespace whose gateway and address change) is
// test/e2e/fullTunnel.test.ts's roam test.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const env = envOf('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n    routes: [default]\n', 'stg');
const route = { jumps: [], target: { host: '10.0.0.2' } } as unknown as SshRoute;

function harness(): {
  pins: Pins;
  applied: Set<Step>;
  setPath: (p: OutsidePath | undefined) => void;
  asked: { addr: string; pinned: OutsidePath | undefined }[];
  changed: () => void;
  closed: () => boolean;
  net: LocalNet;
} {
  let path: OutsidePath | undefined = { via: '192.168.1.1', dev: 'wlan0' };
  const { applied, applyLocal, undoLocal } = localSteps();
  const asked: { addr: string; pinned: OutsidePath | undefined }[] = [];
  let changed = (): void => undefined;
  let closed = false;
  const net = {
    outsidePath: async (addr: string, _dev: string, pinned?: OutsidePath) => {
      asked.push({ addr, pinned });
      return path;
    },
    watchPaths: (_dev: () => string, cb: () => void) => {
      changed = cb;
      return { close: () => void (closed = true) };
    },
  } as unknown as LocalNet;
  const pins = new Pins(env, {
    net: () => net,
    dev: () => 'cb-stg',
    applyLocal,
    undoLocal,
    log: () => undefined,
  });
  return { pins, applied, setPath: (p) => void (path = p), asked, changed: () => changed(), closed: () => closed, net };
}

const titles = (s: Set<Step>): string[] => [...s].map((x) => x.title);

test('a pin follows its address to the new path: the old route undone first, then the new one made', async (t) => {
  const h = harness();
  await h.pins.beforeConnect(route);
  t.deepEqual(titles(h.applied), ['pin SSH server 10.0.0.2 via 192.168.1.1 dev wlan0, outside the tunnel']);
  // nothing moved: nothing done
  t.deepEqual(await h.pins.recheck(), []);
  t.is(h.applied.size, 1);
  // another network (a roam, a new lease): the pin is asked past itself (macOS cannot tell it from another's route)
  h.setPath({ via: '10.20.0.1', dev: 'wlan0' });
  t.deepEqual(await h.pins.recheck(), ['SSH server 10.0.0.2: pinned via 10.20.0.1 dev wlan0 (was via 192.168.1.1 dev wlan0)']);
  t.deepEqual(h.asked.at(-1), { addr: '10.0.0.2', pinned: { via: '192.168.1.1', dev: 'wlan0' } });
  t.deepEqual(titles(h.applied), ['pin SSH server 10.0.0.2 via 10.20.0.1 dev wlan0, outside the tunnel']);
  t.deepEqual(h.pins.list(), ['10.0.0.2 (SSH server)']);
});

test('between two networks (no path now) a pin stays where it was; the next connection moves it', async (t) => {
  const h = harness();
  await h.pins.beforeConnect(route);
  h.setPath(undefined);
  t.deepEqual(await h.pins.recheck(), []);
  h.setPath('unreachable');
  t.deepEqual(await h.pins.recheck(), []);
  t.deepEqual(titles(h.applied), ['pin SSH server 10.0.0.2 via 192.168.1.1 dev wlan0, outside the tunnel']);
  // a reconnect looks again before it dials
  h.setPath({ via: undefined, dev: 'eth1' });
  await h.pins.beforeConnect(route);
  t.deepEqual(titles(h.applied), ['pin SSH server 10.0.0.2 dev eth1, outside the tunnel']);
});

test('a pin whose old route cannot be taken away stays, and says so', async (t) => {
  const logs: string[] = [];
  const applied = new Set<Step>();
  let path: OutsidePath = { via: '192.168.1.1', dev: 'wlan0' };
  const net = { outsidePath: async () => path } as unknown as LocalNet;
  const pins = new Pins(env, {
    net: () => net,
    dev: () => 'cb-stg',
    applyLocal: async (steps) => void steps.forEach((s) => applied.add(s)),
    undoLocal: async () => ['route del 10.0.0.2/32: Operation not permitted'],
    log: (l) => void logs.push(l),
  });
  await pins.pin(['10.0.0.2'], 'SSH server');
  path = { via: '10.20.0.1', dev: 'wlan0' };
  t.deepEqual(await pins.recheck(), []);
  t.is(applied.size, 1);
  t.regex(logs.join('\n'), /the SSH server 10\.0\.0\.2: could not take the old pin away: route del 10\.0\.0\.2\/32: Operation not permitted/);
});

test('a burst of notifications is one recheck and one round trip, once settled; stopping stops it', async (t) => {
  const h = harness();
  await h.pins.beforeConnect(route);
  const checks: string[] = [];
  const logs: string[] = [];
  const stop = followRoams(h.net, {
    env,
    dev: () => 'cb-stg',
    pins: h.pins,
    keeper: { check: (what) => void checks.push(what) },
    log: (l) => void logs.push(l),
  });
  h.setPath({ via: '10.20.0.1', dev: 'wlan0' });
  for (let i = 0; i < 5; i++) {
    h.changed();
    await sleep(50);
  }
  t.is(checks.length, 0, 'not while it is still changing');
  await sleep(700);
  t.deepEqual(checks, ["this host's network changed"]);
  t.deepEqual(logs, ['stg: the network changed: SSH server 10.0.0.2: pinned via 10.20.0.1 dev wlan0 (was via 192.168.1.1 dev wlan0)']);
  stop();
  t.true(h.closed());
  h.changed();
  await sleep(700);
  t.is(checks.length, 1, 'nothing after stop');
});

test('lan: tunnel follows the LAN: after a roam the new network goes through the tunnel, the old one and its gateway pin are taken away', async (t) => {
  const lanEnv = envOf('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n    routes: [default]\n    lan: tunnel\n', 'stg');
  let lan = { cidr: '192.168.1.0/24', gateway: '192.168.1.1', dev: 'wlan0' };
  const net = {
    outsidePath: async () => ({ via: lan.gateway, dev: lan.dev }),
    interfaceNetworks: async () => [{ cidr: lan.cidr, dev: lan.dev }],
  } as unknown as LocalNet;
  const { full, applied, logs } = fullTunnelOn(lanEnv, net);
  await full.up();
  const lanTitles = (): string[] => titles(applied).filter((x) => x.startsWith('lan:') || x.includes('gateway'));
  t.deepEqual(lanTitles(), [
    'pin gateway 192.168.1.1 dev wlan0, outside the tunnel',
    'lan: 192.168.1.0/25 (half of 192.168.1.0/24 on wlan0) via cb-stg',
    'lan: 192.168.1.128/25 (half of 192.168.1.0/24 on wlan0) via cb-stg',
  ]);
  await full.roamed();
  t.is(logs.length, 0, 'the same LAN: nothing done');
  lan = { cidr: '10.20.30.0/24', gateway: '10.20.30.1', dev: 'wlan0' };
  await full.roamed();
  t.deepEqual(lanTitles(), [
    'pin gateway 10.20.30.1 dev wlan0, outside the tunnel',
    'lan: 10.20.30.0/25 (half of 10.20.30.0/24 on wlan0) via cb-stg',
    'lan: 10.20.30.128/25 (half of 10.20.30.0/24 on wlan0) via cb-stg',
  ]);
  t.true(
    titles(applied).some((x) => x.includes('0.0.0.0/1')),
    'the halves of the default route stay',
  );
  t.deepEqual(logs, ['full tunnel: the local network moved; through the tunnel now: 10.20.30.0/24']);
  await full.withdraw('test');
  t.is(applied.size, 0);
});
