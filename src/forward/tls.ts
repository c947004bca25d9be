import fs from 'node:fs';
import path from 'node:path';
import { lazyExeca } from '../util/lazyExeca.js';
import type { InvokingUser } from '../config/load.js';

export interface TlsPair {
  readonly cert: string;
  readonly key: string;
}

/** Where an environment's self-signed pair is kept, in the invoking user's config directory. */
export function selfSignedPaths(user: InvokingUser, env: string): TlsPair {
  const dir = path.join(user.home, '.config/cloudbridge/tls');
  return { cert: path.join(dir, `${env}.crt`), key: path.join(dir, `${env}.key`) };
}

/**
 * The environment's self-signed certificate for localhost and 127.0.0.1,
 * made once (openssl) and kept for the user, so a browser or `curl
 * --cacert` can trust it once and keep trusting it across connects.
 */
export async function selfSignedPair(user: InvokingUser, env: string): Promise<TlsPair> {
  const pair = selfSignedPaths(user, env);
  if (fs.existsSync(pair.cert) && fs.existsSync(pair.key)) return pair;
  const dir = path.dirname(pair.cert);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const execa = await lazyExeca();
  const r = await execa(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      pair.key,
      '-out',
      pair.cert,
      '-days',
      '825',
      '-subj',
      `/CN=cloudbridge ${env}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { reject: false },
  );
  if (r.exitCode !== 0) {
    fs.rmSync(pair.key, { force: true });
    fs.rmSync(pair.cert, { force: true });
    const why = r.failed && r.exitCode === undefined ? 'openssl is not installed' : String(r.stderr).trim().split('\n').pop();
    throw new Error(`could not make a self-signed certificate (${why}); give tls: { cert, key } instead`);
  }
  fs.chmodSync(pair.key, 0o600);
  // ~/.config and ~/.config/cloudbridge may be new too: the user's, not root's
  for (let d = dir; d.startsWith(user.home) && d !== user.home; d = path.dirname(d)) fs.chownSync(d, user.uid, user.gid);
  fs.chownSync(pair.key, user.uid, user.gid);
  fs.chownSync(pair.cert, user.uid, user.gid);
  return pair;
}
