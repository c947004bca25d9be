import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { globMatch } from './patterns.js';
import { keyTypeOfBlob, SshReader } from './wire.js';

/**
 * OpenSSH certificates (PROTOCOL.certkeys): parsing, and the checks ssh
 * makes of a host certificate (sshkey_cert_check_host) or a user's own.
 * The CA's signature is checked here with node:crypto: this is the trust
 * decision, kept in one small module rather than in ssh2, which has no
 * certificate support.
 */

const CERT_SUFFIX = '-cert-v01@openssh.com';
export const isCertType = (type: string): boolean => type.endsWith(CERT_SUFFIX);

export const CERT_TYPE_USER = 1;
export const CERT_TYPE_HOST = 2;

export interface Certificate {
  readonly type: string;
  /** The certified key as a plain public key blob. */
  readonly key: Buffer;
  readonly serial: bigint;
  readonly certType: number;
  readonly keyId: string;
  readonly principals: readonly string[];
  readonly validAfter: bigint;
  readonly validBefore: bigint;
  readonly criticalOptions: readonly string[];
  /** The CA's public key blob. */
  readonly signatureKey: Buffer;
  readonly signature: Buffer;
  /** What the CA signed: everything before the signature field. */
  readonly signed: Buffer;
}

const sshString = (b: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};

/** Fields of the certified key, by certificate type: how many strings follow the nonce. */
function keyFields(type: string): { plain: string; count: number } {
  const base = type.slice(0, -CERT_SUFFIX.length);
  if (base === 'ssh-ed25519') return { plain: base, count: 1 };
  if (base === 'ssh-rsa') return { plain: base, count: 2 };
  if (/^ecdsa-sha2-nistp(256|384|521)$/.test(base)) return { plain: base, count: 2 };
  throw new Error(`unsupported certificate type ${type}`);
}

export function parseCertificate(blob: Buffer): Certificate {
  const r = new SshReader(blob, 'certificate');
  const type = r.string().toString('latin1');
  if (!isCertType(type)) throw new Error(`not a certificate: ${type}`);
  const { plain, count } = keyFields(type);
  r.string(); // nonce
  const fields: Buffer[] = [];
  for (let i = 0; i < count; i++) fields.push(r.string());
  const serial = r.u64();
  const certType = r.u32();
  const keyId = r.string().toString('utf8');
  const principals: string[] = [];
  const p = new SshReader(r.string(), 'certificate');
  while (!p.done) principals.push(p.string().toString('utf8'));
  const validAfter = r.u64();
  const validBefore = r.u64();
  const critical = new SshReader(r.string(), 'certificate');
  const criticalOptions: string[] = [];
  while (!critical.done) {
    criticalOptions.push(critical.string().toString('utf8'));
    critical.string();
  }
  r.string(); // extensions
  r.string(); // reserved
  const signatureKey = Buffer.from(r.string());
  const signedEnd = r.pos;
  const signature = Buffer.from(r.string());
  const key = Buffer.concat([sshString(Buffer.from(plain, 'latin1')), ...fields.map(sshString)]);
  return {
    type,
    key,
    serial,
    certType,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    signatureKey,
    signature,
    signed: Buffer.from(blob.subarray(0, signedEnd)),
  };
}

/** A plain SSH public key blob as a node:crypto key. */
function keyObject(blob: Buffer): { key: KeyObject; type: string } {
  const r = new SshReader(blob, 'certificate');
  const type = r.string().toString('latin1');
  const b64u = (b: Buffer): string => b.toString('base64url');
  const unsigned = (b: Buffer): Buffer => (b[0] === 0 ? b.subarray(1) : b);
  if (type === 'ssh-ed25519') return { type, key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(r.string()) }, format: 'jwk' }) };
  if (type === 'ssh-rsa') {
    const e = unsigned(r.string());
    const n = unsigned(r.string());
    return { type, key: createPublicKey({ key: { kty: 'RSA', e: b64u(e), n: b64u(n) }, format: 'jwk' }) };
  }
  const curve = /^ecdsa-sha2-nistp(256|384|521)$/.exec(type)?.[1];
  if (curve) {
    r.string();
    const q = r.string();
    const size = (q.length - 1) / 2;
    return {
      type,
      key: createPublicKey({ key: { kty: 'EC', crv: `P-${curve}`, x: b64u(q.subarray(1, 1 + size)), y: b64u(q.subarray(1 + size)) }, format: 'jwk' }),
    };
  }
  throw new Error(`unsupported CA key type ${type}`);
}

/** OpenSSH's default CASignatureAlgorithms: no SHA-1 RSA signatures. */
const CA_SIGNATURE_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'];

/** Whether the CA key in the certificate made its signature. Undefined when it did, else why not. */
export function caSignatureProblem(cert: Certificate): string | undefined {
  try {
    const r = new SshReader(cert.signature, 'signature');
    const algo = r.string().toString('latin1');
    const sig = r.string();
    if (!CA_SIGNATURE_ALGORITHMS.includes(algo)) return `Certificate signed with disallowed algorithm (${algo})`;
    const { key, type } = keyObject(cert.signatureKey);
    let ok: boolean;
    if (type === 'ssh-ed25519') ok = verify(null, cert.signed, key, sig);
    else if (type === 'ssh-rsa') ok = verify(algo === 'rsa-sha2-512' ? 'sha512' : 'sha256', cert.signed, key, sig);
    else {
      const bits = Number(type.slice(-3));
      const s = new SshReader(sig, 'signature');
      const size = Math.ceil(bits / 8);
      const part = (b: Buffer): Buffer => Buffer.concat([Buffer.alloc(Math.max(0, size - b.length)), b.subarray(Math.max(0, b.length - size))]);
      const rs = Buffer.concat([part(s.string()), part(s.string())]);
      ok = verify(bits === 256 ? 'sha256' : bits === 384 ? 'sha384' : 'sha512', cert.signed, { key, dsaEncoding: 'ieee-p1363' }, rs);
    }
    return ok ? undefined : 'Certificate signature is not valid';
  } catch (err) {
    return `Certificate signature could not be checked: ${(err as Error).message}`;
  }
}

/**
 * sshkey_cert_check_authority as ssh runs it for a host (want_host, wildcard
 * principals) or for a user's certificate (its name not checked here): the
 * type, the validity window, a principal list, and for hosts the name among
 * the principals and no critical options. Undefined when it holds, else
 * OpenSSH's words for why not.
 */
export function certificateProblem(
  cert: Certificate,
  want: 'host' | 'user',
  name: string | undefined,
  now = BigInt(Math.floor(Date.now() / 1000)),
): string | undefined {
  if (want === 'host' && cert.certType !== CERT_TYPE_HOST) return 'Certificate invalid: not a host certificate';
  if (want === 'user' && cert.certType !== CERT_TYPE_USER) return 'Certificate invalid: not a user certificate';
  if (now < cert.validAfter) return 'Certificate invalid: not yet valid';
  if (now >= cert.validBefore) return 'Certificate invalid: expired';
  if (cert.principals.length === 0) return 'Certificate lacks principal list';
  if (name !== undefined && !cert.principals.some((p) => globMatch(p, name))) return 'Certificate invalid: name is not a listed principal';
  if (want === 'host' && cert.criticalOptions.length > 0) return 'Certificate contains unsupported critical options';
  return undefined;
}

/** For messages: what a certificate is, as `ssh-keygen -L` would sum it up. */
export function describeCertificate(cert: Certificate): string {
  return `${cert.type} id "${cert.keyId}" serial ${cert.serial} for ${cert.principals.join(',') || '(no principals)'} signed by ${keyTypeOfBlob(cert.signatureKey)} CA`;
}
