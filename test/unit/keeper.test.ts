import { EventEmitter } from 'node:events';
import test from 'ava';
import type { Client } from 'ssh2';
import { envOf } from './configs.js';
import { SessionKeeper, type KeeperDeps, type Session } from '../../src/daemon/keeper.js';
import { SshLink } from '../../src/datapath/ssh/link.js';

// The session keeper on fakes: an SSH client that is only an event emitter, opens and
// attaches that fail on cue, and a backoff of milliseconds instead of seconds.

class FakeClient extends EventEmitter {
  ended = 0;
  end(): void {
    this.ended++;
    queueMicrotask(() => this.emit('close'));
  }
}

const env = envOf('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n', 'stg');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function keeper(
  plan: { attachFails: number; openFails: number },
  onEnv = env,
  extra: Partial<KeeperDeps> = {},
): { k: SessionKeeper; clients: FakeClient[]; logs: string[]; closed: Session[] } {
  const clients: FakeClient[] = [];
  const logs: string[] = [];
  const closed: Session[] = [];
  const deps: KeeperDeps = {
    env: onEnv,
    open: async () => {
      if (plan.openFails-- > 0) throw new Error('connect ECONNREFUSED');
      const c = new FakeClient();
      clients.push(c);
      return { link: new SshLink(c as unknown as Client, undefined, undefined), channel: undefined, remoteDevice: 'tun0' } satisfies Session;
    },
    attach: async () => {
      if (plan.attachFails-- > 0) throw new Error('mtu probe: no answer');
    },
    detach: () => undefined,
    // the controller's closeSession: remote steps undone over the session's connection, then it ends
    close: async (s) => {
      closed.push(s);
      s.link.end();
      return [];
    },
    moved: () => 0,
    busy: () => false,
    dropHeld: () => undefined,
    log: (l) => void logs.push(l),
    backoff: { min: 2, max: 8 },
    ...extra,
  };
  return { k: new SessionKeeper(deps), clients, logs, closed };
}

test('an attach that fails leaves no session behind: its remote steps undone over it, the next attempt makes a new one', async (t) => {
  const { k, clients, closed } = keeper({ attachFails: 1, openFails: 0 });
  await t.throwsAsync(k.ensure(), { message: 'mtu probe: no answer' });
  t.is(k.session, undefined, 'the failed session is not kept');
  t.is(closed.length, 1, 'closed as a session is: its remote steps undone while its connection stands');
  t.is(closed[0]!.link.client, clients[0] as unknown as Client);
  t.is(clients[0]!.ended, 1, 'and its connection is closed');
  await sleep(5);
  t.is(k.state, 'connecting', 'its close is not taken for a lost session');
  await k.ensure();
  t.is(clients.length, 2, 'a new connection, not the dead one');
  t.is(k.session?.link.client, clients[1] as unknown as Client);
  t.is(k.state, 'up');
  await k.stop();
});

test('a lost session is remade with backoff through failures; no timer is left behind', async (t) => {
  const plan = { attachFails: 0, openFails: 0 };
  const { k, clients, logs } = keeper(plan);
  await k.ensure();
  // lost; the next six attempts fail (three at open, three at attach), the seventh holds
  plan.openFails = 3;
  plan.attachFails = 3;
  clients[0]!.emit('close');
  let peak = 0;
  for (let i = 0; i < 400 && k.state !== 'up'; i++) {
    peak = Math.max(peak, k.pendingTimers);
    await sleep(2);
  }
  t.is(k.state, 'up');
  t.is(k.reconnects, 1);
  t.is(clients.length, 5, 'the first, three that failed to attach, the one that holds');
  t.regex(logs.join('\n'), /stg: SSH connection closed; reconnecting/);
  t.is((logs.join('\n').match(/session failed/g) ?? []).length, 6);
  t.true(peak <= 1, `at most one backoff timer pending at a time (saw ${peak})`);
  t.is(k.pendingTimers, 0, 'none left once the session is back');
  await k.stop();
});

test('a wall-clock jump of an hour does not end an idle session early (monotonic clocks)', async (t) => {
  const onDemand = envOf('    tunnel: { local: 10.99.0.1, remote: 10.99.0.2 }\n    onDemand: true\n    idleTimeout: 10\n', 'stg');
  const { k, closed } = keeper({ attachFails: 0, openFails: 0 }, onDemand);
  await k.ensure();
  k.watchIdle();
  await sleep(1100); // the idle watch's first look (every 1 s) has seen the traffic counter
  const wall = Date.now;
  Date.now = () => wall() + 3600_000; // an hour ahead, ticking on
  try {
    await sleep(1200); // its next look: quiet for about 2 s of the 10, not for an hour
    t.is(closed.length, 0, 'an hour forward on the wall clock is not an hour idle');
    t.is(k.state, 'up');
  } finally {
    Date.now = wall;
    await k.stop();
  }
});

test('the host woke (the wall clock ran ahead of the monotonic one): a session that answers stays, one that does not is remade at once', async (t) => {
  let wallAhead = 0;
  let answers = true;
  let asked = 0;
  const { k, clients, logs } = keeper({ attachFails: 0, openFails: 0 }, env, {
    probe: async () => {
      asked++;
      if (!answers) await new Promise(() => undefined);
    },
    wake: { wall: () => Date.now() + wallAhead, monotonic: () => performance.now(), tickMs: 5, answerMs: 20 },
  });
  await k.ensure();
  k.watchWake();
  // a clock set an hour on (or a sleep the session lived through): one round trip, answered, nothing else
  wallAhead = 3_600_000;
  await sleep(30);
  t.is(asked, 1);
  t.is(k.reconnects, 0);
  t.is(clients.length, 1);
  // a sleep its connection did not live through: no answer, lost now rather than a deadAfter later
  answers = false;
  wallAhead += 600_000;
  for (let i = 0; i < 200 && k.reconnects === 0; i++) await sleep(2);
  t.is(k.reconnects, 1);
  t.is(clients.length, 2);
  t.regex(
    logs.join('\n'),
    /the host woke \(wall clock 600s ahead of the monotonic one\)[^\n]*\n(.*\n)*.*SSH did not answer after the host woke: no answer within 0\.02s; reconnecting/,
  );
  await k.stop();
});

test('check(): one round trip at a time; a session that does not answer is remade, one that does stays', async (t) => {
  let answers = true;
  let asked = 0;
  const { k, clients, logs } = keeper({ attachFails: 0, openFails: 0 }, env, {
    probe: async () => {
      asked++;
      await sleep(10);
      if (!answers) await new Promise(() => undefined);
    },
    wake: { wall: Date.now, monotonic: () => performance.now(), tickMs: 1000, answerMs: 30 },
  });
  await k.ensure();
  k.check("this host's network changed", "this host's network changed");
  k.check("this host's network changed", "this host's network changed");
  await sleep(40);
  t.is(asked, 1, 'the second check, while the first is asked, is the same question');
  t.is(k.reconnects, 0);
  answers = false;
  k.check("this host's network changed", "this host's network changed");
  for (let i = 0; i < 200 && k.reconnects === 0; i++) await sleep(2);
  t.is(k.reconnects, 1);
  t.is(clients.length, 2);
  t.regex(logs.join('\n'), /SSH did not answer after this host's network changed: no answer within 0\.03s; reconnecting/);
  await k.stop();
});
