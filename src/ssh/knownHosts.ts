import { createHmac } from 'node:crypto';
import fs from 'node:fs';
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

/** The key type named inside an SSH public key blob (its first string). */
export function keyTypeOfBlob(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

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

/** Whether a host name matches a known_hosts host field (hashed, lists, wildcards, negation). */
export function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return digest === hash;
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

/** Appends a host key the way `StrictHostKeyChecking accept-new` does. */
export function appendKnownHost(file: string, name: string, key: Buffer, owner?: { uid: number; gid: number }): void {
  const existed = fs.existsSync(file);
  let prefix = '';
  if (existed) {
    const text = fs.readFileSync(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) prefix = '\n';
  }
  fs.appendFileSync(file, `${prefix}${name} ${keyTypeOfBlob(key)} ${key.toString('base64')}\n`, { mode: 0o644 });
  if (!existed && owner) fs.chownSync(file, owner.uid, owner.gid);
}
