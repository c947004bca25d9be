import test from 'ava';
import { findEnvironment, parseConfigText } from '../../src/config/load.js';
import { clashWithOthers, localProblem, type LocalFacts, type PeerHolding } from '../../src/daemon/preflight.js';
import { expectedUp, planLocalMtu, planRemote, planRemoteMtu } from '../../src/plan/plan.js';

// The checks before connect changes anything, as pure functions: no root, no host.

const config = parseConfigText(
  `
environments:
  stg:
    host: h
    tunnel: { local: 10.9.0.1, remote: 10.9.0.2, mtu: 9000 }
    routes: [172.31.0.0/16]
    dns: { domains: [vpc.internal] }
  ssh-only:
    host: h
    tunnel: false
`,
  '/c.yaml',
  '/home/u',
);
const env = findEnvironment(config, 'stg');
const facts: LocalFacts = {
  platform: 'linux',
  force: false,
  deviceExists: false,
  resolverTaken: undefined,
  interfaceNetworks: [
    { cidr: '192.168.1.0/24', dev: 'eth0' },
    { cidr: '127.0.0.0/8', dev: 'lo' },
  ],
  routes: [],
};
const peer: PeerHolding = { env: 'prod', local: '10.8.0.1', remote: '10.8.0.2', localDevice: 'cb-prod', routes: ['10.50.0.0/16'] };

test('a clean host and no other environment: nothing to refuse', (t) => {
  t.is(localProblem(env, facts), undefined);
  t.is(clashWithOthers(env, [peer]), undefined);
});

test('another connected environment: tunnel addresses, device and routes must not clash, named both ways', (t) => {
  t.is(
    clashWithOthers(env, [{ ...peer, remote: '10.9.0.2' }]),
    "tunnel addresses of stg (10.9.0.1 <-> 10.9.0.2) clash with prod's (10.8.0.1 <-> 10.9.0.2), which is connected",
  );
  t.is(clashWithOthers(env, [{ ...peer, localDevice: 'cb-stg' }]), 'prod uses interface cb-stg already (tunnel.device)');
  t.is(clashWithOthers(env, [{ ...peer, routes: ['172.31.4.0/24'] }]), 'route 172.31.0.0/16 of stg overlaps 172.31.4.0/24 of prod, which is connected');
  t.is(clashWithOthers(env, [{ ...peer, routes: ['10.9.0.0/24'] }]), 'tunnel address 10.9.0.1/32 of stg lies in route 10.9.0.0/24 of prod, which is connected');
  t.is(clashWithOthers(env, [{ ...peer, local: '', remote: '' }]), undefined, 'an SSH-only environment holds no addresses');
  t.is(clashWithOthers(findEnvironment(config, 'ssh-only'), [{ ...peer, remote: '10.9.0.2' }]), undefined);
});

test("the host's own networks: tunnel addresses and routes inside them are refused unless forced", (t) => {
  const lan = { ...facts, interfaceNetworks: [{ cidr: '10.9.0.0/16', dev: 'eth0' }] };
  t.is(localProblem(env, lan), "tunnel address 10.9.0.1 lies in 10.9.0.0/16 on eth0; pick tunnel addresses outside the host's networks (or --force)");
  t.is(localProblem(env, { ...lan, force: true }), undefined);
  t.is(
    localProblem(env, { ...facts, routes: [{ cidr: '172.31.0.0/20', dev: 'docker0' }] }),
    'route 172.31.0.0/16 overlaps 172.31.0.0/20 on docker0; refusing to take it over (use --force to route it through the tunnel anyway)',
  );
  t.is(localProblem(env, { ...facts, routes: [{ cidr: '172.31.0.0/20', dev: 'lo' }] }), undefined, 'loopback routes do not count');
  const noSplitDns = { ...env, dns: { ...env.dns, domains: [] } };
  t.is(localProblem(noSplitDns, { ...facts, platform: 'darwin', routes: [{ cidr: '172.31.0.0/20', dev: 'lo0' }] }), undefined, "nor macOS's (lo0)");
  t.is(localProblem(env, { ...facts, interfaceNetworks: [{ cidr: '10.9.0.1/32', dev: 'utun3' }] }), undefined, 'a host address is no network');
});

test('devices and files that are not ours', (t) => {
  t.is(localProblem(env, { ...facts, deviceExists: true }), 'interface cb-stg already exists (is stg connected already?)');
  t.is(
    localProblem(env, { ...facts, platform: 'darwin' }),
    '/c.yaml: environments.stg.dns.servers: on macOS name the resolvers (reached through the tunnel) for /etc/resolver',
  );
  const withServers = { ...env, dns: { ...env.dns, servers: ['10.0.0.2'] } };
  t.is(
    localProblem(withServers, { ...facts, platform: 'darwin', resolverTaken: '/etc/resolver/vpc.internal' }),
    "/etc/resolver/vpc.internal exists already and is not cloudbridge's; refusing to replace it",
  );
  // every name through the tunnel on macOS is a full tunnel's (the network services pointed at it)
  const all = { ...withServers, dns: { ...withServers.dns, all: true } };
  t.regex(localProblem(all, { ...facts, platform: 'darwin' }) ?? '', /dns\.all: on macOS every name goes through the tunnel with a full tunnel only/);
  t.is(localProblem({ ...all, fullTunnel: true }, { ...facts, platform: 'darwin' }), undefined);
  t.is(localProblem(all, facts), undefined, 'Linux: the forwarder asks every name');
  // an IPv6-only tunnel: on a LAN without IPv6, configd drops the in-tunnel IPv6 resolver and asks DHCP's, so it is refused on macOS
  const v6only = { ...all, fullTunnel6: true, tunnel: { ...all.tunnel!, local: undefined, remote: undefined, local6: 'fd00:9::1', remote6: 'fd00:9::2' } };
  t.regex(localProblem(v6only, { ...facts, platform: 'darwin' }) ?? '', /dns\.all: on macOS a tunnel with IPv6 addresses only cannot take every name/);
  t.notRegex(localProblem(v6only, facts) ?? '', /IPv6 addresses only/, 'Linux: its forwarder is asked on either family');
});

test('probed MTUs are steps: the remote device first, then this end and the advertised MSS', (t) => {
  t.deepEqual(
    planRemoteMtu('tun3', 12000).map((s) => [s.apply, s.undo]),
    [[{ side: 'remote', argv: ['ip', 'link', 'set', 'dev', 'tun3', 'mtu', '12000'] }, null]],
  );
  t.deepEqual(
    planLocalMtu(env.tunnel!, 'cb-stg', 'tun3', 24000, 12000).map((s) => s.apply),
    [
      { side: 'local', op: 'link-up', dev: 'cb-stg', mtu: 24000 },
      { side: 'remote', argv: ['ip', 'route', 'replace', '10.9.0.1', 'dev', 'tun3', 'proto', 'kernel', 'scope', 'link', 'src', '10.9.0.2', 'advmss', '23960'] },
    ],
  );
  t.is(planLocalMtu(env.tunnel!, 'cb-stg', 'tun3', 12000, 12000).length, 1, 'one size both ways: no MSS to advertise');
});

test('the MSS the probe is expected to find goes in with the remote device: a remote command after it only when it found otherwise', (t) => {
  const auto = { ...env.tunnel!, mtu: 16000, mtuAuto: true };
  // sshd's tun channel takes packets of 32 KiB (CHAN_TCP_PACKET_DEFAULT): the ceiling this end is tried at
  t.is(expectedUp(auto, 'linux', 32768), 32760);
  t.is(expectedUp(auto, 'linux', Infinity), 32760, '--dry-run: the channel not known yet, the most tried');
  t.is(expectedUp(auto, 'darwin', 32768), 0, 'macOS: one size both ways, nothing to advertise');
  t.is(expectedUp({ ...auto, mtuAuto: false }, 'linux', 32768), 0, 'a fixed MTU: no probe');
  t.is(expectedUp(auto, 'linux', 16004), 0, 'a channel no larger than the remote device: nothing past it');
  const route = 'ip route replace 10.9.0.1 dev tun3 proto kernel scope link src 10.9.0.2';
  const remote = planRemote({ ...env, nat: false }, auto, 'tun3', { ipForward: '0' }, 32760).map((s) => s.apply.side === 'remote' && s.apply.argv.join(' '));
  t.deepEqual(remote, ['ip addr add 10.9.0.2 peer 10.9.0.1 dev tun3', 'ip link set dev tun3 mtu 16000 up', `${route} advmss 32720`]);
  t.is(planRemote({ ...env, nat: false }, auto, 'tun3', { ipForward: '0' }).length, 2, 'nothing expected: no route');
  const after = (up: number, down: number): (string | false)[] =>
    planLocalMtu(auto, 'cb-stg', 'tun3', up, down, 32760)
      .slice(1)
      .map((s) => s.apply.side === 'remote' && s.apply.argv.join(' '));
  t.deepEqual(after(32760, 12000), [], 'found as expected, the remote device smaller: nothing more');
  t.deepEqual(after(24000, 16000), [`${route} advmss 23960`], 'found less: corrected');
  t.deepEqual(after(16000, 16000), [route], 'nothing larger crossed: the MSS taken back');
});
