// Fuzzes the addon's C packet path, built with ASan and UBSan (scripts/fuzz-native.sh
// runs this with the sanitizer runtime preloaded): the outlet sealing whatever
// the tun hands it under random limits, and the inlet reading whatever the SSH
// socket carries: garbage, packets sealed right around lying lengths, padding
// and frames, split at random points, with the keys swapped mid-stream. A
// memory error or undefined behaviour aborts the process (non-zero exit); a
// clean run prints what it covered. Bounded by FUZZ_SECONDS (default 30).
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';

import { FlowTable } from '../dist/src/datapath/conntrack.js';

const addon = createRequire(import.meta.url)(process.argv[2]);
const seconds = Number(process.env.FUZZ_SECONDS ?? 30);
const until = Date.now() + seconds * 1000;
const { outletCtl: OC, outletNum: ON, inletCtl: IC, inletNum: IN } = addon.layout;
const counts = { outletBatches: 0, outletPackets: 0, inletStreams: 0, inletPackets: 0, ended: 0, payloads: 0, rekeys: 0 };
const pick = (xs) => xs[randomInt(xs.length)];

/** Sometimes an allow-list's flow table (conntrack.c reads it), with a few flows in it; else none. */
function maybeFlows() {
  if (randomInt(2) === 0) return null;
  const table = new FlowTable(pick([1, 4, 64]), new Float64Array([1000]));
  const hits = new Float64Array(pick([0, 1, 3]));
  for (let i = 0; i < 8; i++)
    table.add(pick([6, 17]), randomInt(2 ** 32), randomInt(65536), randomInt(2 ** 32), randomInt(65536), randomInt(256), randomInt(4) - 1);
  return addon.flowTable({ ...table.shared(), hits });
}

/** A loopback TCP pair: `fd` of one end (Node stops reading it), `peer` the other end's socket. */
async function pair() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect(server.address().port, '127.0.0.1');
  const [peer] = await Promise.all([new Promise((r) => server.once('connection', r)), new Promise((r) => client.once('connect', r))]);
  server.close();
  client._handle.readStop();
  return { fd: client._handle.fd, client, peer };
}

/** An IPv4 or IPv6 frame (or something near one), as the tun channel carries them. */
function frame() {
  const kind = randomInt(4);
  const len = pick([0, 1, 4, 23, 24, 43, 44, 64, 1500, randomInt(20000)]);
  const b = randomBytes(len);
  if (len >= 4) b.writeUInt32BE(kind === 0 ? 2 : kind === 1 ? 24 : randomInt(2 ** 32), 0);
  if (len >= 24 && kind === 0) {
    b[4] = 0x40 | randomInt(16);
    b.writeUInt16BE(pick([len - 4, randomInt(65536), 20]), 6);
    b[4 + 9] = pick([1, 6, 17, randomInt(256)]);
    b[4 + 6] = 0;
    b[4 + 7] = 0;
  }
  if (len >= 44 && kind === 1) {
    b[4] = 0x60;
    b.writeUInt16BE(pick([len - 44, randomInt(65536)]), 8);
  }
  return b;
}

/** One SSH packet around `payload`, sealed by `sealer` (AES-GCM, OpenSSH's layout), or lying about itself. */
function sealed(sealer, payload, lie) {
  let pad = 16 - ((1 + payload.length) % 16);
  if (pad < 4) pad += 16;
  const body = 1 + payload.length + pad;
  const p = Buffer.alloc(4 + body + 16);
  p.writeUInt32BE(body, 0);
  p[4] = lie === 'pad' ? pick([255, body, body - 1]) : pad;
  payload.copy(p, 5);
  sealer.encrypt(p);
  if (lie === 'length') p.writeUInt32BE(pick([0, 15, 17, 35_000, 2 ** 32 - 1, 2 ** 32 - 16, randomInt(2 ** 32)]), 0);
  if (lie === 'tag') p[p.length - 1] ^= 1;
  return p;
}

/** CHANNEL_DATA to `recipient` carrying `data`, its length field sometimes a lie. */
function channelData(recipient, data) {
  const b = Buffer.alloc(9 + data.length);
  b[0] = 94;
  b.writeUInt32BE(recipient, 1);
  b.writeUInt32BE(randomInt(8) === 0 ? randomInt(2 ** 32) : data.length, 5);
  data.copy(b, 9);
  return b;
}

async function fuzzOutlet() {
  const { fd, client, peer } = await pair();
  peer.resume();
  peer.on('error', () => {});
  client.on('error', () => {});
  const queued = new Float64Array(1);
  const writer = addon.writer(fd, queued, () => {});
  const ctl = new Int32Array(OC.LEN);
  const num = new Float64Array(ON.LEN);
  const outlet = addon.outlet(writer, ctl, num);
  const key = randomBytes(16);
  const sealer = new addon.Sealer('aes-128-gcm', key, randomBytes(12));
  addon.outletSealer(outlet, pick([sealer, sealer, null]));
  addon.outletFlows(outlet, maybeFlows());
  for (let round = 0; round < 50; round++) {
    ctl[OC.ENABLED] = randomInt(8) === 0 ? 0 : 1;
    ctl[OC.RECIPIENT] = randomInt(2 ** 31);
    ctl[OC.MAX_PACKET] = pick([0, 16, 1500, 32_768, 2 ** 31 - 1, -1]);
    ctl[OC.HIGH_WATER] = pick([0, 1 << 20, 2 ** 31 - 1]);
    ctl[OC.SYN_TO_JS] = randomInt(2);
    ctl[OC.OTHER_TO_JS] = randomInt(2);
    ctl[OC.DNS_ADDR] = randomInt(2 ** 31);
    num[ON.WINDOW] = pick([0, 1, 1e9, -5, Number.NaN, 2 ** 40]);
    const packets = Array.from({ length: randomInt(64) }, frame);
    const taken = addon.outletSend(outlet, Buffer.concat(packets), Uint32Array.from(packets.map((p) => p.length)));
    if (taken > packets.length) throw new Error(`outlet took ${taken} of ${packets.length}`);
    counts.outletBatches++;
    counts.outletPackets += taken;
    if (randomInt(20) === 0) addon.outletSealer(outlet, null);
  }
  addon.outletClose(outlet);
  addon.writerClose(writer);
  client.destroy();
  peer.destroy();
}

async function fuzzInlet() {
  const { fd, client, peer } = await pair();
  peer.on('error', () => {});
  client.on('error', () => {});
  const tun = fs.openSync('/dev/null', 'w');
  const key = randomBytes(16);
  const iv = randomBytes(12);
  const sealer = new addon.Sealer('aes-128-gcm', key, iv);
  const ctl = new Int32Array(IC.LEN);
  const num = new Float64Array(IN.LEN);
  ctl[IC.TUN_ON] = 1;
  ctl[IC.RECIPIENT] = 7;
  ctl[IC.PROBE] = randomInt(2);
  ctl[IC.SYN_TO_JS] = randomInt(2);
  num[IN.WINDOW] = pick([1e9, 100, 0]);
  num[IN.LOW_WATER] = pick([0, 1e6]);
  let ended = false;
  const inlet = addon.inlet(
    fd,
    tun,
    ctl,
    num,
    () => counts.payloads++,
    () => {
      ended = true;
      counts.ended++;
    },
    () => (num[IN.WINDOW] = 1e9),
  );
  addon.inletOpener(inlet, new addon.Opener('aes-128-gcm', key, iv));
  addon.inletFlows(inlet, maybeFlows());
  // the sources table: as sources.ts builds it, or short and lying about its counts
  addon.inletSources(
    inlet,
    pick([
      Uint32Array.from([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      Uint32Array.from([2, 0, 0x0a000000, 0xff000000, 0xc0000200, 0xffffff00]),
      Uint32Array.from([9, 9, 1]),
      new Uint32Array(0),
    ]),
  );
  addon.inletStart(inlet);
  counts.inletStreams++;
  // what crosses: sealed packets (tun CHANNEL_DATA, other messages, lies), then maybe garbage
  const parts = [];
  const n = randomInt(200);
  for (let i = 0; i < n; i++) {
    const lie = randomInt(30) === 0 ? pick(['length', 'pad', 'tag']) : undefined;
    const payload = randomInt(4) === 0 ? randomBytes(randomInt(40)) : channelData(pick([7, 7, 7, 8]), frame());
    if (payload.length + 40 > 35_000) continue;
    parts.push(sealed(sealer, payload, lie));
    if (lie) break;
  }
  if (randomInt(4) === 0) parts.push(randomBytes(randomInt(100_000)));
  const wire = Buffer.concat(parts);
  for (let at = 0; at < wire.length && !ended;) {
    const size = pick([1, 3, 4, 17, 1000, 65_536, randomInt(300_000) + 1]);
    peer.write(wire.subarray(at, at + size));
    at += size;
    if (randomInt(5) === 0) await new Promise((r) => setImmediate(r));
    if (randomInt(200) === 0) {
      // new keys mid-stream (ours, which the bytes already sent were not sealed with, or not ours)
      addon.inletOpener(inlet, randomInt(2) ? new addon.Opener('aes-128-gcm', randomBytes(16), randomBytes(12)) : null);
      counts.rekeys++;
    }
  }
  await new Promise((r) => setTimeout(r, randomInt(20)));
  counts.inletPackets += num[IN.PACKETS] + num[IN.MALFORMED] + num[IN.DROPPED];
  const rest = addon.inletStop(inlet);
  if (!Buffer.isBuffer(rest)) throw new Error('inletStop returned no buffer');
  addon.inletClose(inlet);
  fs.closeSync(tun);
  client.destroy();
  peer.destroy();
}

let rounds = 0;
while (Date.now() < until) {
  await fuzzOutlet();
  await fuzzInlet();
  rounds++;
  if (rounds % 20 === 0) globalThis.gc?.();
}
console.log(`fuzz-native: ${rounds} rounds in ${seconds}s, no sanitizer report: ${JSON.stringify(counts)}`);
