import fs from 'node:fs';
import path from 'node:path';
import { lazyExeca } from '../util/lazyExeca.js';
import { asUser, type InvokingUser } from '../util/user.js';

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
  const dir = path.dirname(pair.cert);
  // All of it as the user: the directory is in their home, so a symlink there
  // leads only where they could write themselves, and what is made is theirs.
  const present = asUser(user, () => {
    if (fs.existsSync(pair.cert) && fs.existsSync(pair.key)) return true;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return false;
  });
  if (present) return pair;
  const execa = await lazyExeca();
  const asThem = process.geteuid?.() === 0 && user.uid !== 0 ? { uid: user.uid, gid: user.gid } : {};
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
    { reject: false, ...asThem, env: { HOME: user.home, PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, extendEnv: false },
  );
  if (r.exitCode !== 0) {
    try {
      asUser(user, () => {
        fs.rmSync(pair.key, { force: true });
        fs.rmSync(pair.cert, { force: true });
      });
    } catch {
      // not the user's to remove (a link elsewhere): nothing of theirs was made
    }
    const why = r.failed && r.exitCode === undefined ? 'openssl is not installed' : String(r.stderr).trim().split('\n').pop();
    throw new Error(`could not make a self-signed certificate in ${dir} (${why}); give tls: { cert, key } instead`);
  }
  asUser(user, () => fs.chmodSync(pair.key, 0o600));
  return pair;
}
