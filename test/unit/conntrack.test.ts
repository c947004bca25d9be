import test from 'ava';
import fc from 'fast-check';
import { parseAllowEntry, type AllowRule } from '../../src/config/allow.js';
import { AllowList, PASSED, REFUSED } from '../../src/datapath/allowList.js';
import { FlowTable, TIMEOUTS_MS } from '../../src/datapath/conntrack.js';
import { refusal } from '../../src/datapath/packet.js';
import { tcpSegment, udpDatagram } from './segments.js';

const rule = (x: string): AllowRule => {
  const r = parseAllowEntry(x);
  if (typeof r === 'string') throw new Error(r);
  return r;
};
const ME = 0x0a010001;
const DB = 0x0a140005; // 10.20.0.5
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

/** An ICMP "port unreachable" from the packet's destination, quoting its first 28 bytes (what routers send). */
function icmpErrorAbout(pkt: Buffer): Buffer {
  const quoted = pkt.subarray(4, 4 + 28);
  const b = Buffer.alloc(4 + 20 + 8 + quoted.length);
  b[3] = 2;
  b[4] = 0x45;
  b.writeUInt16BE(b.length - 4, 6);
  b[4 + 8] = 64;
  b[4 + 9] = 1;
  pkt.copy(b, 4 + 12, 4 + 16, 4 + 20); // from where it was going
  pkt.copy(b, 4 + 16, 4 + 12, 4 + 16); // to who sent it
  b[24] = 3;
  b[25] = 3;
  quoted.copy(b, 32);
  return b;
}

/** An allow-list with a clock the test moves. */
function listWith(rules: string[], capacity = 64): { list: AllowList; advance: (ms: number) => void } {
  const now = new Float64Array([1_000_000]);
  const list = new AllowList(rules.map(rule), new FlowTable(capacity, now));
  return { list, advance: (ms) => (now[0]! += ms) };
}

test('a peer allowed as "10.20.0.5 tcp 5432" answers our connections, and cannot start one from port 5432', (t) => {
  const { list } = listWith(['10.20.0.5 tcp 5432']);
  // the far side, sending from the allowed port to any local port: refused
  t.is(list.check(tcpSegment(SYN, [], 0, { src: DB, dst: ME, sport: 5432, dport: 22 }), false), REFUSED);
  t.is(list.unsolicited, 1);
  // this side connects: the flow is made, and its answers pass
  t.is(list.check(tcpSegment(SYN, [], 0, { src: ME, dst: DB, sport: 40000, dport: 5432 }), true), 0);
  t.is(list.check(tcpSegment(SYN | ACK, [], 0, { src: DB, dst: ME, sport: 5432, dport: 40000 }), false), 0);
  t.is(list.check(tcpSegment(ACK, [], 100, { src: DB, dst: ME, sport: 5432, dport: 40000 }), false), 0);
  // ...and only that flow's: another local port is still closed to it
  t.is(list.check(tcpSegment(ACK, [], 100, { src: DB, dst: ME, sport: 5432, dport: 40001 }), false), REFUSED);
  t.is(list.flows.size, 1);
});

test('UDP and ICMP echo: replies to what went out pass, within their timeouts', (t) => {
  const { list, advance } = listWith(['10.20.0.5 udp 53', '10.20.0.5 icmp']);
  t.is(list.check(udpDatagram(ME, DB, 5000, 53), true), 0);
  t.is(list.check(udpDatagram(DB, ME, 53, 5000), false), 0);
  advance(TIMEOUTS_MS.udpReplied + 1);
  t.is(list.check(udpDatagram(DB, ME, 53, 5000), false), REFUSED, 'the flow timed out');
  const echo = Buffer.from(udpDatagram(ME, DB, 0, 0));
  echo[4 + 9] = 1;
  echo[24] = 8; // echo request, id 0x1234
  echo.writeUInt16BE(0x1234, 28);
  t.is(list.check(echo, true), 1);
  const reply = Buffer.from(udpDatagram(DB, ME, 0, 0));
  reply[4 + 9] = 1;
  reply[24] = 0;
  reply.writeUInt16BE(0x1234, 28);
  t.is(list.check(reply, false), 1);
  reply.writeUInt16BE(0x4321, 28);
  t.is(list.check(reply, false), REFUSED, 'another id: not ours');
});

test('TCP: a RST or FINs shorten the flow; an ICMP error passes only about a known flow', (t) => {
  const { list, advance } = listWith(['10.20.0.5 tcp 5432']);
  const out = (flags: number) => tcpSegment(flags, [], 0, { src: ME, dst: DB, sport: 40000, dport: 5432 });
  const back = (flags: number) => tcpSegment(flags, [], 0, { src: DB, dst: ME, sport: 5432, dport: 40000 });
  t.is(list.check(out(SYN), true), 0);
  t.is(list.check(icmpErrorAbout(out(SYN)), false), PASSED, 'an error quoting our SYN');
  t.is(list.check(icmpErrorAbout(tcpSegment(SYN, [], 0, { src: ME, dst: DB, sport: 40009, dport: 5432 })), false), REFUSED, 'a forged one');
  t.is(list.check(icmpErrorAbout(udpDatagram(ME, DB, 40000, 5432)), false), REFUSED, 'same ports, another protocol');
  t.is(list.check(refusal(udpDatagram(DB, ME, 5432, 40000))!, true), REFUSED, 'nor does this side send errors about flows it never had');
  t.is(list.check(back(SYN | ACK), false), 0);
  advance(TIMEOUTS_MS.tcpNew + 1);
  t.is(list.check(back(ACK), false), 0, 'established: long-lived');
  t.is(list.check(back(RST), false), 0);
  advance(TIMEOUTS_MS.tcpClosed + 1);
  t.is(list.check(back(ACK), false), REFUSED, 'gone after a RST');
  t.is(list.check(out(SYN), true), 0);
  t.is(list.check(out(FIN | ACK), true), 0);
  advance(TIMEOUTS_MS.tcpClosing + 1);
  t.is(list.check(back(ACK), false), REFUSED, 'gone after FIN');
});

test('the table is bounded: the flow used least recently makes room', (t) => {
  const { list } = listWith(['10.20.0.0/16 udp'], 4);
  for (let p = 1; p <= 4; p++) t.is(list.check(udpDatagram(ME, DB, p, 53), true), 0);
  t.is(list.check(udpDatagram(DB, ME, 53, 1), false), 0); // flow 1 used: 2 is now the oldest
  t.is(list.check(udpDatagram(ME, DB, 5, 53), true), 0);
  t.is(list.flows.size, 4);
  t.is(list.check(udpDatagram(DB, ME, 53, 2), false), REFUSED, 'evicted');
  for (const p of [1, 3, 4, 5]) t.is(list.check(udpDatagram(DB, ME, 53, p), false), 0, `port ${p} kept`);
});

test('a flow lookup does not depend on how many rules there are', (t) => {
  const rules = Array.from({ length: 10_000 }, (_, i) => `10.${30 + (i >> 16)}.${(i >> 8) & 255}.${i & 255} tcp 80`);
  const { list } = listWith([...rules, '10.20.0.5 tcp 5432']);
  t.is(list.check(tcpSegment(SYN, [], 0, { src: ME, dst: DB, sport: 40000, dport: 5432 }), true), 10_000);
  // the rules are walked once, for the first packet; the flow answers after that
  const walked = list.counters.reduce((n, c) => n + c.drops, 0);
  for (let i = 0; i < 100; i++) t.is(list.check(tcpSegment(ACK, [], 10, { src: ME, dst: DB, sport: 40000, dport: 5432 }), true), 10_000);
  t.is(list.counters[10_000]!.hits, 101);
  t.is(
    list.counters.reduce((n, c) => n + c.drops, 0),
    walked,
  );
});

/**
 * The state machine against a model: any sequence of packets out and in,
 * over a few addresses and ports, with time moving on. An inbound packet
 * passes exactly when the model has the flow it answers, started by an
 * allowed outbound packet and not timed out; the table never holds more than
 * its capacity (which the model never exceeds here).
 */
test('property: inbound passes exactly when it answers a live flow this side started', (t) => {
  const ports = [5432, 5433, 53];
  const packet = fc.record({
    outbound: fc.boolean(),
    proto: fc.constantFrom(6, 17),
    peer: fc.constantFrom(DB, DB + 1),
    remotePort: fc.constantFrom(...ports),
    localPort: fc.constantFrom(40000, 40001),
    wait: fc.constantFrom(0, 0, 0, 1000, 31_000, 200_000),
  });
  fc.assert(
    fc.property(fc.array(packet, { maxLength: 60 }), (seq) => {
      const { list, advance } = listWith(['10.20.0.5 tcp 5432', '10.20.0.5 udp 53'], 256);
      let now = 0;
      const model = new Map<string, { expires: number; replied: boolean }>();
      const allowed = (p: (typeof seq)[number]): boolean =>
        p.peer === DB && ((p.proto === 6 && p.remotePort === 5432) || (p.proto === 17 && p.remotePort === 53));
      for (const p of seq) {
        advance(p.wait);
        now += p.wait;
        const key = `${p.proto} ${p.localPort} ${p.peer} ${p.remotePort}`;
        const flags = ACK;
        const b =
          p.proto === 6
            ? tcpSegment(
                flags,
                [],
                0,
                p.outbound
                  ? { src: ME, dst: p.peer, sport: p.localPort, dport: p.remotePort }
                  : { src: p.peer, dst: ME, sport: p.remotePort, dport: p.localPort },
              )
            : p.outbound
              ? udpDatagram(ME, p.peer, p.localPort, p.remotePort)
              : udpDatagram(p.peer, ME, p.remotePort, p.localPort);
        const live = model.get(key);
        const alive = live !== undefined && live.expires > now;
        const verdict = list.check(b, p.outbound);
        const timeout = (replied: boolean): number => (p.proto === 6 ? TIMEOUTS_MS.tcpEstablished : replied ? TIMEOUTS_MS.udpReplied : TIMEOUTS_MS.udpNew);
        if (p.outbound) {
          if (alive || allowed(p)) {
            if (verdict < 0) return false;
            const replied = alive ? live.replied : p.proto === 6;
            model.set(key, { expires: now + timeout(replied), replied });
          } else if (verdict !== REFUSED) return false;
        } else if (alive) {
          if (verdict < 0) return false;
          model.set(key, { expires: now + timeout(true), replied: true });
        } else if (verdict !== REFUSED) return false;
        if (list.flows.size > list.flows.capacity) return false;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass();
});
