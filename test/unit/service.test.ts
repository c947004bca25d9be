import test from 'ava';
import * as plist from 'plist';
import { helperLaunchdPlist, helperSystemdUnit, launchdLabel, launchdPlist, systemdUnit, systemdUnitName } from '../../src/service/units.js';

const spec = {
  env: 'stg',
  host: 'bastion.example.test',
  node: '/usr/bin/node',
  cli: '/opt/cloud bridge/dist/src/cli/main.js',
  config: '/home/dev/.config/cloudbridge/config.yaml',
  user: { name: 'dev', uid: 1000, gid: 1000, home: '/home/dev' },
};

test('systemd unit: foreground controller, restart on failure, cleanup after, the user kept', (t) => {
  const unit = systemdUnit(spec);
  t.true(
    unit.includes(
      '\nExecStart=/usr/bin/node "/opt/cloud bridge/dist/src/cli/main.js" connect stg --config /home/dev/.config/cloudbridge/config.yaml --foreground\n',
    ),
  );
  t.true(
    unit.includes('\nExecStopPost=-/usr/bin/node "/opt/cloud bridge/dist/src/cli/main.js" cleanup stg --config /home/dev/.config/cloudbridge/config.yaml\n'),
  );
  t.true(unit.includes('\nRestart=on-failure\nRestartSec=5\n'));
  t.true(unit.includes('\nEnvironment=SUDO_USER=dev SUDO_UID=1000 SUDO_GID=1000\n'));
  t.true(unit.includes('\n[Install]\nWantedBy=multi-user.target\n'));
});

test('launchd plist: the same command as an argument array, XML-escaped, kept alive on failure', (t) => {
  const plist = launchdPlist({ ...spec, config: '/c<1>&2.yaml' });
  t.true(plist.includes('<string>dev.cloudbridge.stg</string>'));
  t.true(
    plist.includes(
      '    <string>/opt/cloud bridge/dist/src/cli/main.js</string>\n    <string>connect</string>\n    <string>stg</string>\n    <string>--config</string>\n    <string>/c&lt;1&gt;&amp;2.yaml</string>\n    <string>--foreground</string>\n',
    ),
  );
  t.true(plist.includes('<key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>'));
});

test('launchd plist: a property list plutil -lint would take (parsed by an independent plist parser), with launchd.plist(5) keys and types', (t) => {
  const text = launchdPlist({ ...spec, config: '/c<1>&2.yaml' });
  const parsed = plist.parse(text) as Record<string, plist.PlistValue>;
  t.deepEqual(parsed, {
    Label: 'dev.cloudbridge.stg',
    ProgramArguments: ['/usr/bin/node', '/opt/cloud bridge/dist/src/cli/main.js', 'connect', 'stg', '--config', '/c<1>&2.yaml', '--foreground'],
    EnvironmentVariables: { SUDO_USER: 'dev', SUDO_UID: '1000', SUDO_GID: '1000' },
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: 5,
    StandardErrorPath: '/var/log/cloudbridge-stg.log',
  });
  t.true(
    text.startsWith(
      '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n',
    ),
  );
  // and what it builds from that object is the same document, give or take whitespace
  t.is(plist.build(parsed).replace(/\s+/g, ''), text.replace(/\s+/g, ''));
});

test('a control character in any word of a unit or plist is refused, not escaped into it', (t) => {
  for (const bad of [{ host: 'h.example\nExecStartPre=/bin/sh -c id' }, { config: '/c.yaml\rX' }, { user: { ...spec.user, name: 'dev\u001b[2J' } }]) {
    for (const make of [systemdUnit, launchdPlist]) {
      t.throws(() => make({ ...spec, ...bad }), { message: /has a control character; refusing to write it into a unit$/ });
    }
  }
  t.throws(() => systemdUnitName('../../../etc/x'), { message: /is not an environment name/ });
  t.throws(() => launchdLabel('a/b'), { message: /is not an environment name/ });
});

test("the installed helper's service: root, the group's socket, restarted; a group name is a name", (t) => {
  const helper = { node: '/usr/bin/node', helper: '/opt/cloud bridge/dist/bundle/helper.js', socket: '/run/cloudbridge/helper.sock', group: 'cloudbridge' };
  const unit = helperSystemdUnit(helper);
  t.true(unit.includes('\nExecStart=/usr/bin/node "/opt/cloud bridge/dist/bundle/helper.js" --listen /run/cloudbridge/helper.sock --group cloudbridge\n'));
  t.true(unit.includes('\nRestart=on-failure\n'));
  t.false(unit.includes('User='), 'root');
  const parsed = plist.parse(helperLaunchdPlist({ ...helper, socket: '/var/run/cloudbridge/helper.sock' })) as {
    Label: string;
    ProgramArguments: string[];
    KeepAlive: boolean;
  };
  t.is(parsed.Label, 'dev.cloudbridge.helper');
  t.deepEqual(parsed.ProgramArguments, [
    '/usr/bin/node',
    '/opt/cloud bridge/dist/bundle/helper.js',
    '--listen',
    '/var/run/cloudbridge/helper.sock',
    '--group',
    'cloudbridge',
  ]);
  t.true(parsed.KeepAlive);
  for (const group of ['wheel\nExecStartPre=/bin/sh', 'Admins', '../x', ''])
    t.throws(() => helperSystemdUnit({ ...helper, group }), { message: /not a group name/ });
  t.throws(() => helperSystemdUnit({ ...helper, helper: '/x\n/y' }), { message: /control character/ });
});
