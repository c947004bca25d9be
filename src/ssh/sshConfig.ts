import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import os from 'node:os';
import { cidrContains, parseCidr, parseIPv4 } from '../config/ipv4.js';
import { UserError } from '../util/errors.js';
import { plain } from '../util/plain.js';
import { ALGORITHM_LINES, type AlgorithmLines } from './algorithms.js';
import { knownKeyword } from './keywords.js';
import { percentExpand } from './tokens.js';
import { patternListMatches } from './patterns.js';
import { tildePath, type Block, type Condition, type Criterion } from './sshConfigParse.js';

export { parseSshConfig, readSshConfigFiles } from './sshConfigParse.js';

/**
 * The part of ssh_config(5) cloudbridge honours, read the way ssh reads it:
 * files in order (the user's, then the system's), `Host` blocks matched
 * against the name given, the first value found for an option wins, except
 * IdentityFile, which accumulates. `Match` blocks apply as ssh decides
 * (host, originalhost, user, localuser, tagged, all, canonical, final, each
 * negatable, `exec` run as the invoking user, `localnetwork`). The files
 * are parsed, Include and all, in sshConfigParse.ts.
 */
export interface SshHostOptions {
  readonly hostName?: string;
  readonly user?: string;
  readonly port?: number;
  readonly identityFiles: readonly string[];
  /** CertificateFile: accumulates, as IdentityFile does. */
  readonly certificateFiles: readonly string[];
  readonly identitiesOnly?: boolean;
  readonly proxyJump?: string;
  /** ProxyCommand as written (tokens unexpanded); ProxyJump and it exclude each other, the first one given wins. */
  readonly proxyCommand?: string;
  /** Options in force for this host that cloudbridge does not do, each with what to do instead (named at connect, in the dry run and by doctor). */
  readonly unsupported: readonly string[];
  readonly userKnownHostsFile?: string;
  /** The other files of that UserKnownHostsFile line: read after it, never written (ssh adds keys to the first). */
  readonly moreUserKnownHostsFiles?: readonly string[];
  /** GlobalKnownHostsFile: one or more files, read after the user's. */
  readonly globalKnownHostsFiles?: readonly string[];
  readonly strictHostKeyChecking?: 'yes' | 'accept-new' | 'no';
  readonly serverAliveInterval?: number;
  readonly serverAliveCountMax?: number;
  /** ConnectTimeout, seconds: how long the TCP connection and the server's banner may take. */
  readonly connectTimeout?: number;
  /** HashKnownHosts yes: names of accepted host keys are written hashed. */
  readonly hashKnownHosts?: boolean;
  /** IdentityAgent: the agent socket to use instead of $SSH_AUTH_SOCK; null for none. */
  readonly identityAgent?: string | null;
  /** Ciphers, KexAlgorithms, HostKeyAlgorithms, MACs as written (algorithms.ts assembles them at connect). */
  readonly algorithms: AlgorithmLines;
}

/** ssh's Host matching: any positive pattern matches and no negated one does, case and all (readconf.c's match_pattern). */
export const hostPatternsMatch = (patterns: readonly string[], name: string): boolean => patternListMatches(patterns, name, true);

export interface ExpandContext {
  readonly home: string;
  readonly localUser: string;
  /** Runs a `Match exec` command (tokens expanded), as the user: whether it exits 0. Without it, such blocks do not apply. */
  readonly exec?: (command: string) => boolean;
  /** This host's interface addresses, for `Match localnetwork`. Without them, such blocks do not apply. */
  readonly localAddresses?: readonly string[];
  /** %i: the local user's uid (this process's when not given). */
  readonly uid?: number;
  /** Where `${VAR}` in file names is looked up (this process's environment when not given). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Whether a fully qualified name (with its final dot) has an address, as
   * getaddrinfo says (CanonicalizeHostname). Without it, no candidate
   * resolves: the name stays as given, as CanonicalizeFallbackLocal lets it.
   */
  readonly resolves?: (fqdn: string) => boolean;
}

/** What ssh's tokens stand for in one expansion: the host, user and port so far, and the name given. */
export interface TokenValues {
  readonly host: string;
  readonly originalHost: string;
  readonly user: string;
  readonly port: number;
  /** %k: HostKeyAlias, else (file names) the name given or (Match exec) the host so far. */
  readonly keyAlias: string;
}

/**
 * ssh's tokens (sshconnect.h's DEFAULT_CLIENT_PERCENT_EXPAND_ARGS, and
 * readconf.c's for Match exec): %C is the hex SHA-1 of this host's name,
 * the host, the port and the remote user, as ssh_connection_hash makes it.
 */
function tokenTable(v: TokenValues, ctx: ExpandContext): Record<string, string> {
  const thisHost = os.hostname();
  return {
    '%': '%',
    C: createHash('sha1').update(`${thisHost}${v.host}${v.port}${v.user}`).digest('hex'),
    L: thisHost.split('.')[0]!,
    i: String(ctx.uid ?? process.getuid?.() ?? 0),
    k: v.keyAlias,
    l: thisHost,
    n: v.originalHost,
    p: String(v.port),
    d: ctx.home,
    h: v.host,
    r: v.user,
    u: ctx.localUser,
  };
}

/** A file name as ssh reads it: ~ first, then its tokens and variables (doctor's referee expands what ssh -G prints raw with it). */
export const expandPath = (value: string, what: string, v: TokenValues, ctx: ExpandContext): string =>
  percentExpand(tildePath(value, ctx.home), tokenTable(v, ctx), what, ctx.env ?? process.env, value);

/**
 * IdentityAgent as ssh.c reads it: `none` (no agent), `SSH_AUTH_SOCK` (the
 * environment's), `$VAR` (that variable's value; unset: no agent), else a
 * socket path with ~, tokens and ${VAR} expanded. null: no agent.
 */
function identityAgent(value: string, expand: (v: string) => string, env: NodeJS.ProcessEnv): string | null {
  if (value === 'none') return null;
  if (value === 'SSH_AUTH_SOCK') return env['SSH_AUTH_SOCK'] || null;
  if (value.startsWith('$') && !value.startsWith('${')) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value.slice(1))) throw new UserError(`ssh_config: IdentityAgent ${value}: not a variable name`);
    return env[value.slice(1)] || null;
  }
  return expand(value);
}

/** CanonicalizeHostname's values, as readconf.c's multistate_canonicalizehostname lists them (any case). */
const CANONICALIZE = ['true', 'false', 'yes', 'no', 'always'];
const YES_NO: Record<string, 'yes' | 'accept-new' | 'no'> = { yes: 'yes', 'accept-new': 'accept-new', no: 'no', off: 'no', ask: 'yes' };

/** What Match criteria are held against: the options found so far, as ssh does. */
interface MatchState {
  /** HostName so far (%h expanded), else the name given. */
  readonly host: string;
  readonly originalHost: string;
  /** The user given with the name, else User so far, else the local user. */
  readonly user: string;
  readonly localUser: string;
  readonly tag: string | undefined;
  /** HostKeyAlias so far. */
  readonly keyAlias: string | undefined;
  readonly finalPass: boolean;
  readonly port: number;
  readonly ctx: ExpandContext;
}

/** `Match localnetwork`: some interface address lies in one of the CIDRs (IPv4; an IPv6 entry matches nothing here). */
function inLocalNetwork(cidrs: readonly string[], addresses: readonly string[]): boolean {
  return cidrs.some((text) => {
    const c = parseCidr(text);
    return c !== undefined && addresses.some((a) => parseIPv4(a) !== undefined && cidrContains(c, parseIPv4(a)!));
  });
}

/** A `Match exec` command with ssh's tokens expanded (readconf.c: %k is HostKeyAlias, else the host so far; no ${VAR}). */
const execCommand = (command: string, s: MatchState): string =>
  percentExpand(
    command,
    tokenTable({ host: s.host, originalHost: s.originalHost, user: s.user, port: s.port, keyAlias: s.keyAlias ?? s.host }, s.ctx),
    'Match exec',
  );

/** Whether `c` holds (negation aside); undefined for what this reader cannot evaluate (newer criteria, or exec and localnetwork without the means). */
function criterionHolds(c: Criterion, s: MatchState): boolean | undefined {
  const list = (v: string): boolean => patternListMatches(c.patterns, v);
  switch (c.name) {
    case 'all':
      return true;
    // ssh's second pass (after canonicalisation, or asked for by `final`)
    case 'canonical':
    case 'final':
      return s.finalPass;
    case 'host':
      return list(s.host);
    case 'originalhost':
      return list(s.originalHost);
    case 'user':
      return list(s.user);
    case 'localuser':
      return list(s.localUser);
    case 'tagged':
      return list(s.tag ?? '');
    case 'exec':
      return s.ctx.exec?.(execCommand(c.patterns[0]!, s));
    case 'localnetwork':
      return s.ctx.localAddresses ? inLocalNetwork(c.patterns, s.ctx.localAddresses) : undefined;
    default:
      return undefined;
  }
}

/** Every criterion holds; one not evaluated makes the block not apply, negated or not. */
const matchHolds = (criteria: readonly Criterion[], s: MatchState): boolean =>
  criteria.length > 0 &&
  criteria.every((c) => {
    const holds = criterionHolds(c, s);
    return holds !== undefined && holds !== c.negate;
  });

/**
 * CanonicalizeHostname as ssh.c's resolve_canonicalize does it, for a name
 * that is not an address: each CanonicalDomains suffix tried in turn while
 * the name has no more dots than CanonicalizeMaxDots (1), the first that
 * resolves taken; a name ending in a dot tried as it is. Not for a host
 * reached through a proxy or jump host unless `always`. No candidate: the
 * name as it is, or with CanonicalizeFallbackLocal no, ssh's refusal.
 */
function canonicalName(
  host: string,
  mode: 'yes' | 'always',
  one: (k: string) => string | undefined,
  list: (k: string) => readonly string[],
  proxied: boolean,
  ctx: ExpandContext,
): string {
  if (proxied && mode !== 'always') return host;
  const resolves = (fqdn: string): boolean => ctx.resolves?.(fqdn) ?? false;
  if (host.endsWith('.')) {
    if (resolves(host)) return host.slice(0, -1);
  } else {
    const maxDots = Number(one('canonicalizemaxdots') ?? 1);
    if ((host.match(/\./g)?.length ?? 0) > maxDots) return host;
    for (const domain of list('canonicaldomains')) {
      if (domain.toLowerCase() === 'none') break;
      if (resolves(`${host}.${domain}.`)) return `${host}.${domain}`;
    }
  }
  if (one('canonicalizefallbacklocal')?.toLowerCase() === 'no') {
    throw new UserError(`ssh_config: Could not resolve host "${host}" in any of CanonicalDomains (CanonicalizeFallbackLocal no; ssh refuses it too)`);
  }
  return host;
}

/** Whether `host` is an IP address, which ssh neither lowercases nor canonicalises by name. */
const isAddress = (host: string): boolean => isIP(host.replace(/%.*$/, '')) !== 0;

/**
 * The options for `name` from parsed files, in order; first value wins.
 * `givenUser` is a user named with the host (user@host, or cloudbridge's
 * own `user`), which Match user sees before any User line. `jumpGiven`:
 * a jump chain reaches this host whatever its config says (ssh's -J).
 *
 * Two passes, as ssh.c's main makes them: the first matches Host lines
 * against the name given; then HostName (lowercased, canonicalised when
 * CanonicalizeHostname asks) becomes the host, and when canonicalisation
 * is on or a `Match final` asks, a second pass matches Host lines and
 * Match host against that host (Match canonical and final hold there),
 * values found in the first kept.
 */
export function resolveSshHost(files: readonly Block[][], name: string, ctx: ExpandContext, givenUser?: string, jumpGiven = false): SshHostOptions {
  const first = new Map<string, readonly string[]>();
  const identityFiles: string[] = [];
  const certificateFiles: string[] = [];
  const one = (k: string): string | undefined => first.get(k)?.[0];
  /** IgnoreUnknown: the first in force, from where it stands on (readconf.c). */
  let ignoredUnknown: string[] | undefined;
  /** One pass; `hostFor` is what Host lines are matched against (the name given, then the host after the first pass). */
  const pass = (finalPass: boolean, hostFor: string): void => {
    for (const blocks of files) {
      for (const b of blocks) {
        const state = (): MatchState => ({
          host: one('hostname')?.replace(/%h/g, name) ?? name,
          originalHost: name,
          user: givenUser ?? one('user') ?? ctx.localUser,
          localUser: ctx.localUser,
          tag: one('tag'),
          keyAlias: one('hostkeyalias'),
          finalPass,
          port: Number(one('port') ?? 22),
          ctx,
        });
        const holds = (c: Condition): boolean => (!c.patterns || hostPatternsMatch(c.patterns, hostFor)) && (!c.match || matchHolds(c.match, state()));
        const active = (b.guards ?? []).every(holds) && holds(b);
        for (const l of b.lines) {
          // every line's keyword is checked, in force or not, as ssh's parse_token does
          if (!knownKeyword(l.key) && !(ignoredUnknown && patternListMatches(ignoredUnknown, l.key))) {
            throw new UserError(
              `ssh_config: ${l.where ? `${l.where}: ` : ''}Bad configuration option: ${l.key} (ssh refuses this config too; IgnoreUnknown ${l.key} lets both read it)`,
            );
          }
          // a value ssh's parse_multistate does not know is refused wherever it stands (readconf.c)
          if (l.key === 'canonicalizehostname' && !CANONICALIZE.includes((l.args[0] ?? '').toLowerCase())) {
            throw new UserError(
              `ssh_config: ${l.where ? `${l.where}: ` : ''}unsupported option "${plain(l.args[0] ?? '')}" for CanonicalizeHostname (ssh refuses this config too)`,
            );
          }
          if (!active) continue;
          if (l.key === 'ignoreunknown') ignoredUnknown ??= (l.args[0] ?? '').split(',');
          const file = l.args[0];
          if (l.key === 'identityfile' || l.key === 'certificatefile') {
            const list = l.key === 'identityfile' ? identityFiles : certificateFiles;
            if (file !== undefined && !list.includes(file)) list.push(file);
          } else if (l.key === 'proxyjump' || l.key === 'proxycommand') {
            // "whichever is specified first will prevent later instances of the other" (ssh_config(5))
            if (!first.has('proxyjump') && !first.has('proxycommand')) first.set(l.key, l.key === 'proxycommand' ? [l.rest] : l.args);
          } else if (!first.has(l.key)) first.set(l.key, l.args);
        }
      }
    }
  };
  pass(false, name);
  // ssh lowercases the host name it connects to (ssh.c), HostName's and %h's alike; an address stays as written
  const given = one('hostname')?.replace(/%h/g, name) ?? name;
  let host = isAddress(given) ? given : given.toLowerCase();
  // CanonicalizeHostname: always, or on (yes, true); no, false or unset leave names alone
  const said = one('canonicalizehostname')?.toLowerCase();
  const mode = said === undefined || said === 'no' || said === 'false' ? undefined : said === 'always' ? 'always' : 'yes';
  if (mode && !isAddress(host)) {
    const via = (k: string): boolean => first.has(k) && first.get(k)![0]!.toLowerCase() !== 'none';
    host = canonicalName(host, mode, one, (k) => first.get(k) ?? [], jumpGiven || via('proxyjump') || via('proxycommand'), ctx);
  }
  // canonicalisation on, or `Match final` anywhere: ssh reads everything again with HostName set to the host, values found so far kept
  if (mode || files.some((blocks) => blocks.some((b) => b.match?.some((c) => c.name === 'final')))) {
    first.set('hostname', [host]);
    pass(true, host);
  }
  const hostName = first.has('hostname') ? host : undefined;
  const user = one('user');
  const portText = one('port');
  const port = portText && /^\d+$/.test(portText) ? Number(portText) : undefined;
  // %r is the user connect logs in as: one given with the host wins over User, as ssh -l does
  const values: TokenValues = { host, originalHost: name, user: givenUser ?? user ?? ctx.localUser, port: port ?? 22, keyAlias: one('hostkeyalias') ?? name };
  const x =
    (what: string) =>
    (v: string): string =>
      expandPath(v, what, values, ctx);
  const strict = one('stricthostkeychecking');
  // BatchMode yes with no ServerAliveInterval of its own: 300 s, as ssh's fill_default_options sets it
  const alive = one('serveraliveinterval') ?? (one('batchmode')?.toLowerCase() === 'yes' ? '300' : undefined);
  const out: { -readonly [K in keyof SshHostOptions]: SshHostOptions[K] } = {
    unsupported: unsupportedOptions(one),
    algorithms: Object.fromEntries(ALGORITHM_LINES.flatMap((k) => (one(k.toLowerCase()) ? [[k, one(k.toLowerCase())!]] : []))),
    identityFiles: identityFiles.filter((f) => f.toLowerCase() !== 'none').map(x('IdentityFile')),
    certificateFiles: certificateFiles.filter((f) => f.toLowerCase() !== 'none').map(x('CertificateFile')),
  };
  if (hostName !== undefined) out.hostName = hostName;
  if (user !== undefined) out.user = user;
  if (port !== undefined) out.port = port;
  const only = one('identitiesonly');
  if (only !== undefined) out.identitiesOnly = only.toLowerCase() === 'yes';
  const jump = one('proxyjump');
  if (jump !== undefined) out.proxyJump = jump;
  const command = one('proxycommand');
  if (command !== undefined && command.toLowerCase() !== 'none') out.proxyCommand = command;
  // every file of the first UserKnownHostsFile line is read; new keys go to its first (readconf.c, hostfile.c)
  const known = first.get('userknownhostsfile')?.filter((f) => f.toLowerCase() !== 'none');
  if (known?.length) {
    out.userKnownHostsFile = x('UserKnownHostsFile')(known[0]!);
    if (known.length > 1) out.moreUserKnownHostsFiles = known.slice(1).map(x('UserKnownHostsFile'));
  }
  const global = first.get('globalknownhostsfile');
  // ssh expands no tokens there (ssh.c), only ~
  if (global !== undefined) out.globalKnownHostsFiles = global.filter((f) => f.toLowerCase() !== 'none').map((f) => tildePath(f, ctx.home));
  const agent = one('identityagent');
  if (agent !== undefined) out.identityAgent = identityAgent(agent, x('IdentityAgent'), ctx.env ?? process.env);
  if (strict !== undefined && YES_NO[strict.toLowerCase()]) out.strictHostKeyChecking = YES_NO[strict.toLowerCase()]!;
  if (alive !== undefined && /^\d+$/.test(alive)) out.serverAliveInterval = Number(alive);
  const aliveMax = one('serveralivecountmax');
  if (aliveMax !== undefined && /^\d+$/.test(aliveMax)) out.serverAliveCountMax = Number(aliveMax);
  if (one('hashknownhosts')?.toLowerCase() === 'yes') out.hashKnownHosts = true;
  const timeout = one('connecttimeout');
  if (timeout !== undefined && /^\d+$/.test(timeout) && Number(timeout) > 0) out.connectTimeout = Number(timeout);
  return out;
}

/**
 * What ssh would do for this host that cloudbridge does not: each named
 * rather than silently skipped. (GSSAPI, SendEnv and HashKnownHosts, in
 * Debian's own ssh_config, have nothing to do with what connect needs.)
 */
function unsupportedOptions(one: (k: string) => string | undefined): string[] {
  const out: string[] = [];
  /** Values that ask for nothing ssh would not do anyway (its defaults). */
  const idle: Record<string, readonly string[]> = { addressfamily: ['any'], connectionattempts: ['1'], rekeylimit: ['default'] };
  const on = (k: string): string | undefined => {
    const v = one(k);
    return v !== undefined && !['no', 'none', 'false', ...(idle[k] ?? [])].includes(v.toLowerCase()) ? v : undefined;
  };
  const says: [string, string, string][] = [
    ['controlmaster', 'ControlMaster', 'cloudbridge keeps its own connection and shares none'],
    ['pkcs11provider', 'PKCS11Provider', "load the token's keys into ssh-agent (ssh-add -s) instead"],
    ['securitykeyprovider', 'SecurityKeyProvider', 'security keys (sk-*) are not supported'],
    ['hostkeyalias', 'HostKeyAlias', 'known_hosts is looked up by the host name'],
    ['knownhostscommand', 'KnownHostsCommand', 'only known_hosts files are read'],
    ['canonicalizepermittedcnames', 'CanonicalizePermittedCNAMEs', 'CNAMEs are not followed: name the canonical host in HostName'],
    ['proxyusefdpass', 'ProxyUseFdpass', "the ProxyCommand's stdin and stdout carry the connection"],
    ['localforward', 'LocalForward', 'use forwards: in the cloudbridge config'],
    ['remoteforward', 'RemoteForward', 'not done by cloudbridge'],
    ['dynamicforward', 'DynamicForward', 'use socks: in the cloudbridge config'],
    ['usekeychain', 'UseKeychain', 'add the key to the agent instead: ssh-add --apple-use-keychain'],
    ['addressfamily', 'AddressFamily', 'every address the name has is tried, IPv4 and IPv6'],
    ['bindaddress', 'BindAddress', 'connections leave from the address the route gives'],
    ['bindinterface', 'BindInterface', 'connections leave by the interface the route gives'],
    ['connectionattempts', 'ConnectionAttempts', 'one attempt per connect; a lost session is retried with backoff'],
    ['nohostauthenticationforlocalhost', 'NoHostAuthenticationForLocalhost', "localhost's key is checked like any other: set StrictHostKeyChecking for it"],
    ['verifyhostkeydns', 'VerifyHostKeyDNS', 'SSHFP records are not read: known_hosts decides'],
    ['revokedhostkeys', 'RevokedHostKeys', 'use @revoked lines in known_hosts'],
    ['rekeylimit', 'RekeyLimit', "ssh2's rekeying applies (the server's RekeyLimit still does)"],
  ];
  for (const [key, name, instead] of says) {
    const v = on(key);
    if (v !== undefined) out.push(`${name} ${v} (${instead})`);
  }
  return out;
}

export interface JumpSpec {
  readonly host: string;
  readonly user: string | undefined;
  readonly port: number | undefined;
}

/** `ProxyJump` value: comma-separated [user@]host[:port]; "none" for none. */
export function parseProxyJump(value: string): JumpSpec[] {
  if (value.toLowerCase() === 'none') return [];
  return value.split(',').map((hop) => {
    // [user@]host[:port] or ssh://[user@]host[:port]; the user is what comes before the last @ (user@domain@host)
    const text = hop.trim().replace(/^ssh:\/\/([^/]*)\/?$/i, '$1');
    const at = text.lastIndexOf('@');
    const m = /^(\[[^\]]+\]|[^:@]+)(?::(\d+))?$/.exec(text.slice(at + 1));
    if (!m || at === 0) throw new Error(`ProxyJump: cannot read "${hop}"`);
    return { user: at > 0 ? text.slice(0, at) : undefined, host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : undefined };
  });
}
