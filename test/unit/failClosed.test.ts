import test from 'ava';
import { envOf, fullTunnelOn } from './configs.js';
import { planHalves, routedThrough } from '../../src/plan/fullTunnel.js';
import { linuxCommand } from '../../src/platform/linux/commands.js';

// A full tunnel fails closed: a lost session keeps its routes and DNS (onLoss: block,
// the default) until the session is back or the user disconnects; onLoss: direct hands
// the host back. An IPv4 full tunnel without IPv6 makes IPv6 unreachable. The full
// tunnel runs here on fakes of its dependencies: the journal's apply and undo, DNS.

const TUNNEL = '    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n';

const harness = (body: string): ReturnType<typeof fullTunnelOn> => fullTunnelOn(envOf(`${TUNNEL}${body}`, 'stg'));

test('onLoss: block is the default; only a full tunnel takes it', (t) => {
  t.is(envOf(`${TUNNEL}    routes: [default]\n`, 'stg').onLoss, 'block');
  t.is(envOf(`${TUNNEL}    routes: [default]\n    onLoss: direct\n`, 'stg').onLoss, 'direct');
});

test('a lost session under onLoss: block keeps the halves and DNS, and says blocked until the session is back', async (t) => {
  const h = harness('    routes: [default]\n');
  await h.full.up();
  const made = h.applied.size;
  t.true(made >= 4, 'two halves and two IPv6 blocks');
  t.true(h.dnsAll());
  await h.full.lost('session lost');
  t.is(h.applied.size, made, 'nothing withdrawn');
  t.true(h.dnsAll(), 'DNS is not handed back to the LAN resolvers');
  t.true(h.full.blocked);
  t.deepEqual(h.logs, ['full tunnel: session lost; traffic and DNS blocked until the session is back (onLoss: block)']);
  await h.full.lost('session lost');
  t.is(h.logs.length, 1, 'said once per loss');
  await h.full.reconnecting();
  t.is(h.applied.size, made, 'the reconnect goes along the pins: nothing withdrawn for it');
  await h.full.up();
  t.false(h.full.blocked, 'a new session: open again');
  t.is(h.applied.size, made, 'nothing applied twice');
});

test('onLoss: direct withdraws on loss and takes over again', async (t) => {
  const h = harness('    routes: [default]\n    onLoss: direct\n');
  await h.full.up();
  await h.full.lost('session lost');
  t.is(h.applied.size, 0);
  t.false(h.dnsAll());
  t.false(h.full.blocked);
  await h.full.up();
  t.true(h.applied.size > 0);
  t.true(h.dnsAll());
});

test('an IPv4 full tunnel makes IPv6 unreachable; a dual-stack one routes it; IPv6 addresses it needs are pinned', (t) => {
  const v4 = planHalves('cb-stg', { v4: true, v6: false });
  t.deepEqual(
    v4.map((s) => linuxCommand(s.apply as Parameters<typeof linuxCommand>[0]).join(' ')),
    [
      'ip route add 0.0.0.0/1 dev cb-stg proto 203',
      'ip route add 128.0.0.0/1 dev cb-stg proto 203',
      'ip route add unreachable ::/1 proto 203',
      'ip route add unreachable 8000::/1 proto 203',
    ],
  );
  t.false(planHalves('cb-stg', { v4: true, v6: true }).some((s) => s.title.includes('blocked')));
  t.false(planHalves('cb-stg', { v4: false, v6: true }).some((s) => s.title.includes('blocked')));
  const env = envOf(`${TUNNEL}    routes: [default]\n    exclude: [2001:db8:1::/48]\n`, 'stg');
  t.true(routedThrough(env, '2001:db8::22'), 'an IPv6 SSH server is pinned past the block');
  t.false(routedThrough(env, '2001:db8:1::22'), 'unless excluded');
});
