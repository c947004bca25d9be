import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { actorDown, actorUp, AS_USER, asActor, MODE, own, runAs, theActor } from './actor.js';
import { CLI, ROOT, run, type Ran } from './proc.js';

export { CLI, ROOT, run, type Ran } from './proc.js';
export { AS_USER, MODE, asActor, helperCommand, logOf, own, pauseHelper, restartHelper, startHelper, theActor } from './actor.js';

/**
 * The tests run as root, and root never takes $CLOUDBRIDGE_RUN_DIR or
 * $CLOUDBRIDGE_LOG_DIR (util/user.ts, movedFolder): their runtime files and
 * logs are root's real ones, under their own environment names.
 */
export const RUN_DIR = '/run/cloudbridge';
export const LOG_DIR = '/var/log/cloudbridge';

export interface Lab {
  readonly name: string;
  readonly net: string;
  readonly dir: string;
  readonly config: string;
  readonly remoteNs: string;
  readonly behindNs: string;
  /** "client" labs: this machine's side is a namespace too (with its own dockerd). */
  readonly clientNs?: string;
  /** "router" labs: the client's gateway, and the internet (10.OCTET.7.1, .7.53) on its loopback. */
  readonly routerNs?: string;
}

export async function labUp(
  name: string,
  octet: number,
  mode: 'direct' | 'jump' | 'client' | 'router' = 'direct',
  opts: { rekeyLimit?: string } = {},
): Promise<Lab> {
  const env = opts.rekeyLimit ? { LAB_REKEY_LIMIT: opts.rekeyLimit } : {};
  await execa('bash', [path.join(ROOT, 'scripts/lab.sh'), 'up', name, String(octet), mode], { env });
  const dir = `/run/cloudbridge-lab/${name}`;
  // the user modes: what the CLI reads is the user's, and a client lab's docker is theirs to use (as the docker group's)
  const files = [dir, ...['config.yaml', 'id_ed25519', 'id_ed25519.pub', 'known_hosts', 'ssh_config', 'local-docker.sock'].map((f) => `${dir}/${f}`)];
  await actorUp(files, mode === 'client' || mode === 'router' ? `cb-${name}-c` : undefined);
  return {
    name,
    net: `10.${octet}`,
    dir,
    config: `${dir}/config.yaml`,
    remoteNs: `cb-${name}-r`,
    behindNs: `cb-${name}-b`,
    ...(mode === 'client' || mode === 'router' ? { clientNs: `cb-${name}-c` } : {}),
    ...(mode === 'router' ? { routerNs: `cb-${name}-w` } : {}),
  };
}

/**
 * An offline image from this machine's static busybox, tagged `tag` on the
 * daemon at `dockerHost`. PATH is set: without it busybox run as a bare
 * applet name crashes on some builds, so tests also call /bin/APPLET.
 */
export async function importBusybox(lab: Lab, dockerHost: string, tag: string): Promise<void> {
  const root = path.join(lab.dir, 'rootfs');
  if (!fs.existsSync(root)) {
    fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    const busybox = (await run('sh', ['-c', 'command -v busybox'])).stdout.trim();
    fs.copyFileSync(busybox, path.join(root, 'bin/busybox'));
    fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
    for (const app of ['sh', 'httpd', 'sleep', 'wget', 'nslookup', 'cat', 'echo', 'env']) fs.symlinkSync('busybox', path.join(root, 'bin', app));
    fs.writeFileSync(path.join(root, 'etc/nsswitch.conf'), 'hosts: files dns\n');
  }
  const r = await run('sh', ['-c', `tar -C ${root} -c . | docker -H ${dockerHost} import --change 'ENV PATH=/bin' - ${tag}`]);
  if (r.exitCode !== 0) throw new Error(`docker import: ${r.stderr}`);
}

export async function labDown(lab: Lab): Promise<void> {
  await actorDown();
  await execa('bash', [path.join(ROOT, 'scripts/lab.sh'), 'down', lab.name], { reject: false });
}

/**
 * Polls `check` every 250 ms until it holds; returns how long that took
 * (seconds, on a clock that a test's own clock jumps do not move), or throws
 * naming `what` after `timeoutMs`.
 */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await check()) return (performance.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The CLI as the suite's mode runs it (actor.ts): as root, or as the mode's user. */
export function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  return asActor(process.execPath, [CLI, ...args], env);
}

/** The CLI as root in every mode: what only an admin does (install-service, the helper's unit, a root shell's own session). */
export function cliRoot(args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  return run(process.execPath, [CLI, ...args], env);
}

/** The CLI as root inside a namespace in every mode (with `sudoEnv`: root as sudo leaves it). */
export function cliInRoot(ns: string, args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  return run('ip', ['netns', 'exec', ns, process.execPath, CLI, ...args], env);
}

/** The CLI as `who` types it, without sudo (runuser, their HOME), with `vars` set too. */
export function cliAs(who: { name: string; home: string }, args: readonly string[], vars: readonly string[] = []): Promise<Ran> {
  const env = Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]));
  return runAs(who, process.execPath, [CLI, ...args], env);
}

/** The CLI inside a namespace (a "client" lab's machine). */
export function cliIn(ns: string, args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  return asActor(process.execPath, [CLI, ...args], env, ['ip', 'netns', 'exec', ns]);
}

/** What a test file leaves behind, removed: the runtime folders and logs of `envs`, and the runtime and log folders once empty. */
export function removeTestFiles(...envs: string[]): void {
  for (const e of envs) {
    fs.rmSync(path.join(RUN_DIR, e), { recursive: true, force: true });
    for (const gen of ['', '.1', '.2']) fs.rmSync(`${LOG_DIR}/${e}.log${gen}`, { force: true });
  }
  for (const dir of [RUN_DIR, LOG_DIR]) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // other environments' (or none)
    }
  }
}

export function inNs(ns: string, file: string, args: readonly string[]): Promise<Ran> {
  return run('ip', ['netns', 'exec', ns, file, ...args]);
}

/**
 * What a reboot takes of an environment's doing on this host, in client
 * namespace `ns` or on the host itself: our routes (proto 203; on the host
 * only those to `routesTo`, the lab's), its tagged firewall rules, and its
 * run folder (`runDir`: all of /run/cloudbridge when a reboot's whole /run
 * matters). What a reboot keeps stays: resolv.conf, the boot records.
 */
export async function rebootTakes(env: string, opts: { ns?: string; routesTo?: string; runDir?: string }): Promise<void> {
  const here = (file: string, args: readonly string[]): Promise<Ran> => (opts.ns ? inNs(opts.ns, file, args) : run(file, args));
  for (const family of ['-4', '-6']) {
    if (opts.routesTo === undefined) await here('ip', [family, 'route', 'flush', 'proto', '203']);
    else {
      const ours = (await here('ip', [family, 'route', 'show', 'proto', '203'])).stdout.split('\n').filter((l) => l.startsWith(opts.routesTo!));
      for (const r of ours) await here('ip', [family, 'route', 'del', ...r.trim().split(/\s+/)]);
    }
  }
  for (const cmd of ['iptables', 'ip6tables']) await here('sh', ['-c', `${cmd}-save | grep -v cloudbridge:${env} | ${cmd}-restore`]);
  fs.rmSync(opts.runDir ?? `/run/cloudbridge/${env}`, { recursive: true, force: true });
  // the root helper's journal of it (the user modes), in /run too
  fs.rmSync(`/run/cloudbridge/_helper/${env}.json`, { force: true });
}

/** sshd processes serving connections (not the listeners) inside the lab's remote namespace. */
export async function sshdSessions(lab: Lab): Promise<number[]> {
  const pids = (await run('ip', ['netns', 'pids', lab.remoteNs])).stdout.split('\n').filter(Boolean).map(Number);
  return pids.filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sshd: root');
    } catch {
      return false;
    }
  });
}

/** Everything cloudbridge could have left on either host for this lab's environments; empty when clean. */
export async function leftovers(lab: Lab): Promise<string[]> {
  const found: string[] = [];
  // this machine's side: the host, or a client lab's namespace
  const here = (file: string, args: readonly string[]): Promise<Ran> => (lab.clientNs ? inNs(lab.clientNs, file, args) : run(file, args));
  const ours = new RegExp(`^\\d+: (cb-${lab.name}[^:@]*)`);
  const links = (await here('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .map((l) => ours.exec(l)?.[1])
    .filter(Boolean);
  found.push(...links.map((l) => `local link: ${l}`));
  // the tunnel's routes, and pins and exclusions (to the lab's addresses, through other devices)
  const routes = (await here('ip', ['route', 'show', 'proto', '203'])).stdout
    .split('\n')
    .filter((l) => l.includes(`dev cb-${lab.name}`) || l.startsWith(`${lab.net}.`) || l.startsWith(`unreachable ${lab.net}.`));
  found.push(...routes.map((r) => `local route: ${r}`));
  const routes6 = (await here('ip', ['-6', 'route', 'show', 'proto', '203'])).stdout.split('\n').filter((l) => l.includes(`dev cb-${lab.name}`));
  found.push(...routes6.map((r) => `local IPv6 route: ${r}`));
  // the installed helper's socket is the host's, not a session's: it stays while the helper runs
  const runFiles = fs.existsSync(RUN_DIR) ? fs.readdirSync(RUN_DIR).filter((f) => !(MODE === 'helper' && f === 'helper.sock')) : [];
  found.push(...runFiles.map((f) => `local file: ${RUN_DIR}/${f}`));
  // a test's small tmpfs over the run folder (a full disk), left mounted, would hide the next ones' files
  if (fs.readFileSync('/proc/mounts', 'utf8').includes(` ${RUN_DIR} `)) found.push(`local mount: ${RUN_DIR}`);
  // the boot record (what outlives a reboot: DNS settings), kept outside the run folder
  if (fs.existsSync('/var/lib/cloudbridge')) found.push('local folder: /var/lib/cloudbridge');
  const mine = [...(await here('iptables-save', [])).stdout.split('\n'), ...(await here('ip6tables-save', [])).stdout.split('\n')].filter((l) =>
    l.includes(`cloudbridge:${lab.name}`),
  );
  found.push(...mine.map((r) => `local rule: ${r}`));
  const rules = (await inNs(lab.remoteNs, 'iptables-save', [])).stdout.split('\n').filter((l) => l.includes('cloudbridge'));
  found.push(...rules.map((r) => `remote rule: ${r}`));
  const rules6 = (await inNs(lab.remoteNs, 'ip6tables-save', [])).stdout.split('\n').filter((l) => l.includes('cloudbridge'));
  found.push(...rules6.map((r) => `remote IPv6 rule: ${r}`));
  const fwd6 = (await inNs(lab.remoteNs, 'cat', ['/proc/sys/net/ipv6/conf/all/forwarding'])).stdout.trim();
  if (fwd6 !== '0') found.push(`remote IPv6 forwarding is ${fwd6}, was 0`);
  const tuns = (await run('ip', ['-n', lab.remoteNs, '-o', 'link', 'show', 'type', 'tun'])).stdout.trim();
  if (tuns) found.push(`remote tun: ${tuns}`);
  const fwd = (await inNs(lab.remoteNs, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).stdout.trim();
  if (fwd !== '0') found.push(`remote ip_forward is ${fwd}, was 0`);
  const sessions = await sshdSessions(lab);
  if (sessions.length) found.push(`remote sshd sessions: ${sessions.join(' ')}`);
  if (AS_USER) found.push(...(await userLeftovers(lab.name)));
  return found;
}

/** The user modes: no process of the user's still running, no boot record of the lab's environments in their state folder. */
async function userLeftovers(labName: string): Promise<string[]> {
  const who = theActor();
  // cloudbridge's (its Node processes, a ProxyCommand), not a test's agent; a zombie has exited,
  // only this machine's PID 1, which reaps late, has not waited for it yet
  const procs = (await run('ps', ['-u', who.name, '-o', 'pid=,stat=,args='])).stdout
    .split('\n')
    .filter((l) => l.trim() && !/^\s*\d+\s+Z/.test(l) && !/\sssh-agent\s/.test(l))
    .join('; ');
  const boot = path.join(who.home, '.local/state/cloudbridge/boot');
  const records = fs.existsSync(boot) ? fs.readdirSync(boot).filter((f) => f.startsWith(labName)) : [];
  return [...(procs ? [`user's processes: ${procs}`] : []), ...records.map((f) => `user's boot record: ${f}`)];
}

/** A config next to the lab's, with environment `name` changed by `edit`. */
export function variantConfig(lab: Lab, file: string, replace: [string | RegExp, string][]): string {
  let text = fs.readFileSync(lab.config, 'utf8');
  for (const [from, to] of replace) text = text.replace(from, to);
  const out = path.join(lab.dir, file);
  fs.writeFileSync(out, text);
  own(out);
  return out;
}

/** A user of this machine as the tests act for one. */
export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** A fresh user `name` with a home of their own (one left by an earlier run removed first); `userdel -r` removes it. */
export async function makeTestUser(name: string): Promise<TestUser> {
  await run('userdel', ['-r', name]);
  const made = await run('useradd', ['-m', '-d', `/home/${name}`, '-s', '/bin/sh', name]);
  if (made.exitCode !== 0) throw new Error(`useradd: ${made.stderr}`);
  const [uid, gid] = (await run('sh', ['-c', `id -u ${name}; id -g ${name}`])).stdout.trim().split('\n').map(Number);
  return { name, uid: uid!, gid: gid!, home: `/home/${name}` };
}

/** What `sudo` sets for a user; the CLI run with it acts for that user. */
export function sudoEnv(user: { name: string; uid: number; gid: number }): Record<string, string> {
  return { SUDO_USER: user.name, SUDO_UID: String(user.uid), SUDO_GID: String(user.gid) };
}

/**
 * The lab's config, key and known_hosts copied into `dir`, owned by `user`
 * (cloudbridge reads what a user's config names with that user's rights, so
 * the lab's root-only files are not theirs to use). Returns the config path.
 */
export function userCopy(lab: Lab, dir: string, user: { uid: number; gid: number }, replace: [string | RegExp, string][] = []): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // a jump lab's SSH settings are in its ssh_config: the user gets a copy of that too
  const files = ['id_ed25519', 'known_hosts', ...(fs.existsSync(`${lab.dir}/ssh_config`) ? ['ssh_config'] : [])];
  const moved = (text: string): string => files.reduce((t, f) => t.replaceAll(`${lab.dir}/${f}`, `${dir}/${f}`), text);
  let text = moved(fs.readFileSync(lab.config, 'utf8'));
  for (const [from, to] of replace) text = text.replace(from, to);
  fs.writeFileSync(path.join(dir, 'config.yaml'), text, { mode: 0o600 });
  for (const f of files) fs.writeFileSync(`${dir}/${f}`, moved(fs.readFileSync(`${lab.dir}/${f}`, 'utf8')), { mode: 0o600 });
  for (const f of ['', 'config.yaml', ...files]) fs.chownSync(path.join(dir, f), user.uid, user.gid);
  return path.join(dir, 'config.yaml');
}

/**
 * The lab's config for a session of root's own (a root shell's, a service's):
 * the lab's, or in the user modes, where the lab's files are the user's, a
 * copy of config, key and known_hosts that is root's.
 */
export function rootConfig(lab: Lab): string {
  return AS_USER ? userCopy(lab, path.join(lab.dir, 'root'), { uid: 0, gid: 0 }) : lab.config;
}

/** tcpdump on interface `dev` of namespace `ns` while `body` runs: the DNS packets that left by it (a leak test's capture). */
export async function dnsLeaving(ns: string, dev: string, body: () => Promise<unknown>): Promise<string[]> {
  const cap = execa('ip', ['netns', 'exec', ns, 'tcpdump', '-i', dev, '-n', '-l', 'port 53'], { reject: false });
  let listening = false;
  cap.stderr?.on('data', (d: Buffer) => (listening ||= d.toString().includes('listening on')));
  for (let i = 0; i < 50 && !listening; i++) await new Promise((r) => setTimeout(r, 100));
  await body();
  // what was sent last is printed a moment later (-l flushes each line)
  await new Promise((r) => setTimeout(r, 300));
  cap.kill('SIGINT');
  return String((await cap).stdout)
    .split('\n')
    .filter((l) => l.trim());
}

export { crash, processTree, userOnly, type ProcessIds } from './procTree.js';
