import fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { asActor, cli, labDown, labUp, leftovers, run, variantConfig, type Lab, removeTestFiles, own } from './helpers.js';

// Host certificates against a real sshd: the lab's host key signed by a CA made here with
// ssh-keygen, served through HostCertificate by extra sshds in the remote namespace (one
// valid, one expired, one for another name), and known_hosts files that hold only the CA.

let lab: Lab;
let caPub: string;
const extra: string[] = [];

async function sshdWithCert(port: number, signOpts: string[], extraConfig = ''): Promise<void> {
  const d = lab.dir;
  fs.copyFileSync(`${d}/ssh_host_ed25519_key.pub`, `${d}/hostkey-${port}.pub`);
  const s = await run('ssh-keygen', ['-q', '-s', `${d}/host_ca`, '-I', `cb-${port}`, '-h', ...signOpts, `${d}/hostkey-${port}.pub`]);
  if (s.exitCode !== 0) throw new Error(`ssh-keygen -s: ${s.stderr}`);
  const config = fs
    .readFileSync(`${d}/sshd_config_tun`, 'utf8')
    .replace(/^Port .*/m, `Port ${port}`)
    .replace(/^PidFile .*/m, `PidFile ${d}/sshd-${port}.pid`)
    .concat(`HostCertificate ${d}/hostkey-${port}-cert.pub\n${extraConfig}`);
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
  // users only by certificate: no authorized_keys at all
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cloudbridge test user CA', '-f', `${lab.dir}/user_ca`]);
  await sshdWithCert(2225, ['-n', `${lab.net}.0.2`, '-V', '-5m:+1h'], `TrustedUserCAKeys ${lab.dir}/user_ca.pub\nAuthorizedKeysFile none\n`);
});

test.after.always(async () => {
  for (const pidFile of extra) {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (pid) process.kill(pid, 'SIGTERM');
  }
  if (lab) await labDown(lab);
  removeTestFiles('cbc');
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

/** A key of its own, signed by the user CA with `opts` into `certFile` (default: KEY-cert.pub beside it). */
async function userKey(name: string, opts: string[], certFile?: string, type: string[] = ['-t', 'ed25519']): Promise<string> {
  const key = `${lab.dir}/${name}`;
  fs.rmSync(key, { force: true });
  fs.rmSync(`${key}.pub`, { force: true });
  await run('ssh-keygen', ['-q', ...type, '-N', '', '-f', key]);
  const s = await run('ssh-keygen', ['-q', '-s', `${lab.dir}/user_ca`, '-I', name, ...opts, `${key}.pub`]);
  if (s.exitCode !== 0) throw new Error(`ssh-keygen -s: ${s.stderr}`);
  if (certFile) fs.renameSync(`${key}-cert.pub`, certFile);
  own(key, `${key}.pub`, certFile ?? `${key}-cert.pub`);
  return key;
}

function viaUserCert(key: string, sshConfig?: string): string {
  fs.writeFileSync(`${lab.dir}/known_hosts_ca_2225`, `@cert-authority [${lab.net}.0.2]:* ${caPub}\n`);
  return variantConfig(lab, `user-${key.split('/').pop()}.yaml`, [
    [
      `knownHostsFile: ${lab.dir}/known_hosts`,
      `knownHostsFile: ${lab.dir}/known_hosts_ca_2225\n    port: 2225${sshConfig ? `\n    sshConfig: ${sshConfig}` : ''}`,
    ],
    [`identityFile: ${lab.dir}/id_ed25519`, `identityFile: ${key}`],
  ]);
}

test.serial('a user certificate beside the key (KEY-cert.pub) logs in where only certificates are trusted', async (t) => {
  const key = await userKey('id_certified', ['-n', 'root', '-V', '-5m:+1h']);
  const up = await cli(['connect', 'cbc', '--config', viaUserCert(key)]);
  t.is(up.exitCode, 0, up.stderr);
  t.is((await cli(['disconnect', 'cbc'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
  t.regex(
    fs.readFileSync(`${lab.dir}/sshd_2225.log`, 'utf8'),
    /Accepted publickey for root .* ED25519-CERT SHA256:\S+ ID id_certified \(serial 0\) CA ED25519/,
  );
});

test.serial("a user certificate named by ssh_config's CertificateFile, kept elsewhere", async (t) => {
  const certFile = `${lab.dir}/elsewhere-cert.pub`;
  const key = await userKey('id_elsewhere', ['-n', 'root', '-V', '-5m:+1h'], certFile);
  fs.writeFileSync(`${lab.dir}/ssh_config_certs`, `Host *\n  CertificateFile ${certFile}\n`);
  const up = await cli(['connect', 'cbc', '--config', viaUserCert(key, `${lab.dir}/ssh_config_certs`)]);
  t.is(up.exitCode, 0, up.stderr);
  t.is((await cli(['disconnect', 'cbc'])).exitCode, 0);
  t.deepEqual(await leftovers(lab), []);
});

test.serial('an expired user certificate is not offered, and the refusal says why', async (t) => {
  const key = await userKey('id_expired', ['-n', 'root', '-V', '20200101:20200102']);
  await refused(t, viaUserCert(key), /id_expired-cert\.pub: Certificate invalid: expired/);
});

for (const [name, type, logged] of [
  ['id_ecdsa_cert', ['-t', 'ecdsa', '-b', '256'], 'ECDSA-CERT'],
  ['id_rsa_cert', ['-t', 'rsa', '-b', '2048'], 'RSA-CERT'],
] as const) {
  test.serial(`a user certificate for an ${logged.split('-')[0]} key signs as its base algorithm`, async (t) => {
    const key = await userKey(name, ['-n', 'root', '-V', '-5m:+1h'], undefined, [...type]);
    const up = await cli(['connect', 'cbc', '--config', viaUserCert(key)]);
    t.is(up.exitCode, 0, up.stderr);
    t.is((await cli(['disconnect', 'cbc'])).exitCode, 0);
    t.regex(fs.readFileSync(`${lab.dir}/sshd_2225.log`, 'utf8'), new RegExp(`Accepted publickey for root .* ${logged} SHA256:\\S+ ID ${name} `));
  });
}

for (const [name, type, logged] of [
  ['id_agentcert', ['-t', 'ed25519'], 'ED25519-CERT'],
  ['id_agentcert_rsa', ['-t', 'rsa', '-b', '2048'], 'RSA-CERT'],
] as const) {
  test.serial(`a user certificate held only by ssh-agent (ssh-add adds KEY-cert.pub with KEY) is offered through the agent: ${logged}`, async (t) => {
    const key = await userKey(name, ['-n', 'root', '-V', '-5m:+1h'], undefined, [...type]);
    const sock = `${lab.dir}/agent-${name}.sock`;
    // the agent is theirs who connect, as a developer's is
    const started = await asActor('ssh-agent', ['-a', sock]);
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(started.stdout)?.[1]);
    try {
      const added = await asActor('ssh-add', [key], { SSH_AUTH_SOCK: sock });
      t.regex(added.stderr, /Certificate added/);
      // only the agent has them now: the key file and its certificate are gone, the .pub names the key
      fs.rmSync(key);
      fs.rmSync(`${key}-cert.pub`);
      const up = await cli(['connect', 'cbc', '--config', viaUserCert(`${key}.pub`), '--agent', sock]);
      t.is(up.exitCode, 0, up.stderr);
      t.is((await cli(['disconnect', 'cbc'])).exitCode, 0);
      t.regex(fs.readFileSync(`${lab.dir}/sshd_2225.log`, 'utf8'), new RegExp(`Accepted publickey for root .* ${logged} SHA256:\\S+ ID ${name} `));
    } finally {
      if (pid) process.kill(pid);
    }
  });
}
