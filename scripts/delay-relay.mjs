#!/usr/bin/env node
// A TCP relay that holds every byte for a fixed time each way: a long link
// for the bench on a kernel without sch_netem (or fq, for EDT delays).
//   node scripts/delay-relay.mjs LISTEN_HOST:PORT TARGET_HOST:PORT ONE_WAY_MS
// The upstream connect waits one delay and the first bytes back another, so a
// client sees its peer a round trip after connecting, as over a real link.
// Each chunk keeps its order (timers of one duration fire in the order they
// were set); there is no pacing, so it adds delay, not a bandwidth limit.
import net from 'node:net';

const [listen, target, oneWay] = process.argv.slice(2);
if (!listen || !target || oneWay === undefined) {
  console.error('usage: delay-relay.mjs LISTEN_HOST:PORT TARGET_HOST:PORT ONE_WAY_MS');
  process.exit(2);
}
const hostPort = (s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) });
const delay = Number(oneWay);
const later = (fn) => (delay > 0 ? setTimeout(fn, delay) : setImmediate(fn));

/** Copies from `from` to `to` `delay` ms late, end included. */
function carry(from, to) {
  from.on('data', (chunk) => later(() => to.destroyed || to.write(chunk)));
  from.on('end', () => later(() => to.end()));
  from.on('error', () => later(() => to.destroy()));
  from.on('close', () => later(() => to.destroy()));
}

const server = net.createServer((client) => {
  client.setNoDelay(true);
  const pending = [];
  client.on('data', (chunk) => pending.push(chunk));
  client.on('error', () => {});
  later(() => {
    const upstream = net.connect(hostPort(target));
    upstream.setNoDelay(true);
    upstream.on('error', () => client.destroy());
    upstream.once('connect', () => {
      client.removeAllListeners('data');
      for (const chunk of pending) later(() => upstream.write(chunk));
      carry(client, upstream);
      carry(upstream, client);
    });
  });
});
const at = hostPort(listen);
server.listen(at.port, at.host, () => console.log(`delay-relay: ${listen} -> ${target}, ${delay} ms each way`));
