import test from 'ava';
import fc from 'fast-check';
import { AF_INET, AF_INET6, checkFramed, echoRequest, isEchoReply } from '../../src/datapath/packet.js';
import { parseBatchOutput } from '../../src/ssh/exec.js';
import { parseKnownHosts, verifyHostKey } from '../../src/ssh/knownHosts.js';
import { parseIfconfig, parseNetstatRoutes, parseRouteGet } from '../../src/platform/darwin/parse.js';

const REASONS = new Set([undefined, 'short', 'family', 'version', 'length']);

test('checkFramed: any bytes give a verdict, never an exception', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => REASONS.has(checkFramed(b)) && typeof isEchoReply(b, 1, 1) === 'boolean'));
  t.pass();
});

test('checkFramed: well-formed IPv4/IPv6 frames pass, and every truncation of them is refused', (t) => {
  const frame = fc
    .record({
      v6: fc.boolean(),
      payload: fc.uint8Array({ maxLength: 1400 }),
      pad: fc.nat({ max: 8 }),
    })
    .map(({ v6, payload, pad }) => {
      const hdr = v6 ? 40 : 20;
      const b = Buffer.alloc(4 + hdr + payload.length + pad);
      b.writeUInt32BE(v6 ? AF_INET6 : AF_INET, 0);
      b[4] = v6 ? 0x60 : 0x45;
      if (v6) b.writeUInt16BE(payload.length, 8);
      else b.writeUInt16BE(hdr + payload.length, 6);
      b.set(payload, 4 + hdr);
      return { b, len: 4 + hdr + payload.length };
    });
  fc.assert(
    fc.property(frame, fc.nat(), ({ b, len }, cut) => {
      if (checkFramed(b) !== undefined) return false;
      const short = b.subarray(0, cut % len);
      return checkFramed(short) !== undefined;
    }),
  );
  t.pass();
});

test('isEchoReply: only a reply with our id from our peer counts', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (id, other) => {
      const reply = echoRequest(0x0a000002, 0x0a000001, id, 1);
      reply[24] = 0; // echo reply
      return isEchoReply(reply, 0x0a000002, id) && (other === id || !isEchoReply(reply, 0x0a000002, other));
    }),
  );
  t.pass();
});

test('text parsers take any input without throwing', (t) => {
  const text = fc
    .array(
      fc.oneof(
        fc.string(),
        fc.constantFrom(
          'ok:0',
          'fail:1:x',
          'Destination  Gateway',
          'inet 10.0.0.1 netmask 0xffffff00',
          'en0: flags=8863<UP> mtu 1500',
          '|1|a|b ssh-ed25519 AAAA',
          '@revoked',
        ),
      ),
      { maxLength: 30 },
    )
    .map((lines) => lines.join('\n'));
  fc.assert(
    fc.property(text, (s) => {
      parseBatchOutput(s, 3);
      verifyHostKey(parseKnownHosts(s), 'h', Buffer.alloc(8));
      parseNetstatRoutes(s);
      parseRouteGet(s);
      parseIfconfig(s);
      return true;
    }),
  );
  t.pass();
});

test('IPv6 probes and in-tunnel DNS: any bytes after an IPv6 frame header give an answer, never an exception', async (t) => {
  const { isEchoReply6, udpTo6 } = await import('../../src/datapath/packet6.js');
  const addr = new Uint8Array(16).fill(0xfd);
  // an IPv6-looking start (family, version), then anything: next header, lengths, addresses, ports
  const framed = fc.uint8Array({ maxLength: 120 }).map((rest) => Buffer.concat([Buffer.from([0, 0, 0, AF_INET6, 0x60]), rest]));
  fc.assert(
    fc.property(fc.oneof(framed, fc.uint8Array({ maxLength: 120 })), (b) => {
      const q = udpTo6(b, addr, 53);
      return typeof isEchoReply6(b, addr, 0xcb01) === 'boolean' && (q === undefined || q.payload.length <= b.length);
    }),
  );
  t.pass();
});

test('keepFamilies and withoutHint: any bytes give a message, or an Error the forwarder turns into SERVFAIL', async (t) => {
  const { keepFamilies, withoutHint } = await import('../../src/dns/families.js');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (b, v6) => {
      const r = withoutHint(b, 6);
      if (r !== undefined && r.length > b.length) return false;
      try {
        return Buffer.isBuffer(keepFamilies(Buffer.from(b), { v4: !v6, v6 }));
      } catch (err) {
        return err instanceof Error;
      }
    }),
  );
  t.pass();
});
