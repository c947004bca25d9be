import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { loadAddon } from '../../src/native/addon.js';
import { ROOT, inNs, run } from './helpers.js';

// The privileged helper as root runs it (dist/src/helper/main.js), in a namespace of its own
// with an eth0 (one end of a veth pair) whose default route goes via 192.168.77.1: what it does for a controller, the
// table of what it refuses (the host unchanged after each), and sshuttle's rule: the
// controller's end closing undoes everything and the helper exits.

const NS = 'cbhelper';
const HELPER = path.join(ROOT, 'dist/src/helper/main.js');
const JOURNAL = '/run/cloudbridge/_helper/hlp.json';

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  ask(req: object): Promise<{ ok: boolean; error?: string; name?: string; fd?: number }>;
  /** The fd the last reply announced. */
  fd(): number;
  kill(): void;
}

function start(): Running {
  const addon = loadAddon();
  const [ctlHelper, ctlHere] = addon.socketPair();
  const [fdsHelper, fdsHere] = addon.socketPair();
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, HELPER], { stdio: ['ignore', 'inherit', 'inherit', ctlHelper, fdsHelper] });
  fs.closeSync(ctlHelper);
  fs.closeSync(fdsHelper);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const sock = new net.Socket({ fd: ctlHere, readable: true, writable: true });
  sock.setEncoding('utf8');
  const lines: string[] = [];
  let buf = '';
  sock.on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  sock.on('error', () => undefined);
  return {
    child,
    exited,
    ask: async (req) => {
      const n = lines.length;
      sock.write(`${JSON.stringify(req)}\n`);
      for (let i = 0; i < 500 && lines.length === n; i++) await new Promise((r) => setTimeout(r, 10));
      return JSON.parse(lines[n]!) as { ok: boolean; error?: string };
    },
    fd: () => addon.fdRecv(fdsHere),
    kill: () => {
      sock.destroy();
      fs.closeSync(fdsHere);
    },
  };
}

const state = async (): Promise<string> =>
  [
    // an address's DAD flag clears by itself a second after the link comes up: not the helper's doing
    (await inNs(NS, 'ip', ['-o', 'addr'])).stdout.replaceAll(' tentative', ''),
    (await inNs(NS, 'ip', ['route'])).stdout,
    (await inNs(NS, 'ip', ['-6', 'route'])).stdout,
    (await inNs(NS, 'iptables-save', [])).stdout.replace(/^#.*$/gm, ''),
  ].join('\n');

const MASQ = ['POSTROUTING', '-o', 'cb-hlp', '-m', 'comment', '--comment', 'cloudbridge:hlp', '-j', 'MASQUERADE'];
const step = (title: string, apply: object, undo: object | null): object => ({ op: 'step', step: { title, apply, undo } });
const local = (o: object): object => ({ side: 'local', ...o });

test.before(async () => {
  await run('ip', ['netns', 'del', NS]);
  await run('ip', ['netns', 'add', NS]);
  const setUp: string[][] = [
    ['link', 'set', 'lo', 'up'],
    // a veth pair inside the namespace (no dummy module here): eth0 is the host's own way out
    ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'],
    ['addr', 'add', '192.168.77.2/24', 'dev', 'eth0'],
    ['link', 'set', 'eth0', 'up'],
    ['link', 'set', 'eth1', 'up'],
    ['route', 'add', 'default', 'via', '192.168.77.1'],
  ];
  for (const args of setUp) {
    const r = await inNs(NS, 'ip', args);
    if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  }
});

test.after.always(async () => {
  await run('ip', ['netns', 'del', NS]);
  fs.rmSync(JOURNAL, { force: true });
  for (const dir of [path.dirname(JOURNAL), path.dirname(path.dirname(JOURNAL))]) {
    try {
      fs.rmdirSync(dir); // only once empty: another test's environment may be up
    } catch {
      // not empty
    }
  }
});

test.serial('the running helper does what a connect asks, refuses the rest with the host unchanged, and undoes all when the controller dies', async (t) => {
  const h = start();
  t.deepEqual(await h.ask({ op: 'hello', env: 'hlp' }), { ok: true });
  t.like(await h.ask({ op: 'open-tun', name: 'cb-hlp' }), { ok: true, name: 'cb-hlp', fd: 1 });
  const tun = h.fd();
  t.true(tun >= 0, 'the tun fd came over SCM_RIGHTS');
  for (const s of [
    step('up', local({ op: 'link-up', dev: 'cb-hlp', mtu: 1400 }), null),
    step(
      'addr',
      local({ op: 'addr-add', dev: 'cb-hlp', local: '10.77.0.1', peer: '10.77.0.2' }),
      local({ op: 'addr-del', dev: 'cb-hlp', local: '10.77.0.1', peer: '10.77.0.2' }),
    ),
    step('route', local({ op: 'route-add', dev: 'cb-hlp', cidr: '10.78.0.0/16' }), local({ op: 'route-del', dev: 'cb-hlp', cidr: '10.78.0.0/16' })),
    step(
      'pin',
      local({ op: 'route-add', dev: 'eth0', via: '192.168.77.1', cidr: '203.0.113.9/32' }),
      local({ op: 'route-del', dev: 'eth0', via: '192.168.77.1', cidr: '203.0.113.9/32' }),
    ),
    step('masquerade', local({ op: 'iptables', table: 'nat', argv: ['-A', ...MASQ] }), local({ op: 'iptables', table: 'nat', argv: ['-D', ...MASQ] })),
  ]) {
    t.deepEqual(await h.ask(s), { ok: true }, JSON.stringify(s));
  }
  const before = await state();
  t.regex(before, /10\.78\.0\.0\/16 dev cb-hlp/);
  t.regex(before, /203\.0\.113\.9 via 192\.168\.77\.1 dev eth0/);
  t.regex(before, /-A POSTROUTING -o cb-hlp .*cloudbridge:hlp.* -j MASQUERADE/);

  const refusals: [object, RegExp][] = [
    [
      step(
        'x',
        local({ op: 'route-add', dev: 'eth0', via: '192.168.77.66', cidr: '10.90.0.0/16' }),
        local({ op: 'route-del', dev: 'eth0', via: '192.168.77.66', cidr: '10.90.0.0/16' }),
      ),
      /where the host's own routes send it now/,
    ],
    [step('x', local({ op: 'route-del', dev: 'eth0', cidr: '0.0.0.0/0' }), null), /is an undo/],
    [
      step(
        'x',
        local({ op: 'addr-add', dev: 'eth0', local: '192.168.77.9', peer: '192.168.77.10' }),
        local({ op: 'addr-del', dev: 'eth0', local: '192.168.77.9', peer: '192.168.77.10' }),
      ),
      /eth0 is not this connection's device/,
    ],
    [step('x', local({ op: 'link-up', dev: 'lo', mtu: 1280 }), null), /lo is not this connection's device/],
    [step('x', local({ op: 'iptables', table: 'filter', argv: ['-A', 'INPUT', '-j', 'ACCEPT'] }), null), /only MASQUERADE/],
    [
      step('x', local({ op: 'resolvectl', argv: ['dns', 'eth0', '10.0.0.1'] }), local({ op: 'resolvectl', argv: ['revert', 'eth0'] })),
      /eth0 is not this connection's device/,
    ],
    [step('x', local({ op: 'resolv-conf', content: 'nameserver 6.6.6.6\n' }), null), /not the forwarder's/],
    [{ op: 'open-tun', name: 'cb-hlp' }, /open already/],
    [{ op: 'hello', env: 'other' }, /hello comes once/],
    [{ op: 'step', step: { title: 'x', apply: { side: 'remote', argv: ['reboot'] }, undo: null } }, /only this host's network actions/],
    [{ op: 'exec', argv: ['sh'] }, /unknown request "exec"/],
  ];
  for (const [req, why] of refusals) {
    const r = await h.ask(req);
    t.false(r.ok, JSON.stringify(req));
    t.regex(r.error ?? '', why);
    t.is(await state(), before, `unchanged after ${JSON.stringify(req).slice(0, 80)}`);
  }
  t.true(fs.existsSync(JOURNAL), "root's journal holds the steps");
  // port 53 on the host's own address, bound by root and handed over
  t.like(await h.ask({ op: 'bind', addr: '192.168.77.2', proto: 'udp' }), { ok: true, fd: 1 });
  const dns = h.fd();
  t.true(dns >= 0);
  t.regex((await inNs(NS, 'ss', ['-uln'])).stdout, /192\.168\.77\.2:53\b/);
  fs.closeSync(dns);
  t.regex((await h.ask({ op: 'bind', addr: '0.0.0.0', proto: 'udp' })).error ?? '', /not an address of this host/);
  // a bridge not up yet, as dockerd leaves docker0 until its first container: its address is still the host's
  for (const c of ['ip link add cbhbr type bridge', 'ip addr add 172.31.77.1/24 dev cbhbr']) t.is((await inNs(NS, 'sh', ['-c', c])).exitCode, 0, c);
  t.regex((await inNs(NS, 'ip', ['-o', 'link', 'show', 'cbhbr'])).stdout, /state DOWN/);
  t.like(await h.ask({ op: 'bind', addr: '172.31.77.1', proto: 'tcp' }), { ok: true, fd: 1 });
  fs.closeSync(h.fd());
  await inNs(NS, 'ip', ['link', 'del', 'cbhbr']);

  // kill -9 of the controller: its ends close (the tun fd with them)
  const killedAt = Date.now();
  fs.closeSync(tun);
  h.kill();
  t.is(await h.exited, 0);
  const after = await state();
  t.true(Date.now() - killedAt < 1000, `undone in ${Date.now() - killedAt} ms`);
  t.notRegex(after, /cb-hlp|10\.78\.0\.0|203\.0\.113\.9|MASQUERADE/, 'the device, its routes, the pin and the rule: all gone');
  t.false(fs.existsSync(JOURNAL));
});
