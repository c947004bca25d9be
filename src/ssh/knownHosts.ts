import { createHash, createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { caSignatureProblem, certificateProblem, describeCertificate, isCertType, parseCertificate } from './certs.js';
import { patternListMatches } from './patterns.js';

/** How a host key compares with what known_hosts says about a host, as OpenSSH judges it. */
export type HostKeyVerdict = 'known' | 'changed' | 'unknown' | 'revoked';

export interface KnownHostsEntry {
  readonly marker: '' | '@revoked' | '@cert-authority';
  readonly patterns: string;
  readonly keyType: string;
  readonly key: Buffer;
}

/** The name known_hosts uses for a host: "[host]:port" unless the port is 22. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

import { keyTypeOfBlob } from './wire.js';

export { keyTypeOfBlob };

export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const out: KnownHostsEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostsEntry['marker'] = '';
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostsEntry['marker'];
    const [patterns, keyType, b64] = fields;
    if (!patterns || !keyType || !b64) continue;
    out.push({ marker, patterns, keyType, key: Buffer.from(b64, 'base64') });
  }
  return out;
}

/** The hash of a hashed known_hosts name, `|1|SALT|HASH` (hostfile.c's host_hash): HMAC-SHA1 of the name keyed with the salt, in base64. */
const nameHash = (name: string, salt: Buffer): string => createHmac('sha1', salt).update(name).digest('base64');

/** Whether a host name matches a known_hosts host field (hashed, lists, wildcards, negation). */
export function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    return nameHash(name, Buffer.from(salt, 'base64')) === hash;
  }
  return patternListMatches(patterns.split(','), name);
}

export function verifyHostKey(entries: readonly KnownHostsEntry[], name: string, key: Buffer): HostKeyVerdict {
  const type = keyTypeOfBlob(key);
  let sameTypeOther = false;
  let known = false;
  for (const e of entries) {
    if (e.marker === '@cert-authority' || !hostMatches(e.patterns, name)) continue;
    const same = e.key.equals(key);
    if (e.marker === '@revoked') {
      if (same) return 'revoked';
      continue;
    }
    if (same) known = true;
    else if (e.keyType === type) sameTypeOther = true;
  }
  if (known) return 'known';
  return sameTypeOther ? 'changed' : 'unknown';
}

export function readKnownHosts(file: string): KnownHostsEntry[] {
  try {
    return parseKnownHosts(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Appends a host key the way `StrictHostKeyChecking accept-new` does (the
 * caller runs it with the file owner's rights); with `hashed`
 * (HashKnownHosts yes, as Debian's and Ubuntu's ssh_config set it) the name
 * is written as ssh hashes it, with a 20-byte random salt.
 */
export function appendKnownHost(file: string, name: string, key: Buffer, hashed = false): void {
  let prefix = '';
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) prefix = '\n';
  }
  const salt = randomBytes(20);
  const host = hashed ? `|1|${salt.toString('base64')}|${nameHash(name, salt)}` : name;
  fs.appendFileSync(file, `${prefix}${host} ${keyTypeOfBlob(key)} ${key.toString('base64')}\n`, { mode: 0o644 });
}

/** A key's fingerprint as `ssh-keygen -l` prints it: SHA256 of the blob, base64 without padding. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** What a host key check needs to know about the hop. */
export interface HostKeyPolicy {
  /** Where known keys are added (the user's file) and, after it, the global ones (read only). */
  readonly knownHostsFile: string;
  readonly globalKnownHostsFiles: readonly string[];
  readonly strictHostKeyChecking: 'yes' | 'accept-new' | 'no';
}

/**
 * Decides on a server's host key as OpenSSH does: a revoked key and a
 * changed key are refused under every setting; an unknown key is refused
 * with `yes`, and added to the user's file with `accept-new` (and with `no`,
 * where failing to add it is no reason to refuse). `read` and `append` do
 * the file work (the caller runs them with the user's rights). Returns the
 * one-line reason to refuse, or undefined to go on.
 */
export function checkHostKey(
  policy: HostKeyPolicy,
  name: string,
  key: Buffer,
  io: { read(file: string): KnownHostsEntry[]; append(file: string, name: string, key: Buffer): void },
): string | undefined {
  const files = [policy.knownHostsFile, ...policy.globalKnownHostsFiles];
  const entries: KnownHostsEntry[] = [];
  for (const f of files) {
    try {
      entries.push(...io.read(f));
    } catch (err) {
      if (f === policy.knownHostsFile) return `cannot read ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
  }
  const type = keyTypeOfBlob(key);
  if (isCertType(type)) return checkHostCertificate(policy, name, key, entries, io);
  const said = `${type} ${fingerprint(key)}`;
  const where = files.length > 1 ? `${policy.knownHostsFile} (or ${policy.globalKnownHostsFiles.join(', ')})` : policy.knownHostsFile;
  switch (verifyHostKey(entries, name, key)) {
    case 'known':
      return undefined;
    case 'revoked':
      return `host key for ${name} (${said}) is marked @revoked in ${where}; refusing to connect`;
    case 'changed':
      return `HOST KEY FOR ${name} HAS CHANGED: it is now ${said}, which does not match ${where}; refusing to connect (if the change is expected: ssh-keygen -R ${name} -f ${policy.knownHostsFile})`;
    case 'unknown':
      if (policy.strictHostKeyChecking === 'yes') {
        return `host key for ${name} (${said}) is not in ${where} (strictHostKeyChecking: yes); if it is right, add to ${policy.knownHostsFile}: ${name} ${type} ${key.toString('base64')}`;
      }
      try {
        io.append(policy.knownHostsFile, name, key);
      } catch (err) {
        if (policy.strictHostKeyChecking === 'accept-new') {
          return `cannot add the host key for ${name} to ${policy.knownHostsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
        }
      }
      return undefined;
  }
}

/** Whether a @cert-authority line in these files speaks for the host: then certificates are asked for first, as ssh does. */
export function hasCertAuthority(entries: readonly KnownHostsEntry[], name: string): boolean {
  return entries.some((e) => e.marker === '@cert-authority' && hostMatches(e.patterns, name));
}

/**
 * A host certificate, judged as ssh judges one: refused when it, its key or
 * its CA is @revoked; trusted when a @cert-authority line for the host names
 * its CA, the CA's signature holds, and it is a host certificate for this
 * name, valid now, with no critical options; with no CA for it, its key is
 * judged as a plain host key.
 */
function checkHostCertificate(
  policy: HostKeyPolicy,
  name: string,
  blob: Buffer,
  entries: readonly KnownHostsEntry[],
  io: { read(file: string): KnownHostsEntry[]; append(file: string, name: string, key: Buffer): void },
): string | undefined {
  let cert;
  try {
    cert = parseCertificate(blob);
  } catch (err) {
    return `host certificate for ${name}: ${(err as Error).message}; refusing to connect`;
  }
  const revoked = entries.find(
    (e) => e.marker === '@revoked' && hostMatches(e.patterns, name) && (e.key.equals(cert.key) || e.key.equals(cert.signatureKey) || e.key.equals(blob)),
  );
  if (revoked) {
    const what = revoked.key.equals(cert.signatureKey)
      ? `its CA (${keyTypeOfBlob(cert.signatureKey)} ${fingerprint(cert.signatureKey)})`
      : `its key (${fingerprint(cert.key)})`;
    return `host certificate for ${name}: ${what} is marked @revoked in ${policy.knownHostsFile}; refusing to connect`;
  }
  const ca = entries.some((e) => e.marker === '@cert-authority' && hostMatches(e.patterns, name) && e.key.equals(cert.signatureKey));
  if (!ca) return checkHostKey(policy, name, cert.key, io);
  const host = /^\[(.*)\]:\d+$/.exec(name)?.[1] ?? name;
  const problem = caSignatureProblem(cert) ?? certificateProblem(cert, 'host', host);
  return problem ? `host certificate for ${name} (${describeCertificate(cert)}): ${problem}; refusing to connect` : undefined;
}
