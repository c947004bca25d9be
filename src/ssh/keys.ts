import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import type { ParsedKey, PublicKeyEntry } from 'ssh2';
import { ssh2 } from '../ssh2/load.js';
import { asUser, type InvokingUser } from '../util/user.js';
import { certificateProblem, isCertType, parseCertificate } from './certs.js';
import { keyTypeOfBlob, SshReader } from './wire.js';
import { certifiedKey } from './userCerts.js';

/**
 * Keys as ssh matches them across files and the agent: by their public half
 * in SSH wire form. Key files are the user's: callers read them in asUser.
 */

/** The key in FILE.pub, if there is one to read: how an agent's copy of FILE is known. */
export function publicBeside(file: string): Buffer | undefined {
  try {
    const pub = ssh2.utils.parseKey(fs.readFileSync(`${file}.pub`));
    return pub instanceof Error ? undefined : pub.getPublicSSH();
  } catch {
    return undefined;
  }
}

/** The plain key behind a certificate the agent holds (certifiedKey objects made in UserAgent). */
const CERT_BASE = Symbol('certified key');
type MaybeCertified = ParsedKey & { [CERT_BASE]?: ParsedKey };

/** An agent's key in wire form, a certificate's plain key for one (OpenSSH's agent answers with parsed keys; the types allow entries too). */
const wireForm = (k: ParsedKey | PublicKeyEntry): Buffer | undefined =>
  'getPublicSSH' in k ? ((k as MaybeCertified)[CERT_BASE] ?? k).getPublicSSH() : undefined;

/** SSH_AGENTC_REQUEST_IDENTITIES, answered as raw blobs: ssh2 parses them and drops the certificates it cannot read. */
function identityBlobs(stream: Duplex): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err: Error | undefined, blobs: Buffer[] = []): void => {
      stream.destroy();
      if (err) reject(err);
      else resolve(blobs);
    };
    stream.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) return;
      try {
        if (buf[4] !== 12) return done(new Error(`agent answered ${buf[4]}`)); // SSH_AGENT_IDENTITIES_ANSWER
        const answer = new SshReader(buf.subarray(5, 4 + buf.readUInt32BE(0)), "agent's answer");
        const blobs: Buffer[] = [];
        for (let n = answer.u32(); n > 0; n--) {
          blobs.push(Buffer.from(answer.string()));
          answer.string(); // comment
        }
        done(undefined, blobs);
      } catch (err) {
        done(err as Error);
      }
    });
    stream.on('error', (err: Error) => done(err));
    stream.write(Buffer.from([0, 0, 0, 1, 11]));
  });
}

type GetStream = Parameters<InstanceType<typeof ssh2.OpenSSHAgent>['getStream']>[0];
type GetIdentities = Parameters<InstanceType<typeof ssh2.OpenSSHAgent>['getIdentities']>[0];

/**
 * ssh-agent, reached with the invoking user's rights: the socket is
 * connected as the user, so a path they name (SSH_AUTH_SOCK under sudo,
 * --agent) cannot lend them root's agent or another user's.
 */
export class UserAgent extends ssh2.OpenSSHAgent {
  constructor(
    private readonly socket: string,
    private readonly user: InvokingUser,
    /** PubkeyAcceptedAlgorithms: which key and certificate types may be offered (all without it). */
    private readonly accepts?: (type: string) => boolean,
  ) {
    super(socket);
  }

  /** Why the agent could not be used, once it failed: authentication goes on without it, as ssh's does. */
  problem: string | undefined;

  // ssh2 connects in getStream, synchronously (a unix socket's connect() runs before it returns)
  override getStream(cb: GetStream): void {
    asUser(this.user, () => super.getStream(cb));
  }

  override getIdentities(cb: GetIdentities): void {
    super.getIdentities((err, keys) => {
      if (err) {
        this.problem = `the agent at ${this.socket} (${err.message}, as ${this.user.name})`;
        return cb(null, []);
      }
      // certificates the agent holds (ssh-add adds KEY-cert.pub with KEY), before their keys, as ssh offers them
      this.getStream((e, stream) => {
        if (e || !stream) return cb(null, this.accepted(keys ?? []));
        identityBlobs(stream as Duplex).then(
          (blobs) => cb(null, this.accepted([...this.certified(blobs, (keys ?? []) as ParsedKey[]), ...(keys ?? [])])),
          () => cb(null, this.accepted(keys ?? [])),
        );
      });
    });
  }

  private accepted<K extends ParsedKey | PublicKeyEntry>(keys: readonly K[]): K[] {
    const { accepts } = this;
    return accepts ? keys.filter((k) => 'type' in k && accepts(k.type)) : [...keys];
  }

  /** Key objects for the agent's certificates whose plain key it holds too; unreadable or expired ones are left out. */
  private certified(blobs: readonly Buffer[], keys: readonly ParsedKey[]): ParsedKey[] {
    const out: ParsedKey[] = [];
    for (const blob of blobs) {
      if (!isCertType(keyTypeOfBlob(blob))) continue;
      try {
        const cert = parseCertificate(blob);
        const base = keys.find((k) => k.getPublicSSH().equals(cert.key));
        if (!base || certificateProblem(cert, 'user', undefined)) continue;
        const key = certifiedKey(base, { file: 'agent', blob, type: cert.type, key: cert.key }) as MaybeCertified;
        Object.defineProperty(key, CERT_BASE, { value: base });
        out.push(key);
      } catch {
        // a certificate this reader cannot parse is not offered
      }
    }
    return out;
  }

  /** A certificate is signed for by its plain key (RSA with SHA-512, as rsa-sha2-512-cert-v01 says). */
  override sign(pubKey: string | Buffer | ParsedKey, data: Buffer, ...rest: unknown[]): boolean {
    const [options, cb] = typeof rest[0] === 'function' ? [undefined, rest[0]] : [rest[0] as object | undefined, rest[1]];
    const base = typeof pubKey === 'object' && !Buffer.isBuffer(pubKey) ? (pubKey as MaybeCertified)[CERT_BASE] : undefined;
    const sign = super.sign.bind(this) as (key: unknown, data: Buffer, options: unknown, cb: unknown) => boolean;
    if (!base) return sign(pubKey, data, options, cb);
    return sign(base, data, base.type === 'ssh-rsa' ? { ...options, hash: 'sha512' } : options, cb);
  }
}

/** The keys an ssh-agent holds; none without one, or when it does not answer within a second. */
export function agentKeys(socket: string | undefined, user: InvokingUser): Promise<Buffer[]> {
  if (!socket || !fs.existsSync(socket)) return Promise.resolve([]);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve([]), 1000);
    new UserAgent(socket, user).getIdentities((err, keys) => {
      clearTimeout(timer);
      resolve(err || !keys ? [] : keys.flatMap((k) => wireForm(k) ?? []));
    });
  });
}

/**
 * The agent as IdentitiesOnly sees it: only the keys the configured identity
 * files name. ssh asks the agent for those even where only the public half is
 * on disk (IdentityFile key.pub, a hardware or password-manager agent).
 */
export class NamedKeysAgent extends UserAgent {
  constructor(
    socket: string,
    user: InvokingUser,
    private readonly named: readonly Buffer[],
    accepts?: (type: string) => boolean,
  ) {
    super(socket, user, accepts);
  }

  override getIdentities(cb: GetIdentities): void {
    super.getIdentities((err, keys) =>
      cb(
        err,
        keys?.filter((k) => {
          const wire = wireForm(k);
          return wire !== undefined && this.named.some((n) => n.equals(wire));
        }),
      ),
    );
  }
}
