import fs from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { AnyAuthMethod, Client, ConnectConfig } from 'ssh2';
import { ssh2 } from '../ssh2/load.js';
import { SSH2_ALGORITHMS } from '../ssh2/algorithms.js';
import { assemble, pubkeyFilter } from './algorithms.js';
import { hostKeyAlgorithms } from '../ssh2/certs.js';
import * as ssh2Connection from '../ssh2/connection.js';
import { ssh2Failure } from '../ssh2/errors.js';
import { ReadRing } from '../datapath/ssh/readRing.js';
import { SshLink, type Carrier } from '../datapath/ssh/link.js';
import { UserError } from '../util/errors.js';
import type { InvokingUser } from '../util/user.js';
import type { EnvironmentConfig } from '../config/types.js';
import { findAgent } from './agent.js';
import { appendKnownHost, checkHostKey, hasCertAuthority, hostKeyName, readKnownHosts, type KnownHostsEntry } from './knownHosts.js';
import { NamedKeysAgent, publicBeside, UserAgent } from './keys.js';
import { asUser } from '../util/user.js';
import type { SshHop, SshRoute } from './route.js';
import { certifiedKey, certsFor, type UserCert } from './userCerts.js';
import { runProxyCommand, type ProxyRun } from './proxyCommand.js';
import { hopLimits, logToStderr, startTransport, stopTransport, type HopLimits, type SshOptions, type Transport } from './transport.js';
import { traceCommands } from './exec.js';

function defaultIdentities(home: string): string[] {
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => path.join(home, '.ssh', n)).filter((p) => fs.existsSync(p));
}

/** An identity file as read. */
interface Identity {
  readonly file: string;
  /** The private key, when it can be used itself. */
  readonly key?: { readonly text: Buffer; readonly passphrase: string | undefined };
  /** Its public half (from the file itself or FILE.pub): how the agent's copy is known. */
  readonly public?: Buffer;
  /** Why the private key cannot be used itself. */
  readonly problem?: string;
  /** Certificates for this key (KEY-cert.pub, CertificateFile), offered before it. */
  readonly certs?: readonly UserCert[];
  readonly certProblems?: readonly string[];
}

const certsOf = (c: { certs: UserCert[]; problems: string[] }): Pick<Identity, 'certs' | 'certProblems'> => ({ certs: c.certs, certProblems: c.problems });

function readIdentity(file: string, passphrase: string | undefined): Identity {
  let text: Buffer;
  try {
    text = fs.readFileSync(file);
  } catch (err) {
    return { file, problem: `${file}: ${(err as NodeJS.ErrnoException).code}` };
  }
  const parsed = ssh2.utils.parseKey(text, passphrase);
  if (!(parsed instanceof Error)) {
    return parsed.isPrivateKey() ? { file, key: { text, passphrase }, public: parsed.getPublicSSH() } : { file, public: parsed.getPublicSSH() };
  }
  const problem = /encrypted/i.test(parsed.message)
    ? `${file} is protected by a passphrase (run connect on a terminal to be asked, or load it into ssh-agent)`
    : `${file}: ${parsed.message}`;
  // a key that cannot be opened here may still be in the agent, named by its .pub
  const pub = publicBeside(file);
  return pub ? { file, public: pub, problem } : { file, problem };
}

/**
 * What to offer a hop, in order: the agent's keys (with IdentitiesOnly, only
 * those the identity files name), then each identity file's private key.
 */
function authMethods(hop: SshHop, opts: SshOptions): { methods: AnyAuthMethod[]; tried: string[]; problems: string[]; agents: UserAgent[] } {
  const methods: AnyAuthMethod[] = [];
  const agents: UserAgent[] = [];
  const tried: string[] = [];
  const problems: string[] = [];
  // ssh_config's IdentityAgent for this hop comes first (1Password's, gpg-agent's, none), as ssh puts it before $SSH_AUTH_SOCK
  const agent = hop.identityAgent === null ? undefined : (hop.identityAgent ?? findAgent(opts.user, opts.agent));
  // key files are the user's (or named in their config): read with their rights
  const identities = asUser(opts.user, () => {
    const files = hop.identityFiles.length > 0 ? hop.identityFiles : defaultIdentities(opts.user.home);
    return files.map((f) => {
      const i = readIdentity(f, opts.passphrases?.get(f));
      return i.key && i.public ? { ...i, ...certsOf(certsFor(f, i.public, hop.certificateFiles)) } : i;
    });
  });
  // seen as the user sees it: an agent in a folder of root's is not theirs to reach, and is named as such
  const agentProblem = agent === undefined ? undefined : unreachable(agent, opts.user);
  // PubkeyAcceptedAlgorithms: a key or certificate whose type can make none of its signatures is not offered, from a file or the agent
  const accepts = pubkeyFilter(hop.algorithms.PubkeyAcceptedAlgorithms);
  const offered = (type: string, what: string): boolean => {
    if (!accepts || accepts(type)) return true;
    problems.push(`${what}: ${type} is not in ssh_config's PubkeyAcceptedAlgorithms (${hop.algorithms.PubkeyAcceptedAlgorithms}), not offered`);
    return false;
  };
  if (agent && agentProblem === undefined) {
    const named = identities.flatMap((i) => (i.public ? [i.public] : []));
    const a = !hop.identitiesOnly
      ? new UserAgent(agent, opts.user, accepts)
      : named.length > 0
        ? new NamedKeysAgent(agent, opts.user, named, accepts)
        : undefined;
    if (a) {
      agents.push(a);
      methods.push({ type: 'agent', username: hop.user, agent: a });
      tried.push(hop.identitiesOnly ? 'agent (the named keys)' : 'agent');
    }
  }
  for (const i of identities) {
    problems.push(...(i.certProblems ?? []));
    if (i.key) {
      const { text: key, passphrase } = i.key;
      const parsed = ssh2.utils.parseKey(key, passphrase);
      for (const cert of i.certs ?? []) {
        if (parsed instanceof Error) break;
        if (!offered(cert.type, cert.file)) continue;
        methods.push({ type: 'publickey', username: hop.user, key: certifiedKey(parsed, cert) });
        tried.push(`${cert.file} (certificate)`);
      }
      if (!(parsed instanceof Error) && !offered(parsed.type, i.file)) continue;
      methods.push(passphrase === undefined ? { type: 'publickey', username: hop.user, key } : { type: 'publickey', username: hop.user, key, passphrase });
      tried.push(i.file);
    } else if (i.problem && !(agent && i.public)) {
      problems.push(i.problem);
    }
  }
  if (typeof agentProblem === 'string') problems.push(agentProblem);
  return { methods, tried, problems, agents };
}

/**
 * Why the user cannot reach an agent socket (EACCES: in a folder of someone
 * else's), undefined when they can, null when there is none (not a problem:
 * the agent is simply not asked).
 */
function unreachable(sock: string, user: InvokingUser): string | undefined | null {
  try {
    asUser(user, () => fs.statSync(sock));
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? null : `the agent at ${sock} (${code ?? 'unreachable'}, as ${user.name})`;
  }
}

/** Whether a @cert-authority line in the hop's known_hosts files speaks for it. */
function certAuthorityFor(hop: SshHop, keyName: string, read: (file: string) => KnownHostsEntry[]): boolean {
  const entries: KnownHostsEntry[] = [];
  for (const f of [hop.knownHostsFile, ...hop.globalKnownHostsFiles]) {
    try {
      entries.push(...read(f));
    } catch {
      // the verifier says what is wrong with a file it needs
    }
  }
  return hasCertAuthority(entries, keyName);
}

/**
 * known_hosts files read once per connection, with the user's rights (a link
 * there leads only where they could go): the offer of certificate algorithms
 * and the host verifier judge from the same reading.
 */
function knownHostsReader(user: InvokingUser): (file: string) => KnownHostsEntry[] {
  const read = new Map<string, { entries: KnownHostsEntry[] } | { err: unknown }>();
  return (file) => {
    let r = read.get(file);
    if (!r) {
      try {
        r = { entries: asUser(user, () => readKnownHosts(file)) };
      } catch (err) {
        r = { err };
      }
      read.set(file, r);
    }
    if ('err' in r) throw r.err;
    return r.entries;
  };
}

/**
 * One authenticated SSH connection to `hop`: over `sock` when a jump host in
 * this process carries it, over `carrier` when another process does (the
 * jump process), else over TCP or the hop's ProxyCommand.
 */
function connectHop(hop: SshHop, sock: Duplex | undefined, limits: HopLimits, opts: SshOptions, carrier?: ProxyRun, early?: ReadRing): Promise<SshLink> {
  const where = `${hop.host}:${hop.port}`;
  const keyName = hostKeyName(hop.host, hop.port);
  let hostKeyProblem: string | undefined;
  const readKnown = knownHostsReader(opts.user);

  const hostVerifier = (key: Buffer): boolean => {
    // known_hosts files are read and written with the user's rights: a link there leads only where they could go
    hostKeyProblem = checkHostKey(hop, keyName, key, {
      read: readKnown,
      append: (f, name, k) => asUser(opts.user, () => appendKnownHost(f, name, k, hop.hashKnownHosts)),
    });
    return hostKeyProblem === undefined;
  };

  const auth = authMethods(hop, opts);
  if (auth.methods.length === 0) {
    const why = auth.problems.length ? auth.problems.join('; ') : 'set identityFile or run an ssh-agent';
    throw new UserError(`no usable SSH identity for ${hop.user}@${where}: ${why}`);
  }
  const queue = [...auth.methods];
  const cfg: ConnectConfig = {
    host: hop.host,
    port: hop.port,
    username: hop.user,
    readyTimeout: limits.connectTimeout * 1000,
    // ssh2 gives up after countMax unanswered keepalives, one interval apart:
    // ssh_config's ServerAlive* as ssh would, else deadAfter split in three
    keepaliveInterval: hop.keepalive ? hop.keepalive.intervalSeconds * 1000 : Math.ceil((limits.deadAfter * 1000) / 3),
    keepaliveCountMax: hop.keepalive ? hop.keepalive.countMax : 2,
    hostVerifier,
    algorithms: hopAlgorithms(hop, limits, hostKeyAlgorithms(certAuthorityFor(hop, keyName, readKnown)), opts.warn ?? opts.log ?? logToStderr),
    // ssh2 takes `false` for "nothing left to try"; its types do not say so
    authHandler: (_methodsLeft, _partial, next) => next(queue.shift() ?? (false as unknown as AnyAuthMethod)),
    debug: opts.debug && ((line: string) => opts.debug!(`ssh ${hop.user}@${where}: ${line}`)),
  };
  // Directly reached hosts, and those behind a ProxyCommand (a socket pair),
  // get a socket that reads into reused buffers and that the C path can
  // use; a hop over a jump host reads from an SSH channel, which has its own.
  const proxy = carrier ?? (!sock && hop.proxyCommand ? runProxyCommand(hop, opts.user, findAgent(opts.user, opts.agent), opts.log ?? logToStderr) : undefined);
  const ring = sock ? undefined : (early ?? new ReadRing(proxy ? { fd: proxy.fd } : { host: hop.host, port: hop.port }));
  if (proxy && ring) proxy.onEnd = () => ring.socket.destroy();
  cfg.sock = sock ?? ring?.socket;
  const carriedBy: Carrier | undefined = proxy?.child.pid ? { pid: proxy.child.pid } : ring && !proxy ? { socket: ring.socket } : undefined;

  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    const fail = (err: Error & { level?: string; code?: string }): void => {
      if (settled) return;
      settled = true;
      client.end();
      if (hostKeyProblem) return reject(new UserError(hostKeyProblem));
      const kind = ssh2Failure(err);
      if (proxy && kind === 'socket') {
        // the command's exit says more than the broken pipe does: wait for it (briefly)
        const report = (): void => reject(new UserError(proxy.ended() ?? `cannot reach ${where}: ${err.code ?? err.message}`));
        if (proxy.ended()) return report();
        const timer = setTimeout(report, 2000);
        proxy.child.once('close', () => {
          clearTimeout(timer);
          report();
        });
        return;
      }
      if (kind === 'authentication') {
        const problems = [...auth.problems, ...auth.agents.flatMap((a) => a.problem ?? [])];
        const extra = problems.length ? `; skipped ${problems.join('; ')}` : '';
        return reject(new UserError(`authentication as ${hop.user} on ${where} failed (tried: ${auth.tried.join(', ')})${extra}`));
      }
      if (kind === 'socket') {
        return reject(new UserError(`cannot reach ${where}: ${err.code ?? err.message}`));
      }
      if (kind === 'timeout') {
        return reject(new UserError(`cannot reach ${where}: no SSH handshake within ${limits.connectTimeout}s`));
      }
      reject(new UserError(`ssh to ${hop.user}@${where} failed: ${err.message}`));
    };
    // ssh_config's ConnectTimeout: the connection and the server's first bytes (its banner) within it, as ssh (sshconnect.c)
    let heard = false;
    sock?.once('data', () => (heard = true));
    const banner =
      hop.connectTimeout === undefined
        ? undefined
        : setTimeout(() => {
            if (settled || heard || (ring?.socket.bytesRead ?? 0) > 0) return;
            settled = true;
            client.end();
            cfg.sock?.destroy();
            reject(new UserError(`cannot reach ${where}: no SSH banner within ${hop.connectTimeout}s (ssh_config ConnectTimeout)`));
          }, hop.connectTimeout * 1000);
    banner?.unref();
    client.once('ready', () => {
      clearTimeout(banner);
      settled = true;
      client.removeListener('error', fail);
      // From here until the session keeper listens (after the remote steps), an error from the
      // server (a reset, a keepalive timeout, a malformed packet) must not go unheard, which
      // would make it an uncaught exception: it ends the connection, and whatever waits on it fails.
      client.on('error', () => client.destroy());
      // TCP_NODELAY is the ring's from the first byte (readRing.ts); the other sockets here are a
      // ProxyCommand's socket pair and a jump host's channel, which have no Nagle to turn off.
      if (opts.debug) ssh2Connection.quietAfterHandshake(client);
      ring?.ready();
      resolve(new SshLink(client, ring, carriedBy));
    });
    client.on('error', fail);
    client.once('close', () => {
      proxy?.child.kill();
      fail(Object.assign(new Error('connection closed during handshake'), { level: 'client-socket' }));
    });
    try {
      // a connection opened before ssh2 loaded (transport.ts) that failed meanwhile: ssh2 never heard
      if (ring?.socket.destroyed) throw ring.failure ?? Object.assign(new Error('connection closed before the handshake'), { level: 'client-socket' });
      client.connect(cfg);
      ring?.attach(client, ssh2Connection);
    } catch (err) {
      fail(err as Error);
    }
  });
}

/**
 * What a hop offers: ssh_config's Ciphers, KexAlgorithms, HostKeyAlgorithms
 * and MACs assembled on cloudbridge's own lists (the ciphers as configured,
 * the host key algorithms with certificates where a CA could vouch) and
 * ssh2's defaults; what ssh2 does not speak is left out and said.
 */
function hopAlgorithms(hop: SshHop, limits: HopLimits, hostKeys: readonly string[], log: (line: string) => void): NonNullable<ConnectConfig['algorithms']> {
  const kinds = [
    ['Ciphers', 'cipher', limits.ciphers, SSH2_ALGORITHMS.cipher.supported],
    ['KexAlgorithms', 'kex', SSH2_ALGORITHMS.kex.defaults, SSH2_ALGORITHMS.kex.supported],
    ['HostKeyAlgorithms', 'serverHostKey', hostKeys, SSH2_ALGORITHMS.serverHostKey.supported],
    ['MACs', 'hmac', SSH2_ALGORITHMS.hmac.defaults, SSH2_ALGORITHMS.hmac.supported],
  ] as const;
  const out: Record<string, string[]> = { cipher: [...limits.ciphers], serverHostKey: [...hostKeys] };
  for (const [line, key, defaults, supported] of kinds) {
    const value = hop.algorithms[line];
    if (value === undefined) continue;
    const { list, left } = assemble(line, value, defaults, supported);
    if (left.length) log(`warning: ssh_config ${line} for ${hop.name}: cloudbridge does not speak ${left.join(', ')} (left out)`);
    out[key] = list;
  }
  return out as NonNullable<ConnectConfig['algorithms']>;
}

/** A TCP stream to host:port opened from `via` (what ProxyJump does with -W). */
function forwardThrough(via: Client, hop: SshHop, from: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    via.forwardOut('127.0.0.1', 0, hop.host, hop.port, (err, stream) => {
      if (err) reject(new UserError(`jump host ${from} cannot reach ${hop.host}:${hop.port}: ${err.message}`));
      else resolve(stream);
    });
  });
}

/**
 * Opens an authenticated SSH connection to the environment's host, through
 * its ProxyJump chain if ssh_config gives one: the jump hosts in the jump
 * process (jumpProcess.ts), each hop with its own host key check, the
 * target here over a socket pair. Ending the returned link ends the chain.
 */
export async function connectSsh(env: EnvironmentConfig, route: SshRoute, opts: SshOptions & { readonly transport?: Transport }): Promise<SshLink> {
  const limits = hopLimits(env);
  const transport = opts.transport ?? startTransport(route, limits, opts);
  let target: SshLink;
  try {
    if (transport.kind === 'jumps') await transport.jumps.ready;
    target = await (transport.kind === 'tcp'
      ? connectHop(route.target, undefined, limits, opts, undefined, transport.ring)
      : connectHop(route.target, undefined, limits, opts, transport.kind === 'proxy' ? transport.proxy : transport.jumps));
  } catch (err) {
    stopTransport(transport);
    throw err;
  }
  if (transport.kind === 'jumps') target.client.once('close', () => transport.jumps.child.kill());
  if (opts.debug) traceCommands(target.client, opts.debug);
  return target;
}

/**
 * The jump process's side (cli/hop.ts): the jump hosts connected here, each
 * over the previous one's direct-tcpip channel, and a stream to `target`
 * through the last. Ending the first client ends the chain.
 */
export async function connectJumpsHere(
  jumps: readonly SshHop[],
  target: SshHop,
  limits: HopLimits,
  opts: SshOptions,
  /** The first jump host's TCP connection, opened before ssh2 loaded (cli/hop.ts). */
  early?: ReadRing,
): Promise<{ links: SshLink[]; stream: Duplex }> {
  const links: SshLink[] = [];
  try {
    let sock: Duplex | undefined;
    for (const [i, hop] of jumps.entries()) {
      if (i > 0) sock = await forwardThrough(links[i - 1]!.client, hop, `${jumps[i - 1]!.host}:${jumps[i - 1]!.port}`);
      links.push(await connectHop(hop, sock, limits, opts, undefined, i === 0 ? early : undefined));
    }
    const last = jumps.at(-1)!;
    return { links, stream: await forwardThrough(links.at(-1)!.client, target, `${last.host}:${last.port}`) };
  } catch (err) {
    for (const l of links.reverse()) l.end();
    throw err;
  }
}
