import fs from 'node:fs';

/** Ciphers ssh2 speaks that are worth offering, fastest first on a CPU with AES instructions. */
export const CIPHERS = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr'] as const;
export type Cipher = (typeof CIPHERS)[number];

/**
 * The default order: AES-GCM first where the CPU has AES instructions (it is
 * then the cheapest AEAD, and the tunnel is CPU bound), ChaCha20-Poly1305
 * first where it does not (software AES is slower than ChaCha).
 */
export function defaultCiphers(cpuinfo: string | undefined = readCpuinfo()): Cipher[] {
  const aes = cpuinfo === undefined || /^(flags|Features)\s*:.*\baes\b/m.test(cpuinfo);
  const chacha: Cipher = 'chacha20-poly1305@openssh.com';
  return aes ? [...CIPHERS] : [chacha, ...CIPHERS.filter((c) => c !== chacha)];
}

function readCpuinfo(): string | undefined {
  try {
    return fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return undefined; // macOS: Apple silicon and every Intel Mac it runs on have AES
  }
}
