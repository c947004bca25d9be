#!/usr/bin/env node
// An hour of churn, compressed: two environments up on a lab of their own
// (namespaces cb-cbk-*), and through each, in rounds spread over
// SOAK_MINUTES (10): 10,000 short TCP connections and 1,000 UDP flows through
// the tunnel, 2,000 connections through SOCKS and 2,000 through a forward;
// the first environment with an allow-list of 1,000 rules. Every exchange is
// checksummed (the blob server answers the SHA-256 of what it got; UDP comes
// back as sent). After the first round (warm-up) and at the end it reads each
// controller's RSS, descriptors, timers and flow table (status --json) and the
// kernel's connection tracking on both hosts, and prints them side by side.
//   sudo npm run soak            (SOAK_MINUTES=10, SOAK_ROUNDS=10)
// Exits 1 when data was lost, RSS grew 10 % or more after warm-up, or
// descriptors or timers grew. Writes bench-results/soak-DATE.json.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

process.chdir(path.join(path.dirname(new URL(import.meta.url).pathname), '..'));
if (process.getuid() !== 0) {
  console.error('soak: needs root');
  process.exit(1);
}
const LAB = 'cbk';
const NET = '10.234';
const DIR = `/run/cloudbridge-lab/${LAB}`;
const minutes = Number(process.env.SOAK_MINUTES ?? 10);
const rounds = Number(process.env.SOAK_ROUNDS ?? 10);
const PER_ROUND = { tcp: 10_000 / rounds, udp: 1_000 / rounds, socks: 2_000 / rounds, forward: 2_000 / rounds };
const CONCURRENCY = 32;
// what a sudo user's shell would not carry, and costs each Node start here (scripts/bench-lib.sh)
delete process.env.NODE_EXTRA_CA_CERTS;
for (const k of ['SUDO_USER', 'SUDO_UID', 'SUDO_GID']) delete process.env[k];

const sh = (file, args) => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const cb = (...args) => sh(process.execPath, ['dist/bundle/cloudbridge.js', ...args]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Two environments to one remote host, each routing one host behind it; the first with SOCKS, a forward and 1,000 allow rules. */
function config() {
  const env = (name, local, remote, target, socksPort, allow) =>
    [
      `  ${name}:`,
      `    host: ${NET}.0.2`,
      `    user: root`,
      `    identityFile: ${DIR}/id_ed25519`,
      `    knownHostsFile: ${DIR}/known_hosts`,
      `    tunnel: { local: ${local}, remote: ${remote} }`,
      `    routes: [${target}/32]`,
      `    nat: true`,
      `    docker: { mode: 'off' }`,
      `    socks: { listen: 127.0.0.1:${socksPort} }`,
      `    forwards: [{ listen: 127.0.0.1:${socksPort + 1}, to: ${target}:9400 }]`,
      ...(allow ? ['    allow:', ...allow.map((r) => `      - ${r}`)] : []),
    ].join('\n');
  // 998 rules that match nothing here, then the two the soak needs: the list is searched, not skipped
  const allow = Array.from({ length: 998 }, (_, i) => `{ to: ${NET}.${100 + Math.floor(i / 250)}.${i % 250}/32, proto: tcp, ports: ${1000 + i} }`);
  allow.push(`{ to: ${NET}.9.2/32, proto: tcp, ports: 9400 }`, `{ to: ${NET}.9.2/32, proto: udp, ports: 9402 }`);
  const file = `${DIR}/soak.yaml`;
  fs.writeFileSync(
    file,
    `environments:\n${env(LAB, `${NET}.1.1`, `${NET}.1.2`, `${NET}.9.2`, 11080, allow)}\n${env(`${LAB}2`, `${NET}.1.5`, `${NET}.1.6`, `${NET}.9.3`, 11090)}\n`,
  );
  return file;
}

/** A fixture from dist/test/e2e/fixtures in the lab's host behind the remote one; resolves once it prints. */
function fixture(name, args) {
  const p = spawn('ip', ['netns', 'exec', `cb-${LAB}-b`, process.execPath, `dist/test/e2e/fixtures/${name}.js`, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    p.stdout.once('data', () => resolve(p));
    p.once('exit', () => reject(new Error(`${name} exited`)));
  });
}

/** One short connection: "U", a random payload, a half-close; the server's SHA-256 must be the payload's. `socks`: through that SOCKS5 port. */
function exchange(host, port, socks) {
  const payload = randomBytes(2048 + Math.floor(Math.random() * 6144));
  const want = createHash('sha256').update(payload).digest('hex');
  return new Promise((resolve) => {
    const sock = net.createConnection(socks ? { host: '127.0.0.1', port: socks } : { host, port }, () => {
      if (!socks) return send();
      sock.write(Buffer.from([5, 1, 0]));
    });
    let stage = socks ? 'greeting' : 'data';
    let got = Buffer.alloc(0);
    const send = () => {
      stage = 'data';
      sock.write('U');
      sock.end(payload);
    };
    sock.setTimeout(10_000, () => sock.destroy(new Error('timeout')));
    sock.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (stage === 'greeting' && got.length >= 2) {
        got = got.subarray(2);
        stage = 'connect';
        const [a, b, c, e] = host.split('.').map(Number);
        sock.write(Buffer.from([5, 1, 0, 1, a, b, c, e, port >> 8, port & 255]));
      } else if (stage === 'connect' && got.length >= 10) {
        if (got[1] !== 0) return sock.destroy(new Error(`socks reply ${got[1]}`));
        got = got.subarray(10);
        send();
      }
    });
    // the server's answer is the SHA-256 of what it got: anything else arrived changed (or not at all)
    sock.on('end', () => resolve(stage !== 'data' || got.length === 0 ? 'no answer' : got.toString() === want ? 'ok' : 'corrupt'));
    sock.on('error', (err) => resolve(`error ${err.code ?? err.message}`));
  });
}

/** One UDP flow: a socket of its own, three datagrams, each echoed back whole (one resend each before it counts as lost). */
async function udpFlow(host, port) {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, r));
  try {
    for (let i = 0; i < 3; i++) {
      const payload = randomBytes(512);
      let ok = false;
      for (let attempt = 0; attempt < 2 && !ok; attempt++) {
        ok = await new Promise((resolve) => {
          const t = setTimeout(() => resolve(false), 1000);
          s.once('message', (m) => {
            clearTimeout(t);
            resolve(m.equals(payload));
          });
          s.send(payload, port, host);
        });
      }
      if (!ok) return 'lost';
    }
    return 'ok';
  } finally {
    s.close();
  }
}

/** Runs `count` jobs, `CONCURRENCY` at a time; tallies their results. */
async function pool(count, job, tally) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const r = await job();
      tally[r] = (tally[r] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

function kernelConntrack(ns) {
  const file = '/proc/sys/net/netfilter/nf_conntrack_count';
  try {
    return Number((ns ? sh('ip', ['netns', 'exec', ns, 'cat', file]) : fs.readFileSync(file, 'utf8')).trim());
  } catch {
    return null;
  }
}

/** What each controller holds now, and the kernel's connection tracking here and on the remote host. */
function sample(label) {
  const envs = JSON.parse(cb('status', '--json'))
    .filter((s) => s.env === LAB || s.env === `${LAB}2`)
    .map((s) => ({
      env: s.env,
      rssMiB: +(s.memory.rss / 2 ** 20).toFixed(1),
      heapMiB: +(s.memory.heapUsed / 2 ** 20).toFixed(1),
      fds: s.resources.fds,
      timers: s.resources.timers,
      flows: s.flows ? `${s.flows.size}/${s.flows.capacity}` : null,
      reconnects: s.reconnects,
    }));
  return { label, envs, conntrackHere: kernelConntrack(), conntrackRemote: kernelConntrack(`cb-${LAB}-r`) };
}

const servers = [];
const started = Date.now();
try {
  sh('bash', ['scripts/lab.sh', 'up', LAB, '234']);
  const cfg = config();
  const blob = `${DIR}/soak-blob`;
  fs.writeFileSync(blob, '');
  for (const target of [`${NET}.9.2`, `${NET}.9.3`]) {
    servers.push(await fixture('udpEcho', [target, '9402']));
  }
  servers.push(await fixture('blobServer', ['9400', blob, String(minutes * 60 + 600)]));
  cb('connect', LAB, '--config', cfg);
  cb('connect', `${LAB}2`, '--config', cfg);
  const samples = [sample('connected')];
  const tally = { [LAB]: {}, [`${LAB}2`]: {} };
  const spacing = (minutes * 60_000) / rounds;
  for (let round = 1; round <= rounds; round++) {
    const roundStart = Date.now();
    await Promise.all(
      [
        [LAB, `${NET}.9.2`, 11080],
        [`${LAB}2`, `${NET}.9.3`, 11090],
      ].map(async ([env, target, socks]) => {
        const t = tally[env];
        await pool(PER_ROUND.tcp, () => exchange(target, 9400), t);
        await pool(PER_ROUND.udp, () => udpFlow(target, 9402), t);
        await pool(PER_ROUND.socks, () => exchange(target, 9400, socks), t);
        await pool(PER_ROUND.forward, () => exchange('127.0.0.1', socks + 1), t);
      }),
    );
    const took = ((Date.now() - roundStart) / 1000).toFixed(1);
    console.error(`soak: round ${round}/${rounds} in ${took} s: ${JSON.stringify(tally)}`);
    if (round === 1) samples.push(sample('after warm-up'));
    if (round < rounds) await sleep(Math.max(0, spacing - (Date.now() - roundStart)));
  }
  // what closes by itself (the flow table's idle flows, TIME_WAIT on this side) is given a moment
  await sleep(5000);
  samples.push(sample('end'));

  const [, warm, end] = samples;
  const failures = [];
  console.log(
    `\nsoak: ${rounds} rounds over ${((Date.now() - started) / 60_000).toFixed(1)} min; per environment: ${PER_ROUND.tcp * rounds} TCP, ${PER_ROUND.udp * rounds} UDP flows, ${PER_ROUND.socks * rounds} SOCKS, ${PER_ROUND.forward * rounds} forward`,
  );
  console.log('env    sample          RSS MiB  heap MiB  fds  timers   flows/capacity  reconnects');
  for (const s of samples)
    for (const e of s.envs)
      console.log(
        `${e.env.padEnd(6)} ${s.label.padEnd(14)} ${String(e.rssMiB).padStart(8)} ${String(e.heapMiB).padStart(9)} ${String(e.fds).padStart(4)} ${String(e.timers).padStart(7)} ${String(e.flows ?? '-').padStart(16)} ${String(e.reconnects).padStart(11)}`,
      );
  console.log(
    `kernel conntrack entries: here ${samples.map((s) => s.conntrackHere).join(' -> ')}, remote ${samples.map((s) => s.conntrackRemote).join(' -> ')}`,
  );
  for (const env of Object.keys(tally)) {
    const t = tally[env];
    const bad = Object.entries(t).filter(([k]) => k !== 'ok');
    console.log(`${env}: ${t.ok ?? 0} exchanges whole${bad.length ? `, ${bad.map(([k, v]) => `${v} ${k}`).join(', ')}` : ''}`);
    if (bad.length) failures.push(`${env}: ${bad.map(([k, v]) => `${v} ${k}`).join(', ')}`);
  }
  for (const e of end.envs) {
    const w = warm.envs.find((x) => x.env === e.env);
    const growth = (e.rssMiB - w.rssMiB) / w.rssMiB;
    console.log(
      `${e.env}: RSS ${w.rssMiB} -> ${e.rssMiB} MiB after warm-up (${(growth * 100).toFixed(1)} %), fds ${w.fds} -> ${e.fds}, timers ${w.timers} -> ${e.timers}`,
    );
    if (growth >= 0.1) failures.push(`${e.env}: RSS grew ${(growth * 100).toFixed(1)} %`);
    if (e.fds > w.fds) failures.push(`${e.env}: descriptors grew ${w.fds} -> ${e.fds}`);
    if (e.timers > w.timers) failures.push(`${e.env}: timers grew ${w.timers} -> ${e.timers}`);
    if (e.reconnects) failures.push(`${e.env}: ${e.reconnects} reconnects`);
  }
  fs.mkdirSync('bench-results', { recursive: true });
  const out = `bench-results/soak-${new Date().toISOString().replace(/[:.]/g, '').slice(0, 15)}.json`;
  fs.writeFileSync(out, `${JSON.stringify({ minutes, rounds, perRound: PER_ROUND, tally, samples, failures }, null, 1)}\n`);
  console.log(failures.length ? `soak: FAILED: ${failures.join('; ')}` : 'soak: no data lost, no growth');
  console.log(`soak: every figure in ${out}`);
  process.exitCode = failures.length ? 1 : 0;
} finally {
  for (const env of [LAB, `${LAB}2`]) {
    try {
      cb('disconnect', env);
    } catch {
      // not up
    }
  }
  for (const s of servers) s.kill();
  sh('bash', ['scripts/lab.sh', 'down', LAB]);
}
