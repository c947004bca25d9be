import fs from 'node:fs';
import path from 'node:path';
import { Client, type ConnectConfig } from 'ssh2';
import { UserError } from '../cli/errors.js';
import type { InvokingUser } from '../config/load.js';
import type { EnvironmentConfig } from '../config/types.js';
import { appendKnownHost, hostKeyName, readKnownHosts, verifyHostKey } from './knownHosts.js';

/** AES-GCM first: with AES-NI it is the cheapest AEAD, and the tunnel is CPU bound. */
export const CIPHERS = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  'aes128-ctr',
  'aes256-ctr',
] as const;

export interface SshOptions {
  readonly user: InvokingUser;
  /** ssh-agent socket; defaults to $SSH_AUTH_SOCK. */
  readonly agent?: string | undefined;
}

function defaultIdentity(home: string): string | undefined {
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const p = path.join(home, '.ssh', name);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

function readIdentity(file: string, env: EnvironmentConfig): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UserError(`${env.source}: environments.${env.name}.identityFile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
  }
}

/** Opens an authenticated SSH connection with the host key checked against known_hosts. */
export function connectSsh(env: EnvironmentConfig, opts: SshOptions): Promise<Client> {
  const target = `${env.user}@${env.host}:${env.port}`;
  const keyName = hostKeyName(env.host, env.port);
  let hostKeyProblem: string | undefined;

  const hostVerifier = (key: Buffer): boolean => {
    if (env.strictHostKeyChecking === 'no') return true;
    const verdict = verifyHostKey(readKnownHosts(env.knownHostsFile), keyName, key);
    switch (verdict) {
      case 'known':
        return true;
      case 'revoked':
        hostKeyProblem = `host key for ${keyName} is marked @revoked in ${env.knownHostsFile}`;
        return false;
      case 'changed':
        hostKeyProblem = `HOST KEY FOR ${keyName} HAS CHANGED (does not match ${env.knownHostsFile}); refusing to connect`;
        return false;
      case 'unknown':
        if (env.strictHostKeyChecking === 'accept-new') {
          appendKnownHost(env.knownHostsFile, keyName, key, opts.user);
          return true;
        }
        hostKeyProblem = `host key for ${keyName} is not in ${env.knownHostsFile} (strictHostKeyChecking: yes)`;
        return false;
    }
  };

  const agent = opts.agent ?? process.env['SSH_AUTH_SOCK'];
  const identity = env.identityFile ?? defaultIdentity(opts.user.home);
  const cfg: ConnectConfig = {
    host: env.host,
    port: env.port,
    username: env.user,
    readyTimeout: env.connectTimeout * 1000,
    // ssh2 gives up after countMax unanswered keepalives, one interval apart
    keepaliveInterval: Math.ceil((env.deadAfter * 1000) / 3),
    keepaliveCountMax: 2,
    hostVerifier,
    algorithms: { cipher: [...CIPHERS] },
  };
  if (agent && fs.existsSync(agent)) cfg.agent = agent;
  if (identity) cfg.privateKey = readIdentity(identity, env);
  if (!cfg.agent && !cfg.privateKey) {
    throw new UserError(`no SSH identity for ${target}: set identityFile or run an ssh-agent`);
  }

  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    const fail = (err: Error & { level?: string; code?: string }): void => {
      if (settled) return;
      settled = true;
      client.end();
      if (hostKeyProblem) return reject(new UserError(hostKeyProblem));
      if (err.level === 'client-authentication') {
        return reject(new UserError(`authentication as ${env.user} on ${env.host}:${env.port} failed (tried: ${cfg.agent ? 'agent, ' : ''}${identity ?? 'no key file'})`));
      }
      if (err.level === 'client-socket' || err.code) {
        return reject(new UserError(`cannot reach ${env.host}:${env.port}: ${err.code ?? err.message}`));
      }
      if (/timed out/i.test(err.message)) {
        return reject(new UserError(`cannot reach ${env.host}:${env.port}: no SSH handshake within ${env.connectTimeout}s`));
      }
      if (/encrypted private key/i.test(err.message)) {
        return reject(new UserError(`${identity}: key is protected by a passphrase; load it into ssh-agent first`));
      }
      reject(new UserError(`ssh to ${target} failed: ${err.message}`));
    };
    client.once('ready', () => {
      settled = true;
      // Tunnelled packets are latency-sensitive: Nagle would hold one back for the peer's delayed ACK (~40 ms).
      client.setNoDelay(true);
      client.removeListener('error', fail);
      resolve(client);
    });
    client.on('error', fail);
    client.once('close', () => fail(new Error('connection closed during handshake')));
    try {
      client.connect(cfg);
    } catch (err) {
      fail(err as Error);
    }
  });
}
