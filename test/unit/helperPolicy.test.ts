import test from 'ava';
import { planHalves } from '../../src/plan/fullTunnel.js';
import fc from 'fast-check';
import { HelperError, parseRequest, type Request, type StepRequest } from '../../src/helper/requests.js';
import { Policy, type HostPath, type KernelView } from '../../src/helper/policy.js';
import type { NetAction } from '../../src/plan/steps.js';

// The privileged helper's vocabulary and policy (docs/privsep.md), in one process: what a
// controller running as the user may ask of root, and the table of what must be refused.
// The host is a fake KernelView: eth0 via 192.168.1.1 for everything but 10.66.0.0/16 (no path).

const kernel: KernelView = {
  outsidePath: async (addr): Promise<HostPath> => (addr.startsWith('10.66.') ? 'unreachable' : { via: '192.168.1.1', dev: 'eth0' }),
  resolvConf: async () => ({ content: 'nameserver 192.168.1.1\nsearch corp.example\noptions edns0\n', symlink: undefined }),
  serviceDns: async () => [{ service: 'Wi-Fi', servers: ['192.168.1.1'] }],
  hasDevice: async () => true,
  addressesOn: async () => undefined,
  localAddresses: async () => ['127.0.0.1', '192.168.1.20', '172.17.0.1'],
};

function policy(platform: 'linux' | 'darwin' = 'linux'): Policy {
  const p = new Policy(kernel, platform);
  p.hello('stg');
  // the kernel's name for what was opened: macOS picks the utun unit
  const asked = p.tunName(platform === 'linux' ? 'cb-stg' : 'utun');
  p.adopt(platform === 'linux' ? asked : 'utun4');
  return p;
}

const step = (apply: NetAction, undo: NetAction | null, title = 't'): StepRequest => ({ title, apply, undo });
const route = (cidr: string, extra: Partial<{ dev: string; via: string; reject: boolean }> = {}): StepRequest =>
  step({ side: 'local', op: 'route-add', dev: 'cb-stg', cidr, ...extra }, { side: 'local', op: 'route-del', dev: 'cb-stg', cidr, ...extra });
const masq = (dev: string, tag = 'cloudbridge:stg'): StepRequest => {
  const rule = ['POSTROUTING', '-o', dev, '-m', 'comment', '--comment', tag, '-j', 'MASQUERADE'];
  return step({ side: 'local', op: 'iptables', table: 'nat', argv: ['-A', ...rule] }, { side: 'local', op: 'iptables', table: 'nat', argv: ['-D', ...rule] });
};

test('what a connect asks for passes: addresses, link, routes, pins, exclusions, masquerade, resolved and resolv.conf', async (t) => {
  const p = policy();
  const ok: StepRequest[] = [
    step(
      { side: 'local', op: 'addr-add', dev: 'cb-stg', local: '10.99.0.1', peer: '10.99.0.2' },
      { side: 'local', op: 'addr-del', dev: 'cb-stg', local: '10.99.0.1', peer: '10.99.0.2' },
    ),
    step({ side: 'local', op: 'link-up', dev: 'cb-stg', mtu: 1400 }, null),
    route('10.20.0.0/16'),
    route('0.0.0.0/1'),
    route('::/1', { reject: true }),
    // the full tunnel's halves as the plan makes them (IPv6 blocked on no device)
    ...planHalves('cb-stg').map((h) => step(h.apply as NetAction, h.undo as NetAction, h.title)),
    // a pin: the SSH server's address exactly where the host sends it now
    route('203.0.113.7/32', { dev: 'eth0', via: '192.168.1.1' }),
    // an excluded network that has no path stays nowhere
    route('10.66.0.0/16', { dev: '', reject: true }),
    masq('cb-stg'),
    step({ side: 'local', op: 'resolvectl', argv: ['dns', 'cb-stg', '10.99.0.2'] }, { side: 'local', op: 'resolvectl', argv: ['revert', 'cb-stg'] }),
    step({ side: 'local', op: 'resolvectl', argv: ['domain', 'cb-stg', '~corp.internal'] }, null),
    step(
      { side: 'local', op: 'resolvectl', argv: ['domain', 'cb-stg', '~.', '~corp.internal'] },
      { side: 'local', op: 'resolvectl', argv: ['domain', 'cb-stg', '~corp.internal'] },
    ),
    step(
      { side: 'local', op: 'resolv-conf', content: '# cloudbridge for stg\nnameserver 127.0.0.153\nsearch corp.example\noptions edns0\n', symlink: undefined },
      { side: 'local', op: 'resolv-conf', content: 'nameserver 192.168.1.1\nsearch corp.example\noptions edns0\n', symlink: undefined },
    ),
  ];
  for (const s of ok) await t.notThrowsAsync(p.check(s), JSON.stringify(s.apply));
});

// Each line: what is asked, and the refusal it gets. None of them changes anything.
const refused: [string, StepRequest, RegExp][] = [
  [
    'an address on a device not its own',
    step(
      { side: 'local', op: 'addr-add', dev: 'eth0', local: '10.0.0.5', peer: '10.0.0.6' },
      { side: 'local', op: 'addr-del', dev: 'eth0', local: '10.0.0.5', peer: '10.0.0.6' },
    ),
    /eth0 is not this connection's device/,
  ],
  ["another environment's device", step({ side: 'local', op: 'link-up', dev: 'cb-prod', mtu: 1400 }, null), /cb-prod is not this connection's device/],
  [
    'a route via eth0 to a gateway the host does not use',
    route('10.30.0.0/16', { dev: 'eth0', via: '192.168.1.66' }),
    /only through this connection's device, or where the host's own routes send it now/,
  ],
  ['a route on eth0 with no gateway', route('10.30.0.0/16', { dev: 'eth0' }), /only through this connection's device/],
  ['a reject route for a network that has a path', route('10.30.0.0/16', { dev: '', reject: true }), /only where the host has no path/],
  ['a reject route for all of IPv4', route('0.0.0.0/1', { reject: true }), /only where the host has no path/],
  ['a network not written canonically', route('fd00:0::/64'), /write fd00:0::\/64 as fd00::\/64/],
  ['a network with host bits', route('10.20.1.0/16'), /is not a network/],
  ['no network at all', route('not-a-cidr'), /is not a network/],
  [
    'an undo that is not the inverse (deleting another route)',
    step({ side: 'local', op: 'route-add', dev: 'cb-stg', cidr: '10.20.0.0/16' }, { side: 'local', op: 'route-del', dev: 'eth0', cidr: '0.0.0.0/0' }),
    /exact inverse/,
  ],
  ['a route deletion asked as a change', step({ side: 'local', op: 'route-del', dev: 'eth0', cidr: '0.0.0.0/0' }, null), /route-del is an undo/],
  [
    'a rule outside the template (ACCEPT)',
    step({ side: 'local', op: 'iptables', table: 'filter', argv: ['-A', 'INPUT', '-j', 'ACCEPT'] }, null),
    /only MASQUERADE/,
  ],
  ['masquerade out of eth0', masq('eth0'), /eth0 is not this connection's device/],
  ['masquerade tagged for another environment', masq('cb-stg', 'cloudbridge:prod'), /only MASQUERADE/],
  [
    'resolved on eth0',
    step({ side: 'local', op: 'resolvectl', argv: ['dns', 'eth0', '10.99.0.2'] }, { side: 'local', op: 'resolvectl', argv: ['revert', 'eth0'] }),
    /eth0 is not this connection's device/,
  ],
  ['a resolvectl verb outside dns and domain', step({ side: 'local', op: 'resolvectl', argv: ['flush-caches', 'cb-stg'] }, null), /only dns and domain/],
  [
    'a resolved server that is not an address',
    step({ side: 'local', op: 'resolvectl', argv: ['dns', 'cb-stg', '$(reboot)'] }, { side: 'local', op: 'resolvectl', argv: ['revert', 'cb-stg'] }),
    /must be IP addresses/,
  ],
  [
    'resolv.conf naming another server',
    step({ side: 'local', op: 'resolv-conf', content: 'nameserver 6.6.6.6\n', symlink: undefined }, null),
    /"nameserver 6\.6\.6\.6" is not the forwarder's/,
  ],
  [
    'resolv.conf with a line the file does not have',
    step({ side: 'local', op: 'resolv-conf', content: 'nameserver 127.0.0.153\nsearch evil.example\n', symlink: undefined }, null),
    /"search evil\.example"/,
  ],
  [
    'resolv.conf whose undo restores other content',
    step(
      { side: 'local', op: 'resolv-conf', content: 'nameserver 127.0.0.153\n', symlink: undefined },
      { side: 'local', op: 'resolv-conf', content: 'nameserver 6.6.6.6\n', symlink: undefined },
    ),
    /exact inverse/,
  ],
  ['an MTU out of range', step({ side: 'local', op: 'link-up', dev: 'cb-stg', mtu: 70000 }, null), /out of range/],
  [
    'macOS resolver files on Linux',
    step({ side: 'local', op: 'resolver-add', domain: 'corp.internal', servers: ['10.0.0.2'] }, { side: 'local', op: 'resolver-del', domain: 'corp.internal' }),
    /macOS only/,
  ],
];
for (const [what, s, why] of refused) {
  test(`refused: ${what}`, async (t) => {
    const e = await t.throwsAsync(policy().check(s), { instanceOf: HelperError });
    t.regex(e!.message, why);
  });
}

test("macOS: resolver files for domains only, a service's DNS restored to what it has now", async (t) => {
  const p = policy('darwin');
  await t.notThrowsAsync(
    p.check(
      step(
        { side: 'local', op: 'resolver-add', domain: 'corp.internal', servers: ['10.0.0.2'] },
        { side: 'local', op: 'resolver-del', domain: 'corp.internal' },
      ),
    ),
  );
  await t.throwsAsync(
    p.check(
      step(
        { side: 'local', op: 'resolver-add', domain: '../../etc/passwd', servers: ['10.0.0.2'] },
        { side: 'local', op: 'resolver-del', domain: '../../etc/passwd' },
      ),
    ),
    { message: /is not a domain/ },
  );
  await t.notThrowsAsync(
    p.check(
      step(
        { side: 'local', op: 'service-dns', service: 'Wi-Fi', servers: ['10.0.0.2'] },
        { side: 'local', op: 'service-dns', service: 'Wi-Fi', servers: ['192.168.1.1'] },
      ),
    ),
  );
  await t.throwsAsync(
    p.check(
      step(
        { side: 'local', op: 'service-dns', service: 'Wi-Fi', servers: ['10.0.0.2'] },
        { side: 'local', op: 'service-dns', service: 'Wi-Fi', servers: ['6.6.6.6'] },
      ),
    ),
    { message: /exact inverse/ },
  );
  await t.throwsAsync(p.check(step({ side: 'local', op: 'service-dns', service: 'Nope', servers: ['10.0.0.2'] }, null)), {
    message: /no network service Nope/,
  });
});

// undos by title, newest first, are the session's (it undoes what its journal holds): helperSession.test.ts
test('states: hello once and first, one tun device and only its own name', async (t) => {
  const p = new Policy(kernel, 'linux');
  t.throws(() => p.tunName('cb-stg'), { message: /say hello first/ });
  t.throws(() => p.hello('../etc'), { message: /not an environment name/ });
  p.hello('stg');
  t.throws(() => p.hello('prod'), { message: /hello comes once/ });
  t.throws(() => p.tunName('cb-prod'), { message: /the tun device of stg is cb-stg/ });
  p.adopt(p.tunName('cb-stg'));
  t.throws(() => p.tunName('cb-stg'), { message: /open already/ });
  const mac = new Policy(kernel, 'darwin');
  mac.hello('stg');
  t.is(mac.tunName('utun'), '', 'the next free utun');
  t.is(mac.tunName('utun7'), 'utun7', 'the unit the config names');
  t.throws(() => mac.tunName('en0'), { message: /a utun device, not en0/ });
  t.throws(() => mac.tunName('/dev/x'), { message: /a utun device/ });
});

test('bind: port 53 on an address of this host only', async (t) => {
  const p = policy();
  await t.notThrowsAsync(p.checkBind('172.17.0.1'));
  await t.throwsAsync(p.checkBind('0.0.0.0'), { message: /0\.0\.0\.0 is not an address of this host/ });
  await t.throwsAsync(p.checkBind('/run/docker.sock'), { message: /is not an address/ });
  await t.throwsAsync(new Policy(kernel, 'linux').checkBind('172.17.0.1'), { message: /say hello first/ });
});

test('requests: exact shapes only', (t) => {
  t.deepEqual(parseRequest('{"op":"hello","env":"stg"}'), { op: 'hello', env: 'stg' } satisfies Request);
  for (const [line, why] of [
    ['', /not JSON/],
    ['[]', /must be an object/],
    ['{"op":"format-disk"}', /unknown request "format-disk"/],
    ['{"op":"hello"}', /missing "env"/],
    ['{"op":"hello","env":"stg","sudo":true}', /unexpected "sudo"/],
    ['{"op":"hello","env":7}', /"env" must be a string/],
    ['{"op":"hello","env":"a\\u0000b"}', /control characters/],
    ['{"op":"step","step":{"title":"x","apply":{"side":"remote","argv":["reboot"]},"undo":null}}', /only this host's network actions/],
    [
      '{"op":"step","step":{"title":"x","apply":{"side":"local","op":"context-create","name":"x","host":"h","owner":{}},"undo":null}}',
      /unknown action "context-create"/,
    ],
    ['{"op":"step","step":{"title":"x","apply":{"side":"local","op":"link-up","dev":"cb-stg","mtu":1.5},"undo":null}}', /"mtu" must be an integer/],
    ['{"op":"bind","addr":"172.17.0.1","proto":"sctp"}', /udp or tcp/],
    [`{"op":"hello","env":"${'x'.repeat(70000)}"}`, /longer than/],
  ] as const) {
    t.throws(() => parseRequest(line), { instanceOf: HelperError, message: why }, line.slice(0, 60));
  }
});

test('fuzz: any line is a request or a HelperError; any step is judged or refused, never a crash', async (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc.jsonValue().map((v) => JSON.stringify({ op: 'step', step: v })),
      ),
      (line) => {
        try {
          parseRequest(line);
        } catch (err) {
          if (!(err instanceof HelperError)) throw err;
        }
      },
    ),
    { numRuns: 3000 },
  );
  const word = fc.constantFrom('cb-stg', 'eth0', '', '10.20.0.0/16', '::/1', '127.0.0.153', '~.', 'dns', 'domain', '-A', 'nat', 'x'.repeat(300));
  const action = fc.record({
    side: fc.constant('local'),
    op: fc.constantFrom('addr-add', 'link-up', 'route-add', 'iptables', 'resolvectl', 'resolv-conf', 'resolver-add', 'service-dns', 'route-del'),
    dev: word,
    cidr: word,
    local: word,
    peer: word,
    mtu: fc.integer(),
    argv: fc.array(word, { maxLength: 12 }),
    table: word,
    content: fc.string(),
    domain: word,
    service: word,
    servers: fc.array(word, { maxLength: 3 }),
  });
  await fc.assert(
    fc.asyncProperty(action, fc.option(action), async (apply, undo) => {
      try {
        await policy().check({ title: 'f', apply: apply as unknown as NetAction, undo: undo as unknown as NetAction | null });
      } catch (err) {
        if (!(err instanceof HelperError)) throw err;
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
