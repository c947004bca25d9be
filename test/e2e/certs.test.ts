import fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { cli, labDown, labUp, leftovers, run, variantConfig, type Lab } from './helpers.js';

// Host certificates against a real sshd: the lab's host key signed by a CA made here with
// ssh-keygen, served through HostCertificate by extra sshds in the remote namespace (one
// valid, one expired, one for another name), and known_hosts files that hold only the CA.

let lab: Lab;
let caPub: string;
const extra: string[] = [];

async function sshdWithCert(port: number, signOpts: string[]): Promise<void> {
  const d = lab.dir;
  fs.copyFileSync(`${d}/ssh_host_ed25519_key.pub`, `${d}/hostkey-${port}.pub`);
  const s = await run('ssh-keygen', ['-q', '-s', `${d}/host_ca`, '-I', `cb-${port}`, '-h', ...signOpts, `${d}/hostkey-${port}.pub`]);
  if (s.exitCode !== 0) throw new Error(`ssh-keygen -s: ${s.stderr}`);
  const config = fs
    .readFileSync(`${d}/sshd_config_tun`, 'utf8')
    .replace(/^Port .*/m, `Port ${port}`)
    .replace(/^PidFile .*/m, `PidFile ${d}/sshd-${port}.pid`)
    .concat(`HostCertificate ${d}/hostkey-${port}-cert.pub\n`);
  fs.writeFileSync(`${d}/sshd_config_${port}`, config);
  const started = await run('ip', ['netns', 'exec', lab.remoteNs, '/usr/sbin/sshd', '-f', `${d}/sshd_config_${port}`, '-E', `${d}/sshd_${port}.log`]);
  if (started.exitCode !== 0) throw new Error(`sshd: ${started.stderr}`);
  extra.push(`${d}/sshd-${port}.pid`);
  for (let i = 0; i < 50; i++) {
    if ((await run('ip', ['netns', 'exec', lab.remoteNs, 'bash', '-c', `exec 3<>/dev/tcp/${lab.net}.0.2/${port}`])).exitCode === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sshd on ${port} did not start`);
}

test.before(async () => {
  lab = await labUp('cbc', 224);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cloudbridge test host CA', '-f', `${lab.dir}/host_ca`]);
  caPub = fs.readFileSync(`${lab.dir}/host_ca.pub`, 'utf8').trim();
  await sshdWithCert(2222, ['-n', `${lab.net}.0.2`, '-V', '-5m:+1h']);
  await sshdWithCert(2223, ['-n', `${lab.net}.0.2`, '-V', '20200101:20200102']);
  await sshdWithCert(2224, ['-n', 'some-other-host.example', '-V', '-5m:+1h']);
});

test.after.always(async () => {
  for (const pidFile of extra) {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (pid) process.kill(pid, 'SIGTERM');
  }
  if (lab) await labDown(lab);
});

/** The lab's environment on `port`, trusting the host only through `knownHosts` (written beside the lab). */
function viaCa(port: number, knownHosts: string): string {
  fs.writeFileSync(`${lab.dir}/known_hosts_ca_${port}`, knownHosts);
  return variantConfig(lab, `ca-${port}.yaml`, [
    [`knownHostsFile: ${lab.dir}/known_hosts`, `knownHostsFile: ${lab.dir}/known_hosts_ca_${port}\n    port: ${port}`],
  ]);
}

async function refused(t: ExecutionContext, cfg: string, cause: RegExp): Promise<void> {
  const r = await cli(['connect', 'cbc', '--config', cfg]);
  t.not(r.exitCode, 0);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, cause);
  t.deepEqual(await leftovers(lab), []);
}

test.serial('a host known only through @cert-authority: its certificate is asked for, checked, and the tunnel comes up', async (t) => {
  const cfg = viaCa(2222, `@cert-authority [${lab.net}.0.2]:* ${caPub}\n`);
  const up = await cli(['connect', 'cbc', '--config', cfg]);
  t.is(up.exitCode, 0, up.stderr);
  t.is((await run('ping', ['-c', '1', '-W', '2', `${lab.net}.1.2`])).exitCode, 0);
  t.is((await cli(['disconnect', 'cbc'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
  t.regex(fs.readFileSync(`${lab.dir}/sshd_2222.log`, 'utf8'), /Accepted publickey for root/);
});

test.serial('an expired host certificate is refused, in one line that says so', async (t) => {
  await refused(
    t,
    viaCa(2223, `@cert-authority [${lab.net}.0.2]:* ${caPub}\n`),
    /^cloudbridge: host certificate for \[10\.224\.0\.2\]:2223 \(.*id "cb-2223".*\): Certificate invalid: expired; refusing to connect$/,
  );
});

test.serial('a host certificate for another name is refused', async (t) => {
  await refused(t, viaCa(2224, `@cert-authority [${lab.net}.0.2]:* ${caPub}\n`), /Certificate invalid: name is not a listed principal; refusing to connect$/);
});

test.serial('a @revoked CA is refused although a @cert-authority line trusts it', async (t) => {
  await refused(t, viaCa(2222, `@cert-authority [${lab.net}.0.2]:* ${caPub}\n@revoked * ${caPub}\n`), /its CA \(ssh-ed25519 SHA256:[^)]+\) is marked @revoked/);
});

test.serial('with no CA for the host, no certificate is asked for: the plain key is judged as before', async (t) => {
  await refused(t, viaCa(2222, ''), /^cloudbridge: host key for \[10\.224\.0\.2\]:2222 \(ssh-ed25519 SHA256:[^)]+\) is not in /);
});
