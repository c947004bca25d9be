import http from 'node:http';
import type { EnvironmentConfig } from '../config/types.js';
import { dockerSocket } from '../util/paths.js';

/** The DOCKER_HOST value for a connected environment, or undefined when docker is off. */
export function dockerHostFor(env: EnvironmentConfig): string | undefined {
  switch (env.docker.mode) {
    case 'socket':
      return `unix://${dockerSocket(env.name)}`;
    case 'tcp':
      return env.docker.host;
    case 'off':
      return undefined;
  }
}

/** GET /_ping on a DOCKER_HOST (unix:// or tcp://); resolves when the daemon answers OK. */
export function pingDocker(dockerHost: string, timeoutMs: number): Promise<void> {
  const target: http.RequestOptions = dockerHost.startsWith('unix://')
    ? { socketPath: dockerHost.slice('unix://'.length) }
    : (() => {
        const u = new URL(dockerHost.replace(/^tcp:/, 'http:'));
        return { host: u.hostname, port: Number(u.port) };
      })();
  return new Promise((resolve, reject) => {
    // its own connection, closed after (Node's shared agent would keep it open and idle)
    const req = http.get({ ...target, path: '/_ping', timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        if (res.statusCode === 200 && body === 'OK') resolve();
        else reject(new Error(`docker /_ping answered ${res.statusCode}: ${body.slice(0, 80)}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
