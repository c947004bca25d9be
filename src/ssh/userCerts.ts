import fs from 'node:fs';
import type { ParsedKey } from 'ssh2';
import { certificateProblem, isCertType, parseCertificate } from './certs.js';

/**
 * User certificates, offered as ssh offers them (sshconnect2.c's
 * pubkey_prepare): KEY-cert.pub beside an identity file, and each
 * CertificateFile whose certified key is that identity's, before the plain
 * key. ssh2 signs for a key object; the one made here shows the
 * certificate and signs with the key (ssh2.ts names the signature after
 * the base algorithm, as OpenSSH wants).
 */

export interface UserCert {
  readonly file: string;
  readonly blob: Buffer;
  readonly type: string;
  /** The certified key's plain public blob. */
  readonly key: Buffer;
}

/** A certificate file (OpenSSH's one-line public format); undefined when there is none, a reason when it cannot be used. */
export function readCertFile(file: string): UserCert | string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : `${file}: ${(err as NodeJS.ErrnoException).code}`;
  }
  const [type, b64] = text.trim().split(/\s+/);
  if (!type || !b64 || !isCertType(type)) return `${file}: not an OpenSSH certificate`;
  try {
    const blob = Buffer.from(b64, 'base64');
    const cert = parseCertificate(blob);
    const problem = certificateProblem(cert, 'user', undefined);
    if (problem) return `${file}: ${problem}`;
    return { file, blob, type: cert.type, key: cert.key };
  } catch (err) {
    return `${file}: ${(err as Error).message}`;
  }
}

/** The certificates that go with a key file whose public blob is `pub` (the caller reads them with the user's rights). */
export function certsFor(keyFile: string, pub: Buffer, certificateFiles: readonly string[]): { certs: UserCert[]; problems: string[] } {
  const certs: UserCert[] = [];
  const problems: string[] = [];
  for (const file of [`${keyFile}-cert.pub`, ...certificateFiles]) {
    const c = readCertFile(file);
    if (typeof c === 'string') {
      // a CertificateFile for another key is not a problem of this one
      if (file === `${keyFile}-cert.pub` || !c.endsWith('not an OpenSSH certificate')) problems.push(c);
    } else if (c && c.key.equals(pub) && !certs.some((x) => x.blob.equals(c.blob))) certs.push(c);
  }
  return { certs, problems };
}

/** The key object ssh2 offers and signs with: the certificate's type and blob, the key's signature (RSA: SHA-512, as rsa-sha2-512-cert). */
export function certifiedKey(parsed: ParsedKey, cert: UserCert): ParsedKey {
  const rsa = cert.type === 'ssh-rsa-cert-v01@openssh.com';
  return Object.create(parsed, {
    type: { value: rsa ? 'rsa-sha2-512-cert-v01@openssh.com' : cert.type },
    getPublicSSH: { value: () => cert.blob },
    sign: { value: (data: Buffer, hash?: string) => parsed.sign(data, rsa ? 'sha512' : hash) },
  }) as ParsedKey;
}
