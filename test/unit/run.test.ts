import test from 'ava';
import { UserError } from '../../src/util/errors.js';
import { dockerRunArgs, proxyVars } from '../../src/cli/run.js';

const needs = {
  proxyForBridge: 'socks5h://172.17.0.1:1080',
  proxyForHost: 'socks5h://127.0.0.1:1080',
  dns: '172.17.0.1',
  hosts: { 'web.stg.docker': '10.0.20.2' },
};
const env = (url: string): string[] => Object.entries(proxyVars(url)).flatMap(([k, v]) => ['--env', `${k}=${v}`]);

test("run: what a container needs goes right after run, the user's arguments after it", (t) => {
  const { args, warnings } = dockerRunArgs(['docker', '-H', 'unix:///x.sock', 'run', '--rm', '-e', 'A=1', 'hashicorp/terraform', 'plan'], needs);
  t.deepEqual(args, [
    'docker',
    '-H',
    'unix:///x.sock',
    'run',
    ...env(needs.proxyForBridge),
    '--dns',
    '172.17.0.1',
    '--add-host',
    'web.stg.docker:10.0.20.2',
    '--rm',
    '-e',
    'A=1',
    'hashicorp/terraform',
    'plan',
  ]);
  t.deepEqual(warnings, []);
  t.is(dockerRunArgs(['docker', 'container', 'create', 'img'], needs).args[2], 'create');
});

test("run: host networking gets the loopback proxy and keeps the host's DNS", (t) => {
  for (const net of [['--network', 'host'], ['--net=host'], ['--network=host']]) {
    const { args } = dockerRunArgs(['docker', 'run', ...net, 'img'], needs);
    t.true(args.includes('ALL_PROXY=socks5h://127.0.0.1:1080'), net.join(' '));
    t.false(args.includes('--dns'));
  }
});

test('run: a proxy only on loopback is a warning for bridge containers, not a broken variable', (t) => {
  const { args, warnings } = dockerRunArgs(['docker', 'run', 'img'], { ...needs, proxyForBridge: undefined });
  t.false(args.some((a) => a.startsWith('ALL_PROXY')));
  t.regex(warnings[0]!, /docker0:PORT/);
});

test('run: anything but docker run/create is refused', (t) => {
  for (const argv of [['docker', 'ps'], ['podman', 'run', 'x'], ['docker', 'image', 'run'], []]) {
    t.throws(() => dockerRunArgs(argv, needs), { instanceOf: UserError, message: /run wraps docker run or docker create/ }, argv.join(' '));
  }
});

test('proxy variables: both spellings, and NO_PROXY for loopback', (t) => {
  const v = proxyVars('socks5h://h:1');
  t.is(v['https_proxy'], 'socks5h://h:1');
  t.is(v['NO_PROXY'], 'localhost,127.0.0.1,::1');
  t.true(Object.values(proxyVars(undefined)).every((x) => x === undefined));
});
