import path from 'node:path';
import { parseAllowEntry } from './allow.js';
import { ForwardProblem, formatEndpoint, parseEndpoint, parseForward, type Endpoint, type ForwardConfig } from './forwards.js';
import { parseIPv4 } from './ipv4.js';
import { formatIPv6, parseIPv6 } from './ipv6.js';
import { bool, checkKeys, Field, filePath, int, ipv4, isObj, oneOf, str, type ValidateContext } from './field.js';
import { validateRoutes } from './routes.js';
import { CIPHERS, type Cipher } from './ciphers.js';
import type { Config, DockerMode, SocksConfig, EnvironmentConfig, StrictHostKeyChecking, TunnelConfig } from './types.js';
import { deviceFor, ENV_NAME, ENV_NAME_RULE, RESERVED_NAMES } from './names.js';
import { CONFIG, DNS, DOCKER, ENVIRONMENT, keysOf, MAX_MTU, MIN_MTU, SOCKS, TUNNEL, TUNNEL_MTU, DEVICE } from './spec.js';

export { MAX_MTU, MIN_MTU };
export type { ValidateContext };
/**
 * Largest packet towards the remote host with mtu: auto. That direction is
 * not bound by sshd's 16 KiB tun reads, only by its channel's maximum packet
 * (32 KiB in OpenSSH), which counts a datagram's length prefix (4 bytes),
 * less the 4-byte address family.
 */
export const MAX_UPSTREAM_MTU = 32760;

function isDomainName(s: string): boolean {
  return s.length <= 253 && s.split('.').every((label) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(label));
}

function validateEnvironment(name: string, raw: unknown, ctx: ValidateContext): EnvironmentConfig {
  const f: Field = new Field(ctx, `environments.${name}`);
  if (!ENV_NAME.test(name)) {
    f.fail(`environment names are ${ENV_NAME_RULE}`);
  }
  if (RESERVED_NAMES.includes(name)) f.fail(`"${name}" is the name of docker's own context: pick another`);
  if (!isObj(raw)) f.fail('must be a mapping');
  checkKeys(f, raw, keysOf(ENVIRONMENT));

  const host = str(f.child('host'), raw['host']);
  if (host.startsWith('-') || /\s/.test(host)) f.child('host').fail(`"${host}" is not a host name or address`);

  // tunnel: false — SSH only (SOCKS, forwards, docker socket), for hosts without PermitTunnel
  const tunnel = raw['tunnel'] === false ? undefined : validateTunnel(f.child('tunnel'), raw['tunnel'], name);
  const l3 = tunnel !== undefined;

  const r = validateRoutes(f, raw, tunnel);

  const df: Field = f.child('docker');
  const dockerRaw = raw['docker'] ?? {};
  if (!isObj(dockerRaw)) df.fail('must be a mapping');
  checkKeys(df, dockerRaw, keysOf(DOCKER));
  const mode = oneOf<DockerMode>(df.child('mode'), dockerRaw['mode'], DOCKER.fields.mode);
  let dockerHost: string | undefined;
  let dockerTcp: Endpoint | undefined;
  if (mode === 'tcp') {
    if (!tunnel) return df.child('mode').fail('tcp needs the L3 tunnel (tunnel is false); use socket');
    dockerHost = str(df.child('host'), dockerRaw['host'], `tcp://${formatEndpoint({ kind: 'inet', host: tunnel.remote ?? tunnel.remote6!, port: 2375 })}`);
    const m = /^tcp:\/\/(?:([0-9.]+)|\[([0-9a-fA-F:.]+)\]):(\d{1,5})$/.exec(dockerHost);
    const addr = m?.[1] ?? m?.[2];
    const ok = m && (m[1] ? parseIPv4(m[1]) !== undefined : parseIPv6(m[2]!) !== undefined) && Number(m[3]) <= 65535;
    if (!ok) df.child('host').fail(`"${dockerHost}" is not of the form tcp://IPv4:PORT or tcp://[IPv6]:PORT`);
    dockerTcp = { kind: 'inet', host: addr!, port: Number(m![3]) };
  } else if (dockerRaw['host'] !== undefined) {
    df.child('host').fail('only applies to mode: tcp');
  }
  const remoteSocket = str(df.child('remoteSocket'), dockerRaw['remoteSocket'], '/var/run/docker.sock');
  if (!remoteSocket.startsWith('/')) df.child('remoteSocket').fail('must be an absolute path');
  const dockerApi: Endpoint | undefined = mode === 'socket' ? { kind: 'unix', path: remoteSocket } : dockerTcp;
  const expose = oneOf(df.child('expose'), dockerRaw['expose'], DOCKER.fields.expose);
  if (expose === 'labels' && mode === 'off') df.child('expose').fail('needs docker mode socket or tcp (the controller watches the remote daemon)');
  const exposeAddressesRaw = dockerRaw['exposeAddresses'] ?? [];
  if (!Array.isArray(exposeAddressesRaw)) df.child('exposeAddresses').fail('must be a list of local addresses container labels may listen on');
  const exposeAddresses = (exposeAddressesRaw as unknown[]).map((a, i) => {
    const item = df.child('exposeAddresses').child(String(i));
    const s = str(item, a);
    const v6 = s.includes(':') ? parseIPv6(s) : undefined;
    if (parseIPv4(s) === undefined && v6 === undefined) item.fail(`"${s}" is not an IPv4 or IPv6 address`);
    // IPv6 in RFC 5952's form, as labels' addresses are compared in (docker/labels.ts)
    return v6 === undefined ? s : formatIPv6(v6);
  });
  const exposeLowPorts = bool(df.child('exposeLowPorts'), dockerRaw['exposeLowPorts'], DOCKER.fields.exposeLowPorts);
  const warm = bool(df.child('warm'), dockerRaw['warm'], DOCKER.fields.warm, mode === 'socket');
  const required = bool(df.child('required'), dockerRaw['required'], DOCKER.fields.required);
  if (warm && mode !== 'socket') df.child('warm').fail('only applies to mode: socket');

  const nf: Field = f.child('dns');
  const dnsRaw = raw['dns'] ?? {};
  if (!isObj(dnsRaw)) nf.fail('must be a mapping with domains and servers');
  checkKeys(nf, dnsRaw, keysOf(DNS));
  const list = (lf: Field, v: unknown, check: (s: string) => boolean, what: string): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) lf.fail('must be a list');
    return (v as unknown[]).map((x, i) => {
      const s = str(lf.child(String(i)), x);
      if (!check(s)) lf.child(String(i)).fail(`"${s}" is not ${what}`);
      return s;
    });
  };
  const domains = list(nf.child('domains'), dnsRaw['domains'], isDomainName, 'a domain name');
  const servers = list(nf.child('servers'), dnsRaw['servers'], (x) => parseIPv4(x) !== undefined || parseIPv6(x) !== undefined, 'an IPv4 or IPv6 address');
  const containers = bool(nf.child('containers'), dnsRaw['containers'], DNS.fields.containers);
  if (containers && mode === 'off') nf.child('containers').fail('needs docker mode socket or tcp (names come from the remote daemon)');

  const af: Field = f.child('allow');
  const allowRaw = raw['allow'] ?? [];
  if (!Array.isArray(allowRaw)) af.fail('must be a list of entries like "10.0.0.0/16", "db.internal tcp 5432"');
  const allow = (allowRaw as unknown[]).map((a, i) => {
    const rule = parseAllowEntry(a);
    return typeof rule === 'string' ? af.child(String(i)).fail(rule) : rule;
  });

  const ff: Field = f.child('forwards');
  const forwardsRaw = raw['forwards'] ?? [];
  if (!Array.isArray(forwardsRaw)) ff.fail('must be a list of { listen, to } mappings');
  const forwards: ForwardConfig[] = [];
  (forwardsRaw as unknown[]).forEach((x, i) => {
    const item = ff.child(String(i));
    let fwd: ForwardConfig;
    try {
      fwd = parseForward(x, (p) => filePath(item, p, ctx)!);
    } catch (err) {
      if (!(err instanceof ForwardProblem)) throw err;
      return err.field ? item.child(err.field).fail(err.message) : item.fail(err.message);
    }
    const same = forwards.find((o) => o.protocol === fwd.protocol && formatEndpoint(o.listen) === formatEndpoint(fwd.listen));
    if (same) item.child('listen').fail(`${fwd.name} is listed twice`);
    if (fwd.listen.kind === 'unix') fwd = { ...fwd, listen: { kind: 'unix', path: filePath(item.child('listen'), fwd.listen.path, ctx)! } };
    forwards.push(fwd);
  });

  const sf: Field = f.child('socks');
  const socksRaw = raw['socks'] === true ? {} : raw['socks'];
  let socks: SocksConfig | undefined;
  if (socksRaw !== undefined && socksRaw !== null && socksRaw !== false) {
    if (!isObj(socksRaw)) sf.fail('must be true or a mapping { listen, username, password }');
    checkKeys(sf, socksRaw, keysOf(SOCKS));
    const listenRaw = socksRaw['listen'] ?? ['127.0.0.1:1080'];
    const listenList = Array.isArray(listenRaw) ? (listenRaw as unknown[]) : [listenRaw];
    const listen = listenList.map((x, i) => {
      const lf = Array.isArray(listenRaw) ? sf.child('listen').child(String(i)) : sf.child('listen');
      try {
        const e = parseEndpoint(typeof x === 'number' ? String(x) : str(lf, x), 'listen', '127.0.0.1');
        return e.kind === 'inet' ? { host: e.host, port: e.port } : lf.fail('is ADDRESS:PORT, INTERFACE:PORT or PORT');
      } catch (err) {
        return err instanceof ForwardProblem
          ? lf.fail(err.message)
          : (() => {
              throw err;
            })();
      }
    });
    const username = socksRaw['username'] === undefined ? undefined : str(sf.child('username'), socksRaw['username']);
    const password = socksRaw['password'] === undefined ? undefined : str(sf.child('password'), socksRaw['password']);
    if ((username === undefined) !== (password === undefined)) sf.fail('username and password go together');
    if ((username?.length ?? 0) > 255 || (password?.length ?? 0) > 255) sf.fail('username and password are at most 255 bytes (RFC 1929)');
    socks = { listen, auth: username !== undefined ? { username, password: password! } : undefined };
  }
  if (!l3) {
    if (raw['nat'] === true) f.child('nat').fail('needs the L3 tunnel (tunnel is false)');
    if (mode === 'tcp') df.child('mode').fail('tcp needs the L3 tunnel (tunnel is false); use socket');
    if (forwards.some((x) => x.protocol === 'udp')) ff.fail('UDP forwards need the L3 tunnel (tunnel is false)');
    if (allow.length) af.fail('filters the L3 tunnel and SOCKS; with tunnel: false leave it out or turn the tunnel on');
  }

  return {
    name,
    source: ctx.source,
    host,
    user: str(f.child('user'), raw['user'], 'root'),
    port: int(f.child('port'), raw['port'], ENVIRONMENT.fields.port, 22),
    identityFiles: (Array.isArray(raw['identityFile'])
      ? (raw['identityFile'] as unknown[])
      : raw['identityFile'] === undefined
        ? []
        : [raw['identityFile']]
    ).map((v, i) => filePath(Array.isArray(raw['identityFile']) ? f.child('identityFile').child(String(i)) : f.child('identityFile'), v, ctx)!),
    explicit: {
      user: raw['user'] !== undefined,
      port: raw['port'] !== undefined,
      knownHostsFile: raw['knownHostsFile'] !== undefined,
      strictHostKeyChecking: raw['strictHostKeyChecking'] !== undefined,
      deadAfter: raw['deadAfter'] !== undefined,
      localMasquerade: raw['localMasquerade'] !== undefined,
    },
    sshConfigFiles:
      raw['sshConfig'] !== undefined ? [filePath(f.child('sshConfig'), raw['sshConfig'], ctx)!] : [path.join(ctx.home, '.ssh/config'), '/etc/ssh/ssh_config'],
    knownHostsFile: filePath(f.child('knownHostsFile'), raw['knownHostsFile'], ctx, '~/.ssh/known_hosts')!,
    strictHostKeyChecking: oneOf<StrictHostKeyChecking>(
      f.child('strictHostKeyChecking'),
      raw['strictHostKeyChecking'],
      ENVIRONMENT.fields.strictHostKeyChecking,
    ),
    connectTimeout: int(f.child('connectTimeout'), raw['connectTimeout'], ENVIRONMENT.fields.connectTimeout),
    ciphers: list(f.child('ciphers'), raw['ciphers'], (c) => (CIPHERS as readonly string[]).includes(c), `one of ${CIPHERS.join(', ')}`) as Cipher[],
    deadAfter: int(f.child('deadAfter'), raw['deadAfter'], ENVIRONMENT.fields.deadAfter),
    onDemand: bool(f.child('onDemand'), raw['onDemand'], ENVIRONMENT.fields.onDemand),
    idleTimeout: int(f.child('idleTimeout'), raw['idleTimeout'], ENVIRONMENT.fields.idleTimeout),
    tunnel,
    routes: r.routes,
    mssClamps: r.mssClamps,
    fullTunnel: r.fullTunnel,
    routes6: r.routes6,
    mssClamps6: r.mssClamps6,
    fullTunnel6: r.fullTunnel6,
    exclude: r.exclude,
    lan: r.lan,
    onLoss: r.onLoss,
    nat: bool(f.child('nat'), raw['nat'], ENVIRONMENT.fields.nat),
    localMasquerade: bool(f.child('localMasquerade'), raw['localMasquerade'], ENVIRONMENT.fields.localMasquerade),
    docker: { mode, host: dockerHost, remoteSocket, api: dockerApi, expose, exposeAddresses, exposeLowPorts, warm, required },
    // on by default where everything goes through the tunnel: a full tunnel of IPv4, or of an IPv6-only tunnel's IPv6
    dns: {
      domains,
      servers,
      containers,
      all: bool(nf.child('all'), dnsRaw['all'], DNS.fields.all, r.fullTunnel || (r.fullTunnel6 && tunnel?.local === undefined)),
    },
    allow,
    forwards,
    socks,
  };
}

/** The tunnel mapping: point-to-point addresses, MTU (a number or auto), remote unit, local device. */
function validateTunnel(tf: Field, raw: unknown, name: string): TunnelConfig {
  if (!isObj(raw)) tf.fail('is required: a mapping with local and remote addresses (or false: no L3 tunnel, SSH forwarding only)');
  checkKeys(tf, raw, keysOf(TUNNEL));
  // IPv4's pair may be left out when IPv6's is there: an IPv6-only tunnel
  const v4 = raw['local'] !== undefined || raw['remote'] !== undefined || (raw['local6'] === undefined && raw['remote6'] === undefined);
  const local = v4 ? ipv4(tf.child('local'), raw['local']) : undefined;
  const remote = v4 ? ipv4(tf.child('remote'), raw['remote']) : undefined;
  if (v4 && local === remote) tf.fail('local and remote must differ');
  const device = str(tf.child('device'), raw['device'], deviceFor(name));
  if (!new RegExp(DEVICE.pattern!).test(device)) tf.child('device').fail('must be 1-15 characters of A-Z, a-z, 0-9, _, . and -');
  const remoteUnit = raw['remoteUnit'] === undefined ? undefined : int(tf.child('remoteUnit'), raw['remoteUnit'], TUNNEL.fields.remoteUnit);
  const mtuAuto = raw['mtu'] === undefined || raw['mtu'] === 'auto';
  const mtu = mtuAuto ? MAX_MTU : int(tf.child('mtu'), raw['mtu'], TUNNEL_MTU, 1500);
  const v6 = (key: 'local6' | 'remote6'): string | undefined => {
    if (raw[key] === undefined) return undefined;
    const s = str(tf.child(key), raw[key]);
    const a = parseIPv6(s);
    if (a === undefined) tf.child(key).fail(`"${s}" is not an IPv6 address`);
    return formatIPv6(a!);
  };
  const local6 = v6('local6');
  const remote6 = v6('remote6');
  if ((local6 === undefined) !== (remote6 === undefined)) tf.fail('local6 and remote6 go together');
  if (local6 !== undefined && local6 === remote6) tf.fail('local6 and remote6 must differ');
  if (local6 !== undefined && mtu < 1280) tf.child('mtu').fail('IPv6 needs an MTU of at least 1280 (RFC 8200)');
  return { local, remote, mtu, mtuAuto, remoteUnit, device, local6, remote6 };
}

/** Validates a parsed config document. Every message names the file, the environment and the field. */
export function validateConfig(doc: unknown, ctx: ValidateContext): Config {
  const top: Field = new Field(ctx, 'top level');
  if (!isObj(doc)) top.fail('must be a mapping with an "environments" key');
  checkKeys(top, doc, keysOf(CONFIG));
  const envs = doc['environments'];
  const ef: Field = new Field(ctx, 'environments');
  if (!isObj(envs)) ef.fail('is required: a mapping from environment name to settings');
  const environments = new Map<string, EnvironmentConfig>();
  for (const [name, raw] of Object.entries(envs)) {
    environments.set(name, validateEnvironment(name, raw, ctx));
  }
  return { source: ctx.source, environments };
}
