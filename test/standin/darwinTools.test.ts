import { execFileSync, spawn } from 'node:child_process';
import readline from 'node:readline';
import test from 'ava';
import { DarwinNet } from '../../src/platform/darwin/net.js';
import { darwinStandIn } from './darwinSetup.js';

// The stand-in macOS (test/standin/darwin) says what Apple's tools and XNU
// say: one test per behaviour, each citing the source file and function it
// was written from (network_cmds route.tproj/route.c, netstat.tproj/route.c,
// ifconfig.tproj/ifconfig.c; xnu bsd/net/route.c, bsd/netinet6/in6.c and
// in6_ifattach.c). A behaviour our code got wrong on a real Mac would fail
// here before it failed there.

const { sh, utun, done } = darwinStandIn();
const net = new DarwinNet();
const said = (cmd: string): string => execFileSync('sh', ['-c', `${cmd} 2>&1; echo "exit $?"`], { encoding: 'utf8' });

test.after.always(done);

test.serial('stand-in: a bare address with a zero host part is a network to route(8), unless -host (route.c getaddr, forcehost)', (t) => {
  sh('route', '-n', 'add', '-net', '192.168.4.0/23', '192.168.1.99');
  try {
    // asked as the classful network 192.168.5.0/24: no such route, so XNU answers with the best less specific one
    t.regex(sh('route', '-n', 'get', '192.168.5.0'), /destination: default\n[\s\S]*gateway: 192\.168\.1\.1\n/);
    t.regex(sh('route', '-n', 'get', '-host', '192.168.5.0'), /destination: 192\.168\.4\.0\n\s+mask: 255\.255\.254\.0\n\s+gateway: 192\.168\.1\.99\n/);
  } finally {
    sh('route', '-n', 'delete', '-net', '192.168.4.0/23');
  }
});

test.serial('stand-in: XNU deletes a route by destination and mask, whatever -interface names (rtrequest_locked)', (t) => {
  utun('open', 11);
  utun('open', 12);
  try {
    sh('route', '-n', 'add', '-net', '10.61.0.0/16', '-interface', 'utun12');
    t.regex(sh('route', '-n', 'delete', '-net', '10.61.0.0/16', '-interface', 'utun11'), /^delete net 10\.61\.0\.0: gateway utun11\n/);
    t.notRegex(sh('netstat', '-rn'), /10\.61/, "utun12's route went");
  } finally {
    utun('close', 11);
    utun('close', 12);
  }
});

test.serial("stand-in: route -inet6 names a missing -interface as getaddrinfo does, exit 1 (route.c getaddr's AF_INET6 path)", (t) => {
  const said = execFileSync('sh', ['-c', 'route -n delete -inet6 -net fd00:61::/64 -interface utun13 2>&1; echo "exit $?"'], { encoding: 'utf8' });
  t.is(said, 'utun13: nodename nor servname provided, or not known\nexit 1\n');
  t.regex(
    execFileSync('sh', ['-c', 'route -n delete -net 10.61.0.0/16 -interface utun13 2>&1; echo "exit $?"'], { encoding: 'utf8' }),
    /bad address: utun13\nexit 68\n/,
  );
});

test.serial('stand-in: IPv6 deletes by destination and mask too, whatever -interface names (rtrequest_locked)', (t) => {
  utun('open', 22);
  utun('open', 23);
  try {
    sh('route', '-n', 'add', '-inet6', '-net', 'fd00:63::/64', '-interface', 'utun23');
    t.regex(sh('route', '-n', 'delete', '-inet6', '-net', 'fd00:63::/64', '-interface', 'utun22'), /^delete net fd00:63::\/64: gateway utun22\n/);
    t.notRegex(sh('netstat', '-rn', '-f', 'inet6'), /fd00:63::/, "utun23's route went");
  } finally {
    utun('close', 22);
    utun('close', 23);
  }
});

test.serial("stand-in: add and delete print an IPv4 destination cut at its '/', IPv6 whole, and default as the word (route.c getaddr, newroute)", (t) => {
  utun('open', 21);
  try {
    t.is(sh('route', '-n', 'add', '-net', '10.62.0.0/16', '-interface', 'utun21'), 'add net 10.62.0.0: gateway utun21\n');
    t.is(sh('route', '-n', 'delete', '-net', '10.62.0.0/16', '-interface', 'utun21'), 'delete net 10.62.0.0: gateway utun21\n');
    t.is(sh('route', '-n', 'add', '-inet6', '-net', 'fd00:62::/64', '-interface', 'utun21'), 'add net fd00:62::/64: gateway utun21\n');
    t.is(sh('route', '-n', 'delete', '-inet6', '-net', 'fd00:62::/64', '-interface', 'utun21'), 'delete net fd00:62::/64: gateway utun21\n');
    t.is(
      said('route -n add default 192.168.1.1'),
      'route: writing to routing socket: File exists\nadd net default: gateway 192.168.1.1: File exists\nexit 0\n',
    );
  } finally {
    utun('close', 21);
  }
});

test.serial(
  "stand-in: a utun's first IPv6 address brings a link-local, its IID borrowed from en0's EUI-64 (in6_ifattach_aliasreq, in6_select_iid_from_all_hw)",
  async (t) => {
    utun('open', 20);
    try {
      sh('ifconfig', 'utun20', 'inet6', 'fd00:20::1', 'fd00:20::2', 'prefixlen', '128', 'alias');
      sh('ifconfig', 'utun20', 'inet6', 'fd00:20::3', 'prefixlen', '128', 'alias');
      const shown = /utun20: [^\n]*\n((?:\t[^\n]*\n)*)/.exec(sh('ifconfig'))![1]!;
      // en0's ether 3c:22:fb:12:34:56, the U/L bit flipped: 3e22:fbff:fe12:3456; one link-local however many addresses follow
      t.regex(
        shown,
        /^\tinet6 fe80::3e22:fbff:fe12:3456%utun20 prefixlen 64 scopeid 0x[0-9a-f]+ \n\tinet6 fd00:20::1 --> fd00:20::2 prefixlen 128 \n\tinet6 fd00:20::3 prefixlen 128 \n$/,
      );
      t.regex(sh('netstat', '-rn', '-f', 'inet6'), /\nfe80::%utun20\/64 +link#\d+ +UCI +utun20\n/);
      // what our side makes of it: an address on the device, no network of ours
      t.deepEqual(await net.addressesOn('utun20'), ['fe80::3e22:fbff:fe12:3456', 'fd00:20::1', 'fd00:20::3']);
      t.false((await net.networks6()).some((n) => n.dev === 'utun20' && n.cidr.startsWith('fe80')));
    } finally {
      utun('close', 20);
    }
  },
);

test.serial(
  "stand-in: netstat -rn -f inet6's columns: 39 wide with -n, Flags 10, Netif 14 right-aligned (netstat route.c: WID_DST, pr_rthdr, p_rtentry)",
  (t) => {
    const lines = sh('netstat', '-rn', '-f', 'inet6').split('\n');
    t.is(lines[3], `${'Destination'.padEnd(39)} ${'Gateway'.padEnd(39)} ${'Flags'.padEnd(10)} ${'Netif'.padStart(14)} Expire`);
    t.is(
      lines.find((l) => l.startsWith('default')),
      `${'default'.padEnd(39)} ${'fe80::1%en0'.padEnd(39)} ${'UGcg'.padEnd(10)} ${'en0'.padStart(14)}`,
    );
  },
);

test.serial('stand-in: deleting an address that is not there, either family: ifconfig\'s Perror("ioctl (SIOCDIFADDR)"), exit 1 (ifconfig.c setifaddr)', (t) => {
  utun('open', 24);
  try {
    t.is(said('ifconfig utun24 inet 10.64.0.1 -alias'), "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\nexit 1\n");
    t.is(said('ifconfig utun24 inet6 fd00:64::1 -alias'), "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\nexit 1\n");
  } finally {
    utun('close', 24);
  }
});

test.serial("stand-in: route -n monitor prints each change as route.c's monitor() does, flushed as it comes", async (t) => {
  utun('open', 25);
  const child = spawn('route', ['-n', 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines: string[] = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => void lines.push(l));
  try {
    await new Promise((r) => setTimeout(r, 300));
    sh('route', '-n', 'add', '-net', '10.65.0.0/16', '-interface', 'utun25');
    for (let i = 0; i < 60 && !lines.some((l) => l.startsWith('RTM_ADD')); i++) await new Promise((r) => setTimeout(r, 50));
    t.regex(
      lines.join('\n'),
      /\ngot message of size 132 on \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\nRTM_ADD: Add Route: len 132, pid: 0, seq 0, errno 0, flags:<UP,DONE,STATIC>/,
    );
  } finally {
    child.kill();
    utun('close', 25);
  }
});
