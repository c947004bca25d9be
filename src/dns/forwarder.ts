import dgram from 'node:dgram';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { parseIPv6 } from '../config/ipv6.js';
import { answer, fitUdp, inDomain, parseQuery, RCODE_NXDOMAIN, RCODE_SERVFAIL, TYPE_A, TYPE_AAAA, type Question } from './message.js';
import type * as Families from './families.js';

/**
 * families.ts, with dns-packet (~56 KB bundled, a quarter of the
 * controller's chunk), loads with the first answer from the remote side:
 * connect and most environments never need it.
 */
let families: Promise<typeof Families> | undefined;
const loadFamilies = (): Promise<typeof Families> => (families ??= import('./families.js'));

const REMOTE_TIMEOUT_MS = 3000;
const UPSTREAM_TIMEOUT_MS = 2000;
/** TTL of answers from the container map: short, containers come and go. */
const CONTAINER_TTL = 5;

export interface ForwarderDeps {
  /** Names under these go to the remote side's resolvers. */
  readonly domains: readonly string[];
  /** The tunnel carries IPv6: AAAA answers from the remote side are passed on. */
  readonly ipv6?: boolean;
  /** The tunnel carries IPv4 (unless it is IPv6-only): A answers from the remote side are passed on. */
  readonly ipv4?: boolean;
  /** Every name goes there (dns.all; a full tunnel's only while it stands). */
  readonly all?: () => boolean;
  /** The remote side's resolvers (addresses as the remote host reaches them). */
  readonly remoteServers: () => readonly string[];
  /** A stream to HOST:PORT from the remote host (SSH direct-tcpip), when there is a session. */
  readonly dialRemote: (host: string, port: number) => Promise<Duplex>;
  /** Everything else goes to these (the resolvers this host had before). */
  readonly upstream: readonly string[];
  /**
   * Names always asked of `upstream`, even under `all`: the SSH hops this
   * host dials. Asked through the tunnel they would need the session they
   * are to make (a full tunnel that blocks while it reconnects); their
   * answers tell an onlooker nothing the SSH flow does not.
   */
  readonly direct?: readonly string[];
  /**
   * A socket bound to port 53 of an address, made by someone allowed to
   * (the root helper, when the controller runs as the user): its fd. Absent:
   * this process binds it itself.
   */
  readonly bind53?: ((address: string, proto: 'udp' | 'tcp') => Promise<number>) | undefined;
  /** A zone answered from memory (remote containers: NAME.ENV.docker), or undefined. */
  readonly zone:
    | { readonly domain: string; readonly lookup: (name: string) => { readonly addr: number | undefined; readonly addr6: bigint | undefined } | undefined }
    | undefined;
}

export interface ForwarderStats {
  queries: number;
  /** AAAA questions under the split domains, answered with no records (the tunnel is IPv4). */
  noIPv6: number;
  /** A questions there, answered with no records (the tunnel is IPv6-only). */
  noIPv4: number;
  remote: number;
  zone: number;
  upstream: number;
  failed: number;
}

/**
 * Split DNS on a loopback address: names under `domains` are asked of the
 * remote side's resolvers over SSH (DNS over TCP through direct-tcpip, so a
 * resolver that listens on the remote host's loopback works, and no L3 route
 * is needed), the container zone is answered from memory, and the rest goes
 * to the resolvers the host had before, as it was asked (UDP or TCP).
 */
export class DnsForwarder {
  readonly stats: ForwarderStats = { queries: 0, noIPv6: 0, noIPv4: 0, remote: 0, zone: 0, upstream: 0, failed: 0 };
  private readonly closers: (() => Promise<void>)[] = [];

  /** `direct` as questions spell names: lower case, no trailing dot. */
  private readonly direct: ReadonlySet<string>;

  constructor(private readonly deps: ForwarderDeps) {
    this.direct = new Set((deps.direct ?? []).map((h) => h.toLowerCase().replace(/\.$/, '')));
  }

  /** Listens on UDP and TCP port 53 (or `port`) of `address`, IPv4 or IPv6. */
  async listen(address: string, port = 53): Promise<void> {
    const bound = port === 53 ? this.deps.bind53 : undefined;
    const fds = bound ? { udp: await bound(address, 'udp'), tcp: await bound(address, 'tcp') } : undefined;
    const udp = address.includes(':') ? dgram.createSocket({ type: 'udp6', ipv6Only: true }) : dgram.createSocket({ type: 'udp4' });
    udp.on('message', (msg, from) => {
      void this.resolve(msg, 'udp').then((r) => {
        if (r) udp.send(r.q ? fitUdp(r.response, r.q) : r.response, from.port, from.address);
      });
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      const done = (): void => {
        udp.off('error', reject);
        resolve();
      };
      if (fds) udp.bind({ fd: fds.udp }, done);
      else udp.bind(port, address, done);
    });
    udp.on('error', () => {});
    const tcp = net.createServer((sock) => {
      sock.on('error', () => {});
      readFramed(sock, (msg) => {
        void this.resolve(msg, 'tcp').then((r) => {
          if (r && !sock.destroyed) sock.write(frame(r.response));
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      const done = (): void => {
        tcp.off('error', reject);
        resolve();
      };
      if (fds) tcp.listen({ fd: fds.tcp }, done);
      else tcp.listen(port, address, done);
    });
    this.closers.push(
      () => new Promise((r) => udp.close(() => r())),
      () => new Promise((r) => tcp.close(() => r())),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.closers.splice(0).map((c) => c()));
  }

  /** The response to one query message, or undefined to stay silent (not a query we take). */
  async resolve(msg: Buffer, via: 'udp' | 'tcp'): Promise<{ response: Buffer; q: Question | undefined } | undefined> {
    const q = parseQuery(msg);
    if (!q) return undefined;
    this.stats.queries++;
    const { zone, domains } = this.deps;
    if (zone && inDomain(q.name, zone.domain)) {
      this.stats.zone++;
      const found = zone.lookup(q.name.slice(0, -zone.domain.length - 1));
      // an address only in a family the tunnel carries
      const addrs = [this.deps.ipv4 !== false ? found?.addr : undefined, this.deps.ipv6 ? found?.addr6 : undefined].filter(
        (a): a is number | bigint => a !== undefined,
      );
      return { response: answer(msg, q, addrs, CONTAINER_TTL, found === undefined ? RCODE_NXDOMAIN : 0), q };
    }
    try {
      if (!this.direct.has(q.name) && (this.deps.all?.() || domains.some((d) => inDomain(q.name, d)))) {
        // a tunnel without IPv6 addresses: an AAAA record there would send
        // the client to an address with no route through it (or a leak past
        // it), so it gets "no such record" and uses the A records
        if (q.type === TYPE_AAAA && !this.deps.ipv6) {
          this.stats.noIPv6++;
          return { response: answer(msg, q, [], 0), q };
        }
        // and an IPv6-only tunnel: A records the same way, the client uses AAAA
        if (q.type === TYPE_A && this.deps.ipv4 === false) {
          this.stats.noIPv4++;
          return { response: answer(msg, q, [], 0), q };
        }
        this.stats.remote++;
        // ANY's other family, SVCB/HTTPS hints: cut from what the remote side says (families.ts)
        const { keepFamilies } = await loadFamilies();
        return { response: keepFamilies(await this.askRemote(msg), { v4: this.deps.ipv4 !== false, v6: this.deps.ipv6 === true }), q };
      }
      this.stats.upstream++;
      return { response: await this.askUpstream(msg, q, via), q };
    } catch {
      this.stats.failed++;
      return { response: answer(msg, q, [], 0, RCODE_SERVFAIL), q };
    }
  }

  private async askRemote(msg: Buffer): Promise<Buffer> {
    let last: Error = new Error('no remote resolver known');
    for (const server of this.deps.remoteServers()) {
      try {
        const r = await exchangeTcp(await this.deps.dialRemote(server, 53), msg, REMOTE_TIMEOUT_MS);
        // what comes back over the tunnel is the remote side's word: only an answer to this question is passed on
        if (r.length < 12 || r.readUInt16BE(0) !== msg.readUInt16BE(0) || !(r[2]! & 0x80)) throw new Error(`${server} sent something that is not an answer`);
        return r;
      } catch (err) {
        last = err as Error;
      }
    }
    throw last;
  }

  private async askUpstream(msg: Buffer, q: Question, via: 'udp' | 'tcp'): Promise<Buffer> {
    let last: Error = new Error('no upstream resolver');
    for (const server of this.deps.upstream) {
      try {
        if (via === 'tcp') return await exchangeTcp(net.connect(53, server), msg, UPSTREAM_TIMEOUT_MS);
        return await exchangeUdp(server, msg, q.id);
      } catch (err) {
        last = err as Error;
      }
    }
    throw last;
  }
}

function frame(msg: Buffer): Buffer {
  const b = Buffer.alloc(2 + msg.length);
  b.writeUInt16BE(msg.length, 0);
  msg.copy(b, 2);
  return b;
}

/** Calls `onMessage` for each length-prefixed DNS message arriving on `stream`. */
function readFramed(stream: Duplex, onMessage: (msg: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      onMessage(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
    }
  });
}

/** One query over a stream (DNS over TCP framing); resolves with the response. */
function exchangeTcp(stream: Duplex, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => stream.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    stream.on('error', reject);
    stream.on('close', () => {
      clearTimeout(timer);
      reject(new Error('closed before an answer'));
    });
    readFramed(stream, (response) => {
      resolve(Buffer.from(response));
      stream.destroy();
    });
    stream.write(frame(msg));
  });
}

function exchangeUdp(server: string, msg: Buffer, id: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // the old resolvers may be IPv6 ones (a router's ULA, a provider's 2001:…)
    const s = dgram.createSocket(net.isIPv6(server) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => done(new Error(`${server}: no answer`)), UPSTREAM_TIMEOUT_MS);
    const done = (err?: Error, response?: Buffer): void => {
      clearTimeout(timer);
      s.close();
      if (err) reject(err);
      else resolve(response!);
    };
    s.on('error', (err) => done(err));
    s.on('message', (m, from) => {
      if (sameAddress(from.address, server) && m.length >= 2 && m.readUInt16BE(0) === id) done(undefined, m);
    });
    s.send(msg, 53, server);
  });
}

/** One address however it is written (IPv6: zero runs, case, a %zone). */
function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const six = (s: string): bigint | undefined => parseIPv6(s.split('%')[0]!);
  const x = six(a);
  return x !== undefined && x === six(b);
}
