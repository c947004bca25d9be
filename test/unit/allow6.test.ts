import test from 'ava';
import { parseAllowEntry, type AllowRule } from '../../src/config/allow.js';
import { AllowList, PASSED, REFUSED } from '../../src/datapath/allowList.js';

// IPv6 under an allow-list (datapath/allowList6.ts): rules with IPv6
// networks, flows tracked as IPv4's are, in JavaScript.

const rule = (x: string): AllowRule => {
  const r = parseAllowEntry(x);
  if (typeof r === 'string') throw new Error(r);
  return r;
};
const ME = 'fd000001000000000000000000000001';
const HOST = 'fd000009000000000000000000000002';
const SYN = 0x02;
const ACK = 0x10;

/** A framed IPv6 packet: `next` after the fixed header, its first bytes `l4`. */
function v6(src: string, dst: string, next: number, l4: number[], len = 20): Buffer {
  const b = Buffer.alloc(4 + 40 + len);
  b.writeUInt32BE(24, 0);
  b[4] = 0x60;
  b.writeUInt16BE(len, 8);
  b[10] = next;
  Buffer.from(src, 'hex').copy(b, 12);
  Buffer.from(dst, 'hex').copy(b, 28);
  l4.forEach((v, i) => (b[44 + i] = v));
  return b;
}
const tcp = (src: string, dst: string, sport: number, dport: number, flags: number): Buffer =>
  v6(src, dst, 6, [sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, flags]);

test('IPv6 rules: a flow let out comes back, nothing starts from the far side, other ports refused and counted', (t) => {
  const list = new AllowList([rule('10.9.0.2 tcp 80'), rule('fd00:9::/64 tcp 80'), rule('fd00:9::2 icmp')]);
  t.is(list.check(tcp(ME, HOST, 40000, 80, SYN), true), 1);
  t.is(list.check(tcp(HOST, ME, 80, 40000, SYN | ACK), false), 1, 'the reply');
  t.is(list.check(tcp(ME, HOST, 40000, 80, ACK), true), 1);
  t.is(list.check(tcp(HOST, ME, 80, 40001, SYN | ACK), false), REFUSED, 'a reply to nothing we sent');
  t.is(list.check(tcp(HOST, ME, 9999, 22, SYN), false), REFUSED, 'the far side starting a flow');
  t.is(list.check(tcp(ME, HOST, 40002, 443, SYN), true), REFUSED, 'another port');
  t.is(list.check(tcp(ME, 'fd000008000000000000000000000002', 40003, 80, SYN), true), REFUSED, 'another network');
  t.is(list.unsolicited, 2);
  t.is(list.unlisted, 1);
  t.is(list.drops[1], 1);
  // ICMPv6 echo by the icmp rule, its reply by the flow; an error about our flow passes, one about nothing does not
  t.is(list.check(v6(ME, HOST, 58, [128, 0, 0, 0, 0, 7, 0, 1], 8), true), 2);
  t.is(list.check(v6(HOST, ME, 58, [129, 0, 0, 0, 0, 7, 0, 1], 8), false), 2);
  const quoted = tcp(ME, HOST, 40000, 80, ACK).subarray(4);
  const tooBig = v6(HOST, ME, 58, [2, 0, 0, 0, 0, 0, 5, 0x78, ...quoted], 8 + quoted.length);
  t.is(list.check(tooBig, false), PASSED, 'packet too big about our flow: path MTU discovery works');
  const stray = tcp(ME, HOST, 41000, 80, ACK).subarray(4);
  t.is(list.check(v6(HOST, ME, 58, [1, 4, 0, 0, 0, 0, 0, 0, ...stray], 8 + stray.length), false), REFUSED);
  t.is(list.trackedFlows, 2);
});

test('a fold that collides never lets a packet through: the full addresses are compared', (t) => {
  const list = new AllowList([rule('fd00::/16 udp 53')]);
  // fd00:9::2 and fd00:9::1:0:0:3 fold to the same 32 bits? no: craft one whose four words xor alike
  const a = 'fd000009000000000000000000000002';
  const b = 'fd000009000000010000000000000003'; // words 2 and 4 differ by 1 each: the same xor
  const udp = (src: string, dst: string, sport: number, dport: number): Buffer =>
    v6(src, dst, 17, [sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 8, 0, 0], 8);
  t.is(list.check(udp(ME, a, 5000, 53), true), 0);
  t.is(list.check(udp(a, ME, 53, 5000), false), 0);
  t.is(list.check(udp(b, ME, 53, 5000), false), REFUSED, 'same fold, another address: refused');
});

test('streams to IPv6 literals (SOCKS, forwards) obey the IPv6 rules', (t) => {
  const list = new AllowList([rule('fd00:9::2 tcp 5432')]);
  t.true(list.admitsStream('fd00:9::2', 5432));
  t.true(list.admitsStream('[fd00:9::2]', 5432));
  t.false(list.admitsStream('fd00:9::2', 22));
  t.false(list.admitsStream('fd00:9::3', 5432));
});

test('host-name rules match the IPv6 addresses their name resolves to, in rule order, and getent ahosts gives both families', async (t) => {
  const list = new AllowList([rule('api.vpc.internal tcp 443'), rule('fd00:9::/64 tcp')]);
  t.is(list.check(tcp(ME, HOST, 40000, 443, SYN), true), 1, 'before the name resolves, the wider rule admits it');
  list.setAddresses6(0, [0xfd000009000000000000000000000002n]);
  t.is(list.check(tcp(ME, HOST, 40001, 443, SYN), true), 0, 'the name, listed first, wins now');
  t.is(list.check(tcp(HOST, ME, 443, 40001, SYN | ACK), false), 0, 'its reply');
  t.deepEqual(list.addressesOf6(0), [0xfd000009000000000000000000000002n]);
  list.setAddresses6(0, []);
  t.is(list.check(tcp(ME, HOST, 40002, 443, SYN), true), 1, 'gone again');
  const { parseGetent } = await import('../../src/daemon/allowNames.js');
  const out = '@@ api.vpc.internal\n10.9.0.2 STREAM api.vpc.internal\nfd00:9::2 STREAM\nfd00:9::2 DGRAM\n::ffff:10.9.0.2 RAW\n';
  t.deepEqual(parseGetent(out).get('api.vpc.internal'), { v4: [0x0a090002], v6: [0xfd000009000000000000000000000002n] });
});

test('an allow-list keeps the docker daemon reachable in tcp mode, at an IPv6 address too', async (t) => {
  const { allowRules } = await import('../../src/daemon/services.js');
  const { envOf } = await import('./configs.js');
  const e = envOf(
    '    tunnel: { local: 10.99.0.1, remote: 10.99.0.2, local6: "fd00:99::1", remote6: "fd00:99::2" }\n    docker: { mode: tcp, host: "tcp://[fd00:99::2]:2375" }\n    allow: [10.9.0.0/16 tcp 443]\n',
  );
  const rules = allowRules(e);
  t.like(rules[1], { text: 'fd00:99::2 tcp 2375 (docker)', to: 'fd00:99::2/128' });
  const list = new AllowList(rules);
  t.is(list.check(tcp('fd000099000000000000000000000001', 'fd000099000000000000000000000002', 40000, 2375, SYN), true), 1);
});
