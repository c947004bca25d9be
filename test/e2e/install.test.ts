import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { MODE, asActor, labDown, labUp, leftovers, makeTestUser, ROOT, run, userCopy, type Lab, removeTestFiles } from './helpers.js';

// cloudbridge as a user installs it: `npm pack`, then `npm install -g` of the
// tarball into a prefix of its own, with --ignore-scripts and no compiler,
// make or python on PATH. The installed copy must run from its prebuilt addon
// alone (and ssh2 without its compiled binding), and really connect.

const NAME = 'cbinst';
let lab: Lab;
let tmp: string;
let tarball: string;
let prefix: string;
let installed: string;

test.before(async () => {
  lab = await labUp('cbi', 223);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-install-'));
  fs.chmodSync(tmp, 0o755); // the sudo case's user runs the installed copy
  const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], {});
  if (packed.exitCode !== 0) throw new Error(`npm pack: ${packed.stderr}`);
  tarball = path.join(tmp, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
  // PATH with node and npm only: no cc, gcc, make or python for anything to fall back on
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const npmCli = path.join(path.dirname(path.dirname(fs.realpathSync(process.execPath))), 'lib/node_modules/npm/bin/npm-cli.js');
  fs.symlinkSync(npmCli, path.join(bin, 'npm'));
  prefix = path.join(tmp, 'prefix');
  const inst = await run(
    path.join(bin, 'npm'),
    ['install', '-g', '--prefix', prefix, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball],
    { PATH: bin },
  );
  if (inst.exitCode !== 0) throw new Error(`npm install: ${inst.stderr}`);
  installed = path.join(prefix, 'bin', 'cloudbridge');
});

test.after.always(async () => {
  if (lab) await labDown(lab);
  await run('userdel', ['-r', NAME]);
  fs.rmSync('/etc/sudoers.d/cloudbridge-test', { force: true });
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  removeTestFiles('cbi');
});

test.serial('the tarball holds what runs and nothing else', async (t) => {
  const list = (await run('tar', ['-tzf', tarball])).stdout.trim().split('\n').sort();
  const allowed = [
    /^package\/(package\.json|README\.md|LICENSE|config\.schema\.json)$/,
    /^package\/dist\/bundle\/[\w-]+\.c?js$/,
    /^package\/dist\/bundle\/chunks\/[\w-]+\.m?js$/,
    /^package\/native\/binding\.gyp$/,
    /^package\/native\/src\/\w+\.[ch]$/,
    /^package\/native\/prebuilds\/(linux|darwin)-(x64|arm64)\/cloudbridge_tun\.napi(\.glibc)?\.node$/,
    /^package\/scripts\/install-native\.mjs$/,
    /^package\/man\/cloudbridge\.1$/,
    /^package\/docs\/[\w-]+\.md$/,
  ];
  t.deepEqual(
    list.filter((f) => !allowed.some((re) => re.test(f))),
    [],
  );
  for (const target of ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64']) {
    t.true(
      list.some((f) => f.startsWith(`package/native/prebuilds/${target}/`)),
      target,
    );
  }
  t.true(list.includes('package/config.schema.json'), 'the schema init points editors at');
  t.true(list.includes('package/man/cloudbridge.1'), 'the manual page');
  t.true(list.includes('package/docs/config-reference.md'), 'the docs the README links to');
  t.true(list.length < 200, `${list.length} files`); // the bundle splits into ~50 chunks; hundreds would mean node_modules crept in
});

test.serial('installed with --ignore-scripts and no compiler: it answers, plans and uses the prebuilt addon', async (t) => {
  const pkg = path.join(prefix, 'lib/node_modules/cloudbridge');
  t.false(fs.existsSync(path.join(pkg, 'native/build')), 'nothing was compiled');
  t.false(fs.existsSync(path.join(pkg, 'node_modules/ssh2/lib/protocol/crypto/build')), "ssh2's binding was not built either");
  // npm links the manual page where man finds it under the prefix: `man cloudbridge` after a global install
  t.true(fs.existsSync(path.join(prefix, 'share/man/man1/cloudbridge.1')), 'npm linked the manual page');
  const man = await run('man', ['-M', path.join(prefix, 'share/man'), 'cloudbridge'], { MANPAGER: 'cat', MANWIDTH: '80' });
  t.is(man.exitCode, 0, man.stderr);
  t.regex(man.stdout, /cloudbridge - a Layer-3 VPN over SSH/);
  const version = await run(installed, ['--version'], { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` });
  t.is(version.stdout.trim(), JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  const plan = await asActor(installed, ['connect', 'cbi', '--config', lab.config, '--dry-run']);
  t.is(plan.exitCode, 0, plan.stderr);
  t.regex(plan.stdout, /ip route add 10\.223\.9\.0\/24 dev cb-cbi/);
});

test.serial('the installed copy connects for real, on the C path both ways, and leaves nothing behind', async (t) => {
  // as the suite's mode runs it: root, or its user through sudo or the installed helper
  const up = await asActor(installed, ['connect', 'cbi', '--config', lab.config, '--json']);
  t.is(up.exitCode, 0, up.stderr);
  const status = JSON.parse(up.stdout) as { datapath: { outbound: string; inbound: string } };
  t.deepEqual(status.datapath, { outbound: 'c', inbound: 'c' });
  const ping = await run('ping', ['-c', '1', '-W', '2', `${lab.net}.1.2`]);
  t.is(ping.exitCode, 0);
  t.is((await asActor(installed, ['disconnect', 'cbi'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

// the sudo path: where the installed helper listens (helper mode), a user outside its group is told to use sudo instead
(MODE === 'helper' ? test.serial.skip : test.serial)(
  "a user whose Node is not on sudo's path (nvm, fnm, volta) types `cloudbridge connect` and it asks sudo itself",
  async (t) => {
    const user = await makeTestUser(NAME);
    // Node where nvm puts it, and cloudbridge beside it, as `npm install -g` with that Node does
    const nodeBin = `/home/${NAME}/.nvm/versions/node/${process.version}/bin`;
    fs.mkdirSync(nodeBin, { recursive: true });
    fs.copyFileSync(process.execPath, path.join(nodeBin, 'node'));
    fs.chmodSync(path.join(nodeBin, 'node'), 0o755);
    fs.symlinkSync(path.join(prefix, 'lib/node_modules/cloudbridge/dist/bundle/cloudbridge.js'), path.join(nodeBin, 'cloudbridge'));
    await run('chown', ['-R', `${user.uid}:${user.gid}`, `/home/${NAME}/.nvm`]);
    fs.writeFileSync('/etc/sudoers.d/cloudbridge-test', `${NAME} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
    const cfg = userCopy(lab, `/home/${NAME}/lab`, user);
    const asUser = (args: string[]): ReturnType<typeof run> =>
      run('runuser', [
        '-u',
        NAME,
        '--',
        'env',
        '-i',
        `HOME=/home/${NAME}`,
        `PATH=${nodeBin}:/usr/bin:/bin`,
        `CLOUDBRIDGE_CONFIG=${cfg}`,
        'cloudbridge',
        ...args,
      ]);
    // `sudo cloudbridge` would not find it: sudo's secure_path has no ~/.nvm
    const plain = await run('runuser', ['-u', NAME, '--', 'env', '-i', `PATH=${nodeBin}:/usr/bin:/bin`, 'sudo', 'cloudbridge', '--version']);
    t.not(plain.exitCode, 0);
    const up = await asUser(['connect', 'cbi']);
    t.is(up.exitCode, 0, up.stderr);
    t.is((await run('ip', ['link', 'show', 'cb-cbi'])).exitCode, 0, 'the tunnel is up');
    const down = await asUser(['disconnect', 'cbi']);
    t.is(down.exitCode, 0, down.stderr);
    t.deepEqual(await leftovers(lab), []);
  },
);
